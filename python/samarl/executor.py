"""Execution: trained state-augmented policies run for D days with dual dynamics and consensus.

Every agent holds its own multiplier vector ``mult^n`` (one entry per capacity block of the day).
Each step all N agents act in one batched forward pass, ``a^n = pi^n(s^n, mult^n)``; the Rust engine
steps their dynamics; when a block ends the agents update and share their multipliers
(:class:`samarl.dual.DualState`: a local dual step, then K consensus rounds in the engine). Python
never loops over agents or rounds. The same code path runs every mode of :data:`samarl.dual.MODES`.

``samarl run --policy DIR --mode MODE --out DIR`` writes ``metrics.json`` and figures: total load vs
capacity, the multipliers over time (a band from the smallest to the largest copy) and the backlog
of the most-loaded agents.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from samarl.config import ScenarioConfig, ScenarioData, dump_scenario
from samarl.dual import MODES, DualConfig, DualState
from samarl.envs.dynamics import Dynamics
from samarl.errors import ConfigError
from samarl.metrics import Metrics

__all__ = ["ActFn", "AgentRemoval", "ExecutionResult", "execute"]

F32 = npt.NDArray[np.float32]
#: A batched policy: ``(obs [N, obs_dim], mult [N, m], step_of_day) -> actions [N]`` in [0, 1].
ActFn = Callable[[F32, F32, int], F32]


@dataclass
class ExecutionResult:
    """What a run measured: the metrics of DESIGN.md section 4 and the trajectories behind them."""

    metrics: dict[str, Any]
    """Violation, overshoot, slack, served, postponing, consensus error, final mult, wall time."""
    total_load: npt.NDArray[np.float64]
    """``[T]`` total power drawn at every step (kW)."""
    capacity: npt.NDArray[np.float64]
    """``[T]`` capacity at every step (kW)."""
    mult_band: npt.NDArray[np.float64]
    """``[E, 3]`` min, mean and max over agents of the multiplier of the block just updated."""
    mult_epochs: npt.NDArray[np.int64]
    """``[E]`` step at which each entry of ``mult_band`` was recorded."""
    consensus_error: npt.NDArray[np.float64]
    """``[E]`` max over agents of ``|mult^n_h - mean(mult_h)|`` after each update."""
    top_backlog: npt.NDArray[np.float64]
    """``[T, k]`` backlog of the k agents with the largest final backlog."""
    final_mult: F32
    """``[N, m]`` every agent's multipliers at the end."""
    mix_log: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 4)))
    """``[U, 4]`` per update of agent-held copies: step, block, 2-norm spread of the participants'
    copies before mixing, max deviation from their mean after it (see :mod:`samarl.dual`)."""


@dataclass(frozen=True)
class AgentRemoval:
    """A fault: at the start of day ``day`` a random ``fraction`` of the agents stop participating.

    They leave the communication graph and their multipliers freeze (semantics in
    :mod:`samarl.dual`, :meth:`~samarl.dual.DualState.remove_agents`); their load stays on the grid.
    """

    day: int
    """Day (0-based) at whose start the agents leave."""
    fraction: float
    """Share of the agents that leave, in (0, 1)."""
    seed: int = 0
    """Seed of the choice of agents."""

    def __post_init__(self) -> None:
        if not isinstance(self.day, int) or self.day < 0:
            raise ConfigError(f"removal day: must be an integer >= 0, got {self.day!r}")
        if not 0.0 < self.fraction < 1.0:
            raise ConfigError(f"removal fraction: must be in (0, 1), got {self.fraction!r}")


def torch_act_fn(policy: Any, device: str = "cpu") -> ActFn:
    """Wraps a torch policy with ``act(obs, mult, step_of_day, deterministic)`` as an :data:`ActFn`.

    Observations and multipliers reach torch without a copy (``torch.from_numpy``).
    """
    import torch

    def act(obs: F32, mult: F32, step_of_day: int) -> F32:
        with torch.no_grad():
            a = policy.act(
                torch.from_numpy(obs).to(device),
                torch.from_numpy(mult).to(device),
                step_of_day,
                deterministic=True,
            )
        return np.ascontiguousarray(a.cpu().numpy(), dtype=np.float32)

    return act


