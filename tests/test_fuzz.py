"""Fuzzing the public API with malformed arguments: every call either returns a correct result or
raises a :mod:`samarl.errors` exception (a ``ValueError``, or :class:`~samarl.errors.ArgumentTypeError`,
also a ``TypeError``) with a message. Never a Rust panic, a hang, a bare NumPy / torch / builtin
exception, or NaN/inf out of finite input.

Each test replaces one argument of one entry point with a value drawn from :func:`bad_values`
(wrong dtypes: complex, bool, object, str; wrong shapes and lengths; empty and read-only arrays;
NaN, inf and values beyond float32; negative, huge and float integers; out-of-range indices) while
the other arguments stay valid, and runs the call under a time limit (:func:`time_limit`).

Examples per test come from the hypothesis profile (``tests/conftest.py``): few under
``HYPOTHESIS_PROFILE=ci`` (the whole file well under a minute on 2 cores), many under
``HYPOTHESIS_PROFILE=fuzz`` (a long local run).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import samarl
from samarl import Consensus, Graph, make_graph
from samarl.envs import DemandResponseEnv, Dynamics, lagrangian_reward, observation_bounds
from samarl.errors import SamarlError
from samarl.execution import AgentRemoval, DualConfig, DualState, Metrics, execute
from samarl.execution.dual import stagger_offsets, step_size_from_slope
from samarl.execution.optimum import fluid_optimum
from samarl.scenario import (
    Constant,
    LogNormal,
    ScenarioConfig,
    Uniform,
    builtin_profile,
    dump_scenario,
    load_scenario,
    read_mapping,
    read_profile_csv,
    resolve_scenario,
)

#: Examples per test: few on CI, the profile's own number otherwise (``fuzz``: a long run).
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
_EXAMPLES = {"ci": 6, "dev": 15}.get(_PROFILE)
FUZZ = settings(
    **({"max_examples": _EXAMPLES} if _EXAMPLES else {}),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: Seconds one call may take (the largest valid sizes drawn are tiny).
CALL_LIMIT_S = 20.0


# --------------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------------


class CallTimedOut(AssertionError):
    """A call ran past :data:`CALL_LIMIT_S`."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raises :class:`CallTimedOut` in the block after ``seconds`` (SIGALRM; the engine's long
    loops check for signals)."""

    def on_alarm(signum: int, frame: object) -> None:
        raise CallTimedOut(f"the call took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(fn: Callable[[], Any]) -> Any:
    """Runs ``fn``; returns its result, or ``None`` when it raised a samarl error with a message.
    Anything else (a panic, a bare exception, a warning, a timeout) fails the test."""
    with time_limit(CALL_LIMIT_S), warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            result = fn()
        except SamarlError as e:  # a ValueError (ArgumentTypeError: also a TypeError)
            error: SamarlError | None = e
        else:
            error = None
    if error is not None:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return None
    check_finite(result)
    return result


def check_finite(result: Any) -> None:
    """Float outputs of finite input are finite (inputs with NaN/inf must have been refused)."""
    if isinstance(result, float):
        assert math.isfinite(result), f"returned {result}"
    elif isinstance(result, np.ndarray) and result.dtype.kind == "f":
        assert np.isfinite(result).all(), "returned NaN or inf"
    elif isinstance(result, tuple):
        for item in result:
            check_finite(item)


# --------------------------------------------------------------------------------------------------
# Malformed values
# --------------------------------------------------------------------------------------------------

#: Integers that are invalid (negative, beyond 64 bits) or small; valid counts between 2**16 and
#: 2**32 are left out: they are legitimate long calls (that Ctrl-C stops), not malformed input.
ints = st.one_of(
    st.integers(-(2**70), -1),
    st.integers(0, 40),
    st.integers(2**32, 2**70),
    st.sampled_from([2**32 - 1 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30]),
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 1e-45, 3.5e38, 1e308, -1e308, 0.5, 1.5]),
)
scalars = st.one_of(
    ints,
    floats,
    st.booleans(),
    st.none(),
    st.complex_numbers(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.sampled_from([10**400, np.float32(np.nan), np.int64(-1), np.uint64(2**64 - 1), [], {}]),
    ints.map(lambda i: float(i) if abs(i) < 2**60 else 1.5),
)

_DTYPES = [np.float32, np.float64, np.int64, np.uint64, np.bool_, np.complex128, np.int8]


@st.composite
def arrays(draw: st.DrawFn, shape: tuple[int, ...] = (4,)) -> Any:
    """An array-like near ``shape``: the shape itself, a wrong length, an extra or missing axis,
    empty; any dtype incl. complex, object and str; NaN, inf, huge values; maybe read-only; or a
    plain list."""
    shapes = [shape, (0,), (), (*shape, 1), (1, *shape)]
    if shape:
        shapes += [(shape[0] + 1, *shape[1:]), (max(shape[0] - 1, 0), *shape[1:])]
    shp = draw(st.sampled_from(shapes))
    size = math.prod(shp)
    kind = draw(st.sampled_from(["num", "num", "num", "object", "str", "list"]))
    values = draw(
        st.lists(
            st.one_of(
                st.floats(0, 10),
                st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 1e39, 1e300, 0.0]),
            ),
            min_size=size,
            max_size=size,
        )
    )
    base = np.array(values, dtype=np.float64).reshape(shp)
    if kind == "object":
        obj = base.astype(object)
        if size:
            obj.flat[0] = draw(st.sampled_from([1 + 2j, "x", None, object(), 2**80]))
        return obj
    if kind == "str":
        return base.astype(str)
    if kind == "list":
        return base.tolist()
    dtype = draw(st.sampled_from(_DTYPES))
    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = np.nan_to_num(base, nan=0, posinf=0, neginf=0).astype(dtype)
        if dtype in (np.float32, np.float64):
            arr = base.astype(dtype)
        if dtype is np.complex128 and size:
            arr = arr + 1j
    arr = np.array(arr)
    if draw(st.booleans()):
        arr.flags.writeable = False
    return arr


def bad(shape: tuple[int, ...] | None = None) -> st.SearchStrategy[Any]:
    """Any malformed value: a scalar of any kind, or an array near ``shape`` (default ``[4]``)."""
    return st.one_of(scalars, arrays(shape or (4,)))


# --------------------------------------------------------------------------------------------------
# Entry points: name -> (call with overrides, {parameter: strategy of bad values})
# --------------------------------------------------------------------------------------------------

N = 4  # agents in every valid call
_GRAPH = Graph.ring(N)
_CONS = Consensus(_GRAPH)
_SMALL = ScenarioConfig(num_agents=N, episode_days=1.0, dt_hours=1.0, num_blocks=4)
_DATA = _SMALL.build()


def _call(fn: Callable[..., Any], **defaults: Any) -> Callable[..., Any]:
    return lambda **over: fn(**(defaults | over))


def _dynamics(**over: Any) -> Any:
    kw = {
        "mean_arrival": np.ones(N),
        "max_power": 2.0,
        "cost_linear": 1.0,
        "cost_quadratic": 0.0,
        "profile_id": 0,
        "profiles": np.ones((1, 24)),
        "dt_hours": 1.0,
        "noise": 0.3,
    } | over
    return Dynamics(**kw)


def _dyn_step(actions: Any) -> Any:
    d = _dynamics()
    d.reset(0)
    return d.step(actions).obs.copy()


def _dyn_set_state(**over: Any) -> Any:
    d = _dynamics()
    state = d.get_state() | over
    return d.set_state(state).copy()


def _env_step(actions: Any) -> Any:
    env = DemandResponseEnv(_SMALL, data=_DATA)
    env.reset(0)
    return env.step(actions).reward.copy()


def _env_reset(seed: Any = 0, initial_backlog: Any = None) -> Any:
    env = DemandResponseEnv(_SMALL, data=_DATA)
    return env.reset(seed, initial_backlog).copy()


def _dual_update(block: Any = 0, ghat: Any = None) -> Any:
    state = DualState(DualConfig(graph="ring"), [1.0, 2.0], N, 1.0)
    state.update(block, np.ones(N, np.float32) if ghat is None else ghat)
    return state.mult.copy()


def _dual_remove(agents: Any) -> Any:
    state = DualState(DualConfig(graph="ring"), [1.0], N, 1.0)
    state.remove_agents(agents)
    return state.mult.copy()


def _metrics(**over: Any) -> Any:
    kw = {
        "capacity": np.ones(4),
        "block_of_step": np.arange(4),
        "mean_arrival": np.ones(N),
        "total_steps": 8,
        "warmup_steps": 0,
    } | over
    return Metrics(**kw).summary()


def _metrics_record(**over: Any) -> Any:
    m = Metrics(
        capacity=np.ones(4), block_of_step=np.arange(4), mean_arrival=np.ones(N), total_steps=8
    )
    kw = {k: np.ones(N, np.float32) for k in ("resource_use", "served", "arrived", "reward")}
    m.record(**(kw | {"backlog": np.zeros(N, np.float32)} | over))
    return m.summary()


def _metrics_consensus(mult: Any = np.zeros((N, 4))) -> Any:  # noqa: B008 (read only)
    m = Metrics(
        capacity=np.ones(4), block_of_step=np.arange(4), mean_arrival=np.ones(N), total_steps=8
    )
    m.record_consensus(mult)
    return m.summary()


def _metrics_prices(day: Any = 0, mean_price: Any = None) -> Any:
    m = Metrics(
        capacity=np.ones(4), block_of_step=np.arange(4), mean_arrival=np.ones(N), total_steps=8
    )
    m.record_daily_prices(day, np.zeros(4) if mean_price is None else mean_price)
    return m.summary()


def _optimum(**over: Any) -> Any:
    kw = {
        "arrivals": np.full((6, N), 0.5),
        "capacity": np.full(6, 2.0),
        "max_energy": np.ones(N),
        "cost_linear": np.ones(N),
        "cost_quadratic": np.zeros(N),
        "dt_hours": 1.0,
        "steps_per_day": 6,
        "num_blocks": 2,
    } | over
    return fluid_optimum(**kw).cost


def _execute(**over: Any) -> Any:
    kw = {
        "scenario": _SMALL,
        "act": lambda obs, mult, tod: np.full(obs.shape[0], 0.5, np.float32),
        "dual": DualConfig(graph="ring", consensus_rounds=2),
        "mult_max": 1.0,
        "days": 2,
        "data": _DATA,
        "progress": False,
    } | over
    return execute(**kw).total_load


def _policy(**over: Any) -> Any:
    from samarl.training import StateAugmentedPolicy

    kw = {
        "static_features": np.ones((N, 4)),
        "profile_blocks": np.ones((N, 4)),
        "block_of_step": np.arange(24) // 6,
        "mult_max": 1.0,
        "hidden_sizes": (4,),
    } | over
    return StateAugmentedPolicy(**kw)


def _policy_act(obs: Any = None, mult: Any = None, step_of_day: Any = 0) -> Any:
    policy = _policy()
    obs = np.ones((N, 7), np.float32) if obs is None else obs
    mult = np.zeros((N, 4), np.float32) if mult is None else mult
    return policy.act(obs, mult, step_of_day).numpy()


def _csv(content: bytes) -> Any:
    path = _tmp() / "profile.csv"
    path.write_bytes(content)
    return read_profile_csv(path, 24)


def _mapping(content: bytes = b"a = 1\n", suffix: str = ".toml") -> Any:
    path = _tmp() / f"config{suffix}"
    path.write_bytes(content)
    return read_mapping(path)


_TMP = Path(tempfile.mkdtemp(prefix="samarl-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def _tmp() -> Path:
    return _TMP


def _threads(n: Any) -> None:
    try:
        samarl.set_num_threads(n)
    finally:
        samarl.set_num_threads(0)


def _train_config(**over: Any) -> Any:
    from samarl.training import TrainConfig

    return TrainConfig(**over).to_dict()


def _scenario(**over: Any) -> Any:
    return ScenarioConfig(**({"num_agents": N, "dt_hours": 1.0, "num_blocks": 4} | over)).build()


def _dist(cls: type, *args: Any) -> Any:
    return ScenarioConfig(num_agents=N, dt_hours=1.0, num_blocks=4, daily_demand=cls(*args)).build()


array_n = bad((N,))
ENTRY_POINTS: dict[str, tuple[Callable[..., Any], dict[str, st.SearchStrategy[Any]]]] = {
    # samarl / samarl.comms
    "Graph.ring": (_call(Graph.ring, num_nodes=N, k=1), {"num_nodes": bad(), "k": bad()}),
    "Graph.grid": (_call(Graph.grid, rows=2, cols=2), {"rows": bad(), "cols": bad()}),
    "Graph.complete": (_call(Graph.complete, num_nodes=N), {"num_nodes": bad()}),
    "Graph.erdos_renyi": (
        _call(Graph.erdos_renyi, num_nodes=N, mean_degree=2.0, seed=0, connected=True),
        {"num_nodes": bad(), "mean_degree": bad(), "seed": bad(), "connected": bad()},
    ),
    "Graph.random_geometric": (
        _call(Graph.random_geometric, num_nodes=N, seed=0),
        {"num_nodes": bad(), "radius": bad(), "mean_degree": bad(), "seed": bad()},
    ),
    "Graph.watts_strogatz": (
        _call(Graph.watts_strogatz, num_nodes=8, k=1, beta=0.1, seed=0),
        {"num_nodes": bad(), "k": bad(), "beta": bad(), "seed": bad()},
    ),
    "Graph.from_points": (
        _call(Graph.from_points, points=np.zeros((N, 2)), radius=1.0),
        {"points": bad((N, 2)), "radius": bad()},
    ),
    "Graph.from_edges": (
        _call(Graph.from_edges, num_nodes=N, edges=[[0, 1], [1, 2]]),
        {"num_nodes": bad(), "edges": bad((2, 2))},
    ),
    "Graph.from_scipy": (_call(Graph.from_scipy, matrix=_GRAPH.to_scipy()), {"matrix": bad()}),
    "Graph.from_file": (lambda path: Graph.from_file(path), {"path": bad()}),
    "Graph.permute": (lambda order: _GRAPH.permute(order), {"order": bad((N,))}),
    "make_graph": (
        _call(make_graph, family="ring", num_nodes=N, seed=0),
        {"family": bad(), "num_nodes": bad(), "seed": bad(), "k": bad(), "rows": bad()},
    ),
    "Consensus": (
        _call(Consensus, graph=_GRAPH),
        {"graph": bad(), "require_connected": bad(), "reorder": bad()},
    ),
    "Consensus.mix": (
        _call(_CONS.mix, x=np.ones(N), rounds=2),
        {"x": bad((N,)), "rounds": bad(), "inplace": bad()},
    ),
    "Consensus.mix_lossy": (
        _call(_CONS.mix_lossy, x=np.ones(N), rounds=2, drop_prob=0.2),
        {
            "x": bad((N, 2)),
            "rounds": bad(),
            "drop_prob": bad(),
            "seed": bad(),
            "round_offset": bad(),
        },
    ),
    "Consensus.track": (
        _call(_CONS.track, y=np.ones(N), g_new=np.ones(N), g_old=np.ones(N), rounds=1),
        {"y": bad((N,)), "g_new": bad((N,)), "g_old": bad((N,)), "rounds": bad()},
    ),
    "Consensus.disagreement_bound": (
        _call(_CONS.disagreement_bound, x0=np.arange(N), rounds=3),
        {"x0": bad((N,)), "rounds": bad()},
    ),
    "Consensus.rounds_for": (lambda tolerance: _CONS.rounds_for(tolerance), {"tolerance": bad()}),
    "set_num_threads": (_threads, {"n": bad()}),
    # samarl.envs
    "Dynamics": (
        _dynamics,
        {
            "mean_arrival": bad((N,)),
            "max_power": bad((N,)),
            "cost_linear": bad((N,)),
            "cost_quadratic": bad((N,)),
            "profile_id": bad((N,)),
            "profiles": bad((1, 24)),
            "dt_hours": bad(),
            "noise": bad(),
        },
    ),
    "Dynamics.reset": (lambda seed: _dynamics().reset(seed).copy(), {"seed": bad()}),
    "Dynamics.step": (_dyn_step, {"actions": bad((N,))}),
    "Dynamics.set_state": (
        _dyn_set_state,
        {"seed": bad(), "step_count": bad(), "backlog": bad((N,)), "last_arrival": bad((N,))},
    ),
    "Dynamics.from_scenario": (
        _call(Dynamics.from_scenario, scenario=_SMALL, data=_DATA),
        {"agents": bad((2,)), "copies": bad()},
    ),
    "DemandResponseEnv": (
        _call(DemandResponseEnv, scenario=_SMALL, data=_DATA),
        {"copies": bad(), "episode_steps": bad(), "scenario": bad(), "num_agents": bad()},
    ),
    "DemandResponseEnv.reset": (_env_reset, {"seed": bad(), "initial_backlog": bad((N,))}),
    "DemandResponseEnv.step": (_env_step, {"actions": bad((N,))}),
    "observation_bounds": (
        _call(observation_bounds, scenario=_SMALL, data=_DATA),
        {"initial_backlog": bad()},
    ),
    "lagrangian_reward": (
        _call(
            lagrangian_reward,
            reward=np.ones(N),
            resource_use=np.ones(N),
            mult=0.5,
            capacity_per_agent=0.25,
        ),
        {
            "reward": bad((N,)),
            "resource_use": bad((N,)),
            "mult": bad((N,)),
            "capacity_per_agent": bad(),
            "out": bad((N,)),
        },
    ),
    # samarl.scenario
    "ScenarioConfig.build": (
        _scenario,
        {
            name: bad()
            for name in (
                "name",
                "num_agents",
                "dt_hours",
                "episode_days",
                "num_blocks",
                "daily_demand",
                "power_ratio",
                "waiting_cost",
                "profiles",
                "profile_csv",
                "profile_data",
                "profile_assignment",
                "noise",
                "capacity_kw",
                "capacity_factor",
                "seed",
                "population_seed",
            )
        }
        | {"profile_data": bad((2, 24)), "capacity_kw": bad((24,))},
    ),
    "Constant": (lambda value: _dist(Constant, value), {"value": bad()}),
    "Uniform": (
        _call(lambda low, high: _dist(Uniform, low, high), low=1.0, high=2.0),
        {"low": bad(), "high": bad()},
    ),
    "LogNormal": (
        _call(lambda mean, sigma: _dist(LogNormal, mean, sigma), mean=10.0, sigma=0.5),
        {"mean": bad(), "sigma": bad()},
    ),
    "builtin_profile": (
        _call(builtin_profile, name="residential", steps_per_day=24),
        {"name": bad(), "steps_per_day": bad()},
    ),
    "read_profile_csv": (_csv, {"content": st.binary(max_size=64)}),
    "read_profile_csv(path)": (
        _call(read_profile_csv, path=None, steps_per_day=24),
        {"path": bad(), "steps_per_day": bad()},
    ),
    "read_mapping": (
        _mapping,
        {
            "content": st.one_of(
                st.binary(max_size=64), st.text(max_size=40).map(lambda t: t.encode())
            ),
            "suffix": st.sampled_from([".toml", ".json", ".yaml", ".txt", ""]),
        },
    ),
    "load_scenario": (lambda source: load_scenario(source), {"source": bad()}),
    "resolve_scenario": (
        _call(lambda source, **over: resolve_scenario(source, **over), source=_SMALL),
        {"source": bad(), "num_agents": bad(), "seed": bad()},
    ),
    "dump_scenario": (
        _call(dump_scenario, scenario=_SMALL, path=str(_tmp() / "s.toml")),
        {"scenario": bad(), "path": bad()},
    ),
    # samarl.execution
    "DualConfig": (
        lambda **over: DualConfig(**over),
        {
            name: bad()
            for name in (
                "mode",
                "consensus_rounds",
                "dual_step_size",
                "update_order",
                "step_decay",
                "capacity_margin",
                "dual_epoch_len",
                "mult_init",
                "graph",
                "graph_params",
                "graph_seed",
                "drop_prob",
                "stagger",
            )
        },
    ),
    "DualState": (
        _call(
            DualState,
            config=DualConfig(graph="ring"),
            capacity_per_block=[1.0, 2.0],
            num_agents=N,
            mult_max=1.0,
        ),
        {
            "config": bad(),
            "capacity_per_block": bad((2,)),
            "num_agents": bad(),
            "mult_max": bad(),
            "graph": bad(),
        },
    ),
    "DualState.update": (_dual_update, {"block": bad(), "ghat": bad((N,))}),
    "DualState.remove_agents": (_dual_remove, {"agents": bad((2,))}),
    "stagger_offsets": (
        _call(stagger_offsets, num_agents=N, width=2, seed=0),
        {"num_agents": bad(), "width": bad(), "seed": bad()},
    ),
    "step_size_from_slope": (
        _call(step_size_from_slope, slope=1.0, gain=1.0),
        {"slope": bad(), "gain": bad()},
    ),
    "AgentRemoval": (
        _call(AgentRemoval, day=0, fraction=0.5),
        {"day": bad(), "fraction": bad(), "seed": bad()},
    ),
    "execute": (
        _execute,
        {
            "mult_max": bad(),
            "days": bad(),
            "seed": bad(),
            "warmup_days": bad(),
            "top_k": bad(),
            "dual": bad(),
            "scenario": bad(),
            "removal": bad(),
            "data": bad(),
            "act": st.sampled_from(
                [
                    lambda o, m, t: np.full(o.shape[0], np.nan),
                    lambda o, m, t: np.ones(3),
                    lambda o, m, t: np.full(o.shape[0], 1j),
                    lambda o, m, t: None,
                    lambda o, m, t: "x",
                ]
            ),
        },
    ),
    "Metrics": (
        _metrics,
        {
            "capacity": bad((4,)),
            "block_of_step": bad((4,)),
            "mean_arrival": bad((N,)),
            "total_steps": bad(),
            "warmup_steps": bad(),
            "initial_backlog": bad((N,)),
            "postpone_slope": bad(),
            "postpone_days": bad(),
            "groups": bad((N,)),
            "mult_max": bad(),
            "dt_hours": bad(),
        },
    ),
    "Metrics.record": (
        _metrics_record,
        {k: bad((N,)) for k in ("resource_use", "served", "arrived", "reward", "backlog")},
    ),
    "Metrics.record_consensus": (_metrics_consensus, {"mult": bad((N, 4))}),
    "Metrics.record_daily_prices": (_metrics_prices, {"day": bad(), "mean_price": bad((4,))}),
    "fluid_optimum": (
        _optimum,
        {
            "arrivals": bad((6, N)),
            "capacity": bad((6,)),
            "max_energy": bad((N,)),
            "cost_linear": bad((N,)),
            "cost_quadratic": bad((N,)),
            "dt_hours": bad(),
            "steps_per_day": bad(),
            "num_blocks": bad(),
            "initial_backlog": bad((N,)),
            "tangent_tol": bad(),
            "cut_step": bad(),
            "decompose": bad(),
        },
    ),
    # samarl.training
    "TrainConfig": (
        _train_config,
        {
            name: bad()
            for name in (
                "iterations",
                "num_steps",
                "learning_rate",
                "anneal_lr",
                "gamma",
                "gae_lambda",
                "clip_coef",
                "hidden_sizes",
                "target_kl",
                "parameterisation",
                "agent_copies",
                "episode_days",
                "mult_max",
                "mult_flat_prob",
                "device",
                "seed",
                "num_threads",
                "eval_points",
                "progress",
            )
        },
    ),
    "StateAugmentedPolicy": (
        _policy,
        {
            "static_features": bad((N, 4)),
            "profile_blocks": bad((N, 4)),
            "block_of_step": bad((24,)),
            "mult_max": bad(),
            "parameterisation": bad(),
            "hidden_sizes": bad(),
            "init_log_std": bad(),
            "mult_log_ref": bad(),
            "seed": bad(),
        },
    ),
    "StateAugmentedPolicy.act": (
        _policy_act,
        {"obs": bad((N, 7)), "mult": bad((N, 4)), "step_of_day": bad((N,))},
    ),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@FUZZ
@given(data=st.data())
def test_malformed_argument(entry: str, data: st.DataObject) -> None:
    """One argument malformed, the others valid: a result or a samarl error, nothing else."""
    call, params = ENTRY_POINTS[entry]
    name = data.draw(st.sampled_from(sorted(params)), label="argument")
    value = data.draw(params[name], label=name)
    outcome(lambda: call(**{name: value}))


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_valid_call_succeeds(entry: str) -> None:
    """The defaults every fuzz test starts from are valid (so each error comes from the one
    malformed argument)."""
    call, _ = ENTRY_POINTS[entry]
    required = {
        "Graph.from_file": {"path": _edge_file()},
        "Graph.permute": {"order": np.arange(N)[::-1]},
        "Consensus.rounds_for": {"tolerance": 0.1},
        "set_num_threads": {"n": 0},
        "Dynamics.reset": {"seed": 0},
        "Dynamics.step": {"actions": np.full(N, 0.5)},
        "DemandResponseEnv.step": {"actions": np.full(N, 0.5)},
        "Constant": {"value": 10.0},
        "read_profile_csv": {"content": b"t,a\n0,1\n1,2\n2,1\n"},
        "read_mapping": {"content": b"a = 1\n"},
        "load_scenario": {"source": "small"},
        "DualState.remove_agents": {"agents": [1]},
    }.get(entry, {})
    if entry == "read_profile_csv(path)":
        required = {"path": _profile_file()}
    with time_limit(CALL_LIMIT_S):
        call(**required)


def _edge_file() -> str:
    path = _tmp() / "edges.txt"
    path.write_text("0 1\n1 2\n2 3\n3 0\n")
    return str(path)


def _profile_file() -> str:
    path = _tmp() / "valid.csv"
    path.write_text("step,a,b\n0,1,2\n1,2,1\n2,1,1\n")
    return str(path)


# --------------------------------------------------------------------------------------------------
# Finite in, finite out
# --------------------------------------------------------------------------------------------------

finite_vectors = st.lists(
    st.floats(-3e38, 3e38, allow_nan=False, allow_infinity=False), min_size=N, max_size=N
)


@FUZZ
@given(x=finite_vectors, rounds=st.integers(0, 50))
def test_finite_input_gives_finite_consensus(x: list[float], rounds: int) -> None:
    outcome(lambda: _CONS.mix(np.array(x), rounds))
    outcome(lambda: _CONS.disagreement_bound(np.array(x, dtype=np.float64), rounds))


@FUZZ
@given(
    reward=finite_vectors, use=finite_vectors, mult=st.floats(-1e30, 1e30), cap=st.floats(0, 1e30)
)
def test_finite_input_gives_finite_lagrangian(
    reward: list[float], use: list[float], mult: float, cap: float
) -> None:
    outcome(lambda: lagrangian_reward(np.array(reward), np.array(use), mult, cap))


def test_read_only_inplace_mix_is_refused() -> None:
    x = np.ones(N, np.float32)
    x.flags.writeable = False
    assert outcome(lambda: _CONS.mix(x, 1, inplace=True)) is None