def execute(
    scenario: ScenarioConfig,
    act: ActFn,
    dual: DualConfig,
    *,
    mult_max: float,
    days: int,
    seed: int = 0,
    warmup_days: int | None = None,
    data: ScenarioData | None = None,
    progress: bool = True,
    top_k: int = 5,
    removal: AgentRemoval | None = None,
) -> ExecutionResult:
    """Runs ``days`` simulated days of N agents with the dual dynamics of ``dual``.

    Parameters
    ----------
    scenario
        The agents, their arrivals and the grid's capacity.
    act
        The batched policy (:func:`torch_act_fn` wraps a trained one).
    dual
        Mode, consensus rounds, step size, graph, link failures.
    mult_max
        Top of the multiplier range (the one the policies were trained on).
    days
        Simulated days.
    seed
        Seed of the arrivals.
    warmup_days
        Days excluded from the metrics while the prices settle (default: half the run).
    removal
        Optional fault: agents that stop participating mid-run (consensus error is then measured
        over the participants).
    """
    if days < 1:
        raise ConfigError(f"days: must be >= 1, got {days}")
    warm = days // 2 if warmup_days is None else warmup_days
    if not 0 <= warm < days:
        raise ConfigError(f"warmup_days: must be in [0, days), got {warm} for {days} days")
    data = data or scenario.build()
    n, s = data.num_agents, scenario.steps_per_day
    blocks = data.block_of_step
    m = int(blocks.max()) + 1
    block_len = np.bincount(blocks, minlength=m)
    cap_block = np.bincount(blocks, weights=data.capacity, minlength=m) / block_len
    last_step_of_block = np.array([np.flatnonzero(blocks == h).max() for h in range(m)])
    block_ends = np.zeros(s, dtype=bool)
    block_ends[last_step_of_block] = True

    dyn = Dynamics.from_scenario(scenario, data)
    state = DualState(dual, cap_block, n, mult_max)
    metrics = Metrics(
        capacity=data.capacity,
        block_of_step=blocks,
        mean_arrival=data.mean_arrival,
        total_steps=days * s,
        warmup_steps=warm * s,
    )
    obs = dyn.reset(seed)
    epoch_days = np.zeros(m, dtype=np.int64)
    total_steps = days * s
    total_load = np.zeros(total_steps)
    backlog_hist = np.zeros((total_steps, n), dtype=np.float32) if n * total_steps <= 5e7 else None
    band, epochs, cons_err = [], [], []
    mix_steps: list[int] = []
    removed_at = None if removal is None else removal.day * s
    use_by_block = np.zeros((n, m), dtype=np.float64)

    t0 = time.perf_counter()
    bar = tqdm(total=total_steps, desc=f"run {dual.mode}", unit="step", disable=not progress)
    for t in range(total_steps):
        tod = t % s
        if t == removed_at and removal is not None:
            rng = np.random.default_rng(removal.seed)
            state.remove_agents(rng.choice(n, size=round(removal.fraction * n), replace=False))
        actions = act(obs, state.mult, tod)
        res = dyn.step(actions)
        backlog = dyn.backlog
        metrics.record(res.resource_use, res.served, res.arrived, res.reward, backlog)
        total_load[t] = float(res.resource_use.sum(dtype=np.float64))
        if backlog_hist is not None:
            backlog_hist[t] = backlog
        h = int(blocks[tod])
        use_by_block[:, h] += res.resource_use
        if block_ends[tod]:
            epoch_days[h] += 1
            if epoch_days[h] % dual.dual_epoch_len == 0:
                ghat = (use_by_block[:, h] / (block_len[h] * dual.dual_epoch_len)).astype(
                    np.float32
                )
                logged = len(state.mix_log)
                state.update(h, ghat)
                mix_steps.extend([t] * (len(state.mix_log) - logged))
                use_by_block[:, h] = 0.0
                col = state.mult[:, h] if state.active is None else state.mult[state.active, h]
                band.append((float(col.min()), float(col.mean()), float(col.max())))
                epochs.append(t)
                cons_err.append(float(np.abs(col - col.mean(dtype=np.float64)).max()))
                metrics.record_consensus(state.participating_mult())
        obs = res.obs
        if t % s == s - 1:
            bar.set_postfix(day=t // s + 1, load_max=f"{total_load[t - s + 1 : t + 1].max():.0f}")
        bar.update()
    bar.close()
    wall = time.perf_counter() - t0

    result = metrics.summary()
    result["time/execution_wall_s"] = wall
    result["final_mult"] = {
        "min": float(state.mult.min()),
        "mean": float(state.mult.mean()),
        "max": float(state.mult.max()),
        "per_block_mean": state.mult.mean(axis=0).round(6).tolist(),
    }
    result["mode"] = dual.mode
    result["dual"] = asdict(dual) | {"rounds_run": dual.rounds, "step_size": state.step_size}
    result["days"] = days
    result["warmup_days"] = warm
    result["num_agents"] = n
    if state.consensus is not None:
        result["graph"] = {
            "family": dual.graph,
            "mean_degree": state.consensus.graph.mean_degree,
            "spectral_gap": state.consensus.spectral_gap(),
            "components": state.components,
        }
    if removal is not None:
        result["removal"] = asdict(removal) | {"participating": state.num_active}
    final_backlog = dyn.backlog
    top = np.argsort(final_backlog)[::-1][:top_k]
    top_backlog = (
        backlog_hist[:, top].astype(np.float64) if backlog_hist is not None else np.zeros((0, 0))
    )
    return ExecutionResult(
        metrics=result,
        total_load=total_load,
        capacity=np.tile(data.capacity.astype(np.float64), days),
        mult_band=np.asarray(band, dtype=np.float64).reshape(-1, 3),
        mult_epochs=np.asarray(epochs, dtype=np.int64),
        consensus_error=np.asarray(cons_err, dtype=np.float64),
        top_backlog=top_backlog,
        final_mult=state.mult.copy(),
        mix_log=np.column_stack(
            [np.asarray(mix_steps, dtype=np.float64), np.asarray(state.mix_log).reshape(-1, 3)]
        )
        if state.mix_log
        else np.zeros((0, 4)),
    )


# ============================================================================================ files


def save_run(result: ExecutionResult, scenario: ScenarioConfig, out_dir: str | Path) -> Path:
    """Writes ``metrics.json``, the scenario, and the run's figures into ``out_dir``."""
    from samarl import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    dump_scenario(scenario, out / "scenario.toml")
    s, dt = scenario.steps_per_day, scenario.dt_hours
    warm = int(result.metrics.get("warmup_days", 0))

    fig = plots.new_figure()
    plots.draw_load_vs_capacity(
        fig.axes[0], result.total_load, result.capacity[:s], dt, skip_days=warm
    )
    fig.axes[0].set_title(f"{result.metrics['mode']}: total load after {warm} warm-up days")
    plots.save_figure(fig, out / "load_vs_capacity.png")

    fig = plots.new_figure(1, 2, size=(12.0, 4.5))
    ax, bx = fig.axes
    if result.mult_band.size:
        days = result.mult_epochs / s
        plots.draw_band(
            ax,
            days,
            result.mult_band[:, 1],
            result.mult_band[:, 0],
            result.mult_band[:, 2],
            label="mult of the block just updated: mean, min..max over agents",
        )
        ax.set(xlabel="day", ylabel="multiplier", title="Multipliers over time")
        ax.legend(loc="upper left", fontsize="small")
        if (result.consensus_error > 0).any():
            bx.semilogy(days, np.maximum(result.consensus_error, 1e-12))
        else:
            bx.plot(days, result.consensus_error)
        bx.set(xlabel="day", ylabel="max |mult^n - mean|", title="Consensus error per update")
    plots.save_figure(fig, out / "multipliers.png")

    if result.top_backlog.size:
        fig = plots.new_figure()
        days = np.arange(result.top_backlog.shape[0]) / s
        fig.axes[0].plot(days, result.top_backlog)
        fig.axes[0].set(
            xlabel="day", ylabel="backlog (kWh)", title="Backlog of the most-loaded agents"
        )
        plots.save_figure(fig, out / "backlog_top_agents.png")
    return out


# ============================================================================================== CLI


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl run``."""
    parser.add_argument("--policy", required=True, help="training run folder (samarl train --out)")
    parser.add_argument("--mode", choices=MODES, default="consensus", help="dual dynamics mode")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--days", type=int, default=20, help="simulated days")
    parser.add_argument("--warmup-days", type=int, default=None, help="days left out of metrics")
    parser.add_argument("--graph", default="small_world", help="communication graph family")
    parser.add_argument("--rounds", type=int, default=10, help="consensus rounds K per update")
    parser.add_argument("--step-size", type=float, default=None, help="dual step size eta")
    parser.add_argument("--epoch-days", type=int, default=1, help="T0: days per dual update")
    parser.add_argument("--drop-prob", type=float, default=0.0, help="link failure probability")
    parser.add_argument("--seed", type=int, default=0, help="seed of arrivals and graph")
    parser.add_argument("--device", default="cpu", help="torch device for the policy")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_from_args(args: argparse.Namespace) -> int:
    """``samarl run``: loads a trained policy and its scenario, executes, writes the results."""
    from samarl.trainer import load_policy

    run = Path(args.policy)
    config_file = run / "config.json"
    if not config_file.exists():
        raise ConfigError(f"policy: {run} has no config.json (not a `samarl train` run folder)")
    scenario = ScenarioConfig.from_dict(json.loads(config_file.read_text())["scenario"])
    policy = load_policy(run, device=args.device)
    dual = DualConfig(
        mode=args.mode,
        consensus_rounds=args.rounds,
        dual_step_size=args.step_size,
        dual_epoch_len=args.epoch_days,
        graph=args.graph,
        graph_seed=args.seed,
        drop_prob=args.drop_prob,
    )
    result = execute(
        scenario,
        torch_act_fn(policy, args.device),
        dual,
        mult_max=float(policy.mult_max),
        days=args.days,
        seed=args.seed,
        warmup_days=args.warmup_days,
        progress=not args.no_progress,
    )
    out = save_run(result, scenario, args.out)
    m = result.metrics
    print(
        f"{args.mode}: violation {m['constraint/violation_max']:.4f} (max over blocks), overshoot "
        f"{m['constraint/overshoot']:.4f}, served {m['demand/served']:.4f}, postponing "
        f"{m['demand/postponing']} agents; results in {out}"
    )
    return 0
