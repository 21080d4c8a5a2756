"""Partitioned execution: the agents split into P parts, one Ray actor each, halo exchange only.

The agents are split into P contiguous ranges of their ids (or, with ``order="locality"``, of the
communication graph's locality order, :meth:`samarl.Graph.locality_order`; see
:func:`plan_partitions` for which cuts fewer edges); the edges between parts are the *edge cut*. Each part is one actor holding
its own environment, a copy of the policy and its agents' multiplier copies. Every consensus
round, each actor sends the values of its boundary agents to the actors that need them (the
halo) and mixes its own rows; the driver passes object references between actors and never
fetches per-agent state. Each step the driver gathers only sums (total load, served, arrived).

Equality with the single-process executor. Each actor mixes its rows of the Metropolis–Hastings
weights in the engine's order (diagonal first, then neighbours ascending in the locality order,
accumulated in float32: :mod:`samarl.reference.consensus` documents and tests that order against
the engine), so mixing adds no rounding difference. torch's forward pass on a part's rows may
round differently from the one on all N rows (seen: one float32 ulp on ~5% of the actions with
P = 3; bit-identical with P = 2). tests/test_ray.py states and checks the tolerances: actions to
1e-6, multipliers to 1e-5 mult_max, total load to 1e-5 relative.

The environment of a part holding the agents ``a..b`` is the engine's
(:class:`samarl.envs.Dynamics` with ``first_agent=a``): its random arrivals are a function of
(seed, agent, step), so its rows step exactly as rows ``a..b`` of the whole population's env.
Parts of the ``locality`` order hold scattered ids and run the NumPy twin
(:class:`samarl.reference.env.DemandResponseRef`, bit-identical) keyed by their global ids.

Supported: the ``consensus``, ``independent`` and ``unconstrained`` modes, staggered block
boundaries, any graph. Not yet: lossy links, agent removal, ``tracking`` and ``centralized``
(they raise :class:`~samarl.errors.ConfigError`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl.comms.graph import Graph, make_graph
from samarl.errors import ConfigError, SamarlError
from samarl.execution.dual import DEFAULT_STEP_FRACTION, DualConfig, stagger_offsets
from samarl.scenario import ScenarioConfig, ScenarioData

if TYPE_CHECKING:
    from samarl.execution.executor import ExecutionResult

__all__ = ["PartitionError", "PartitionPlan", "PartitionedRun", "plan_partitions"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
#: Clip of the stepped multipliers before mixing (as :class:`~samarl.execution.dual.DualState`).
_STEP_LIMIT = 1e37
#: Seconds a step may take before the run is declared stuck.
STEP_TIMEOUT_S = 600.0


class PartitionError(SamarlError):
    """A partition's actor died or stopped answering; the message names the partition."""

    exit_status = 1


@dataclass
class PartPlan:
    """One part: its agents, its rows of the weights and who it exchanges halos with."""

    agents: I64
    """Global agent ids, ascending (the rows of the part's environment and multipliers)."""
    weights: sp.csr_array
    """``[own, own + halo]`` float32 rows, each stored in the engine's order of summation
    (diagonal first, then neighbours ascending in the locality order)."""
    recv: list[tuple[int, I64]]
    """Per neighbour part ``q`` (ascending): positions in ``q``'s agents of this part's halo, in
    halo-column order."""
    send: dict[int, I64] = field(default_factory=dict)
    """Per neighbour part ``q``: positions in this part's agents that ``q`` needs."""


@dataclass
class PartitionPlan:
    """The split of N agents into parts (contiguous ranges of an order of the agents)."""

    num_agents: int
    parts: list[PartPlan]
    edge_cut: int
    """Undirected edges whose endpoints are in different parts."""

    @property
    def halo_values_per_round(self) -> int:
        """Values sent per consensus round (one multiplier column), over all parts."""
        return sum(len(pos) for part in self.parts for _, pos in part.recv)


def plan_partitions(graph: Graph, num_parts: int, *, order: str = "ids") -> PartitionPlan:
    """Splits ``graph``'s nodes into ``num_parts`` contiguous ranges of an order of the agents.

    ``order="ids"`` (the default) splits the agent ids ``0..N`` into ranges, so each part's
    environment is the engine's (its agents are ``a..b``: ``first_agent = a``); the generators of
    the ``small_world``, ``kring`` and ``grid`` families number neighbours close together, so few
    edges are cut. ``order="locality"`` splits the engine's locality order (reverse Cuthill–McKee),
    which cuts far fewer edges of graphs numbered at random (``random_geometric``: 5,044 rather than
    146,249 of 194,860 edges at N = 20,000, P = 4), but its parts' agent ids are scattered, so they
    run the NumPy reference environment (slower, same bits).
    """
    from samarl.reference.consensus import diag_first, metropolis_weights

    n = graph.num_nodes
    if isinstance(num_parts, bool) or not isinstance(num_parts, int) or not 1 <= num_parts <= n:
        raise ConfigError(f"partitions: must be an integer in [1, {n}], got {num_parts!r}")
    if order not in ("ids", "locality"):
        raise ConfigError(f"order: 'ids' or 'locality', got {order!r}")
    # Weights in the engine's internal (locality) numbering: each row stored diagonal first, then
    # neighbours ascending in that numbering, which is the engine's order of summation.
    loc = np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
    adj = graph.permute(loc).to_scipy().astype(bool)
    w = diag_first(metropolis_weights(sp.csr_array(adj)))
    inv_loc = np.empty(n, dtype=np.int64)
    inv_loc[loc] = np.arange(n)
    split = np.arange(n, dtype=np.int64) if order == "ids" else loc
    bounds = np.linspace(0, n, num_parts + 1).round().astype(np.int64)
    part_of = np.empty(n, dtype=np.int64)
    part_of[split] = np.searchsorted(bounds, np.arange(n), side="right") - 1
    members = [np.sort(split[bounds[p] : bounds[p + 1]]) for p in range(num_parts)]
    local_index = np.empty(n, dtype=np.int64)
    for agents in members:
        local_index[agents] = np.arange(agents.size)
    indptr_all = np.asarray(w.indptr, dtype=np.int64)
    col_agent = loc[np.asarray(w.indices, dtype=np.int64)]
    row_agent = np.repeat(loc, np.diff(indptr_all))
    edge_cut = int((part_of[col_agent] != part_of[row_agent]).sum()) // 2
    parts: list[PartPlan] = []
    for p, agents in enumerate(members):
        rows = inv_loc[agents]
        starts, lens = indptr_all[rows], indptr_all[rows + 1] - indptr_all[rows]
        ends = np.cumsum(lens)
        idx = np.repeat(starts - (ends - lens), lens) + np.arange(int(ends[-1]))
        cols = col_agent[idx]
        outside = part_of[cols] != p
        halo = np.unique(cols[outside])
        local = np.where(outside, agents.size + np.searchsorted(halo, cols), local_index[cols])
        weights = sp.csr_array(
            (np.asarray(w.data[idx], dtype=np.float32), local, np.concatenate([[0], ends])),
            shape=(agents.size, agents.size + halo.size),
        )
        halo_owner = part_of[halo]
        recv = [
            (int(q), local_index[halo[halo_owner == q]]) for q in np.unique(halo_owner).tolist()
        ]
        parts.append(PartPlan(agents, weights, recv))
    for p, part in enumerate(parts):
        for q, positions in part.recv:
            parts[q].send[p] = positions
    return PartitionPlan(n, parts, edge_cut)


class PartitionActor:
    """One part of the agents (a Ray actor): environment, policy copy, multiplier copies."""

    def __init__(
        self,
        index: int,
        part: PartPlan,
        env_params: dict[str, Any],
        policy: Any,
        dual: DualConfig,
        *,
        num_agents: int,
        capacity_per_block: npt.NDArray[np.float64],
        mult_max: float,
        offsets: I64 | None,
        record: bool,
        metrics: dict[str, Any],
    ) -> None:
        from samarl.envs import Dynamics
        from samarl.execution.executor import torch_act_fn
        from samarl.execution.metrics import Metrics
        from samarl.reference.env import DemandResponseRef

        self.index = index
        self.part = part
        first, size = int(part.agents[0]), part.agents.size
        self.env: Any
        if int(part.agents[-1]) - first + 1 == size:  # agents first..first + size: the engine
            self.env = Dynamics(**env_params, first_agent=first)
        else:  # scattered ids (order="locality"): the reference, keyed by the global ids
            self.env = DemandResponseRef(**env_params)
            self.env._agents = part.agents.astype(np.uint64)
        self.act = torch_act_fn(policy)
        self.dual = dual
        self.n_global = num_agents
        self.capacity = capacity_per_block
        self.mult_max = mult_max
        self.step_size = dual.dual_step_size or DEFAULT_STEP_FRACTION * mult_max
        init = 0.0 if dual.mode == "unconstrained" else min(dual.mult_init, mult_max)
        m = capacity_per_block.size
        self.mult = np.full((part.agents.size, m), init, dtype=np.float32)
        self.updates = np.zeros(m, dtype=np.int64)
        self.offsets = offsets
        self.use_by_block = np.zeros((part.agents.size, m), dtype=np.float64)
        self.obs: F32 | None = None
        self.x: F32 | None = None
        self.actions: list[F32] | None = [] if record else None
        # The per-agent metrics of this part's agents (rewards, postponing); the driver has
        # the rest from the sums.
        self.metrics = Metrics(mean_arrival=env_params["mean_arrival"], **metrics)

    def ping(self) -> int:
        return self.index

    def reset(self, seed: int) -> None:
        self.obs = self.env.reset(seed)

    def step(
        self, tod: int, block: int, steps_per_day: int, price_block: int | None
    ) -> tuple[float, float, float, float, float]:
        """One step of the part's agents; returns the sums (load, served, arrived, backlog after
        the step) and, when ``price_block`` is a block, the sum of its multipliers before the
        step (else 0)."""
        assert self.obs is not None
        sod: int | I64 = tod if self.offsets is None else (self.offsets + tod) % steps_per_day
        price = (
            0.0 if price_block is None else float(self.mult[:, price_block].sum(dtype=np.float64))
        )
        actions = self.act(self.obs, self.mult, sod)
        if self.actions is not None:
            self.actions.append(actions)
        out = self.env.step(actions)
        get = out.__getitem__ if isinstance(out, dict) else out.__getattribute__
        self.obs = get("obs")
        use, served, arrived, backlog = (
            get("resource_use"),
            get("served"),
            get("arrived"),
            self.obs[:, 0],
        )
        self.use_by_block[:, block] += use
        self.metrics.record(use, served, arrived, get("reward"), backlog)
        return (
            float(use.sum(dtype=np.float64)),
            float(served.sum(dtype=np.float64)),
            float(arrived.sum(dtype=np.float64)),
            float(backlog.sum(dtype=np.float64)),
            price,
        )

    def mult_stats(self) -> tuple[npt.NDArray[np.float64], F32, F32]:
        """Per block: the sum, min and max of this part's multiplier copies."""
        return self.mult.sum(axis=0, dtype=np.float64), self.mult.min(axis=0), self.mult.max(axis=0)

    def mult_abs_deviation(self, mean: npt.NDArray[np.float64]) -> float:
        """``sum |mult - mean|`` over this part's copies and the blocks."""
        from samarl.execution.metrics import abs_deviation

        return abs_deviation(self.mult, mean)

    def metric_sums(self) -> dict[str, float]:
        """The per-agent metrics of this part as sums: window reward, postponing agents."""
        postponing = self.metrics.postponing_agents() if self.metrics.steps else np.zeros(1, bool)
        return {
            "reward": float(self.metrics.per_agent_reward.sum()),
            "postponing": int(postponing.sum()),
        }

    def begin_update(self, h: int, steps_in_block: int) -> None:
        """The local dual step of block ``h`` (as DualState.update, on this part's rows)."""
        cfg = self.dual
        ghat = (self.use_by_block[:, h] / (steps_in_block * cfg.dual_epoch_len)).astype(np.float32)
        self.use_by_block[:, h] = 0.0
        cap = self.capacity[h]
        target = (1.0 - cfg.capacity_margin) * cap
        eta = self.step_size / (1.0 + cfg.step_decay * float(self.updates[h]))
        excess = (self.n_global * ghat.astype(np.float64) - target) / cap
        stepped = self.mult[:, h] + eta * excess
        if cfg.update_order == "clip_mix":
            stepped = np.clip(stepped, 0.0, self.mult_max)
        self.x = np.clip(stepped, -_STEP_LIMIT, _STEP_LIMIT).astype(np.float32)

    def halo_out(self) -> Any:
        """This round's boundary values for each neighbour part (ascending part index): one
        object per neighbour (a single array when there is one, as Ray's ``num_returns=1``
        stores the return value as is)."""
        assert self.x is not None
        outs = [self.x[pos] for _, pos in sorted(self.part.send.items())]
        return outs[0] if len(outs) == 1 else outs

    def mix_round(self, *halos: F32) -> None:
        """One consensus round on this part's rows, with the neighbours' halo values."""
        assert self.x is not None
        ext = np.concatenate([self.x, *halos]) if halos else self.x
        self.x = np.asarray(self.part.weights @ ext, dtype=np.float32)

    def finish_update(self, h: int) -> None:
        assert self.x is not None
        self.mult[:, h] = np.clip(self.x, 0.0, self.mult_max).astype(np.float32)
        self.updates[h] += 1
        self.x = None

    def result(self) -> tuple[I64, F32, F32 | None]:
        """Agents, final multipliers and (when recorded) actions ``[T, own]`` of this part."""
        acts = np.stack(self.actions) if self.actions else None
        return self.part.agents, self.mult, acts


@dataclass
class PartitionedResult:
    """What a partitioned run measured (sums only, plus the end state when gathered)."""

    total_load: npt.NDArray[np.float64]
    served: npt.NDArray[np.float64]
    arrived: npt.NDArray[np.float64]
    edge_cut: int
    halo_values_per_round: int
    rounds: int
    round_s: list[float]
    """Wall time of each consensus round's halo exchange and mix (driver-measured)."""
    wall_s: float
    final_mult: F32 | None = None
    actions: F32 | None = None


class PartitionedRun:
    """N agents in ``partitions`` Ray actors, advanced step by step (see the module doc).

    ``ray`` is the connected module (:func:`samarl.distributed.connect`). ``record`` keeps every
    action in the actors (for tests and small runs; :meth:`gather` fetches them at the end).
    """

    def __init__(
        self,
        ray: Any,
        scenario: ScenarioConfig,
        policy: Any,
        dual: DualConfig,
        *,
        mult_max: float,
        partitions: int,
        days: int,
        seed: int = 0,
        data: ScenarioData | None = None,
        record: bool = False,
        graph: Graph | None = None,
        order: str = "ids",
        warmup_days: int | None = None,
    ) -> None:
        from samarl.execution.metrics import Metrics

        if dual.mode not in ("consensus", "independent", "unconstrained"):
            raise ConfigError(
                f"mode: partitioned execution runs consensus, independent or unconstrained, "
                f"not {dual.mode!r} (yet)"
            )
        if dual.drop_prob > 0:
            raise ConfigError("drop_prob: lossy links are not supported in partitioned runs yet")
        self.ray = ray
        self.dual = dual
        data = data or scenario.build()
        self.data = data
        n, s = data.num_agents, scenario.steps_per_day
        self.steps_per_day = s
        blocks = data.block_of_step
        self.blocks = blocks
        m = int(blocks.max()) + 1
        self.block_len = np.bincount(blocks, minlength=m)
        cap_block = np.bincount(blocks, weights=data.capacity, minlength=m) / self.block_len
        self.last_step = np.array([np.flatnonzero(blocks == h).max() for h in range(m)])
        self.block_starts = {int(np.flatnonzero(blocks == h).min()) for h in range(m)}
        self.total_steps = days * s
        self.days = days
        warm = days // 2 if warmup_days is None else warmup_days
        if isinstance(warm, bool) or not isinstance(warm, int) or not 0 <= warm < days:
            raise ConfigError(f"warmup_days: must be in [0, days), got {warm!r} for {days} days")
        self.warmup_days = warm
        self.mult_max = mult_max
        graph = graph or make_graph(dual.graph, n, seed=dual.graph_seed, **dict(dual.graph_params))
        self.graph = graph
        self.order = order
        self.plan = plan_partitions(graph, partitions, order=order)
        metric_args: dict[str, Any] = {
            "capacity": data.capacity,
            "block_of_step": blocks,
            "total_steps": self.total_steps,
            "warmup_steps": warm * s,
            "mult_max": mult_max,
            "dt_hours": scenario.dt_hours,
        }
        #: Metrics from the sums (the per-agent keys are merged from the parts at the end).
        self.metrics = Metrics(mean_arrival=data.mean_arrival, **metric_args)
        width = dual.stagger_width(s, m)
        offsets = stagger_offsets(n, width, seed) if width else None
        if getattr(policy, "parameterisation", "shared") != "shared":
            raise ConfigError(
                "policy: partitioned runs take a shared-weights policy (per-agent weights would "
                "have to be split with the agents; not yet)"
            )
        params = scenario.dynamics_params(data)
        per_agent = ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")
        actor_cls = ray.remote(num_cpus=0, max_restarts=0)(PartitionActor)
        self.actors = []
        for p, part in enumerate(self.plan.parts):
            env_params = {
                k: (np.asarray(v)[part.agents] if k in per_agent else v) for k, v in params.items()
            }
            self.actors.append(
                actor_cls.remote(
                    p,
                    part,
                    env_params,
                    _policy_for(policy, part.agents),
                    dual,
                    num_agents=n,
                    capacity_per_block=cap_block,
                    mult_max=mult_max,
                    offsets=None if offsets is None else offsets[part.agents],
                    record=record,
                    metrics=metric_args,
                )
            )
        self._call(lambda a: a.reset.remote(seed))
        self.t = 0
        self.epoch_days = np.zeros(m, dtype=np.int64)
        self.total_load = np.zeros(self.total_steps)
        self.served = np.zeros(self.total_steps)
        self.arrived = np.zeros(self.total_steps)
        self.round_s: list[float] = []
        self.wall_s = 0.0
        self.mult_daily = np.zeros((days, m))
        self.band: list[tuple[float, float, float]] = []
        self.epochs: list[int] = []
        self.consensus_error: list[float] = []
        self.metrics.start()

    def _call(self, submit: Any) -> list[Any]:
        """Submits ``submit(actor)`` to every actor and waits; a dead actor is named."""
        refs = [submit(a) for a in self.actors]
        try:
            return list(self.ray.get(refs, timeout=STEP_TIMEOUT_S))
        except Exception as e:
            raise self._which_died(e) from None

    def _which_died(self, error: Exception) -> PartitionError:
        for p, actor in enumerate(self.actors):
            try:
                self.ray.get(actor.ping.remote(), timeout=10.0)
            except Exception as e:
                agents = self.plan.parts[p].agents.size
                return PartitionError(
                    f"partition {p} of {len(self.actors)} ({agents} agents) failed at step "
                    f"{self.t}: {type(e).__name__}"
                )
        return PartitionError(f"partitioned run failed at step {self.t}: {error}")

    def advance(self, steps: int | None = None) -> None:
        """Runs ``steps`` more steps (default: to the end)."""
        end = self.total_steps if steps is None else min(self.total_steps, self.t + steps)
        s, rounds = self.steps_per_day, self.dual.rounds
        start = time.perf_counter()
        while self.t < end:
            t, tod = self.t, self.t % s
            h = int(self.blocks[tod])
            price = h if tod in self.block_starts else None
            sums = self._call(lambda a, tod=tod, h=h, p=price: a.step.remote(tod, h, s, p))
            # Sums in part order: the load is a float64 sum of float64 part sums.
            load, served, arrived, backlog, price_sum = (sum(x[i] for x in sums) for i in range(5))
            self.total_load[t], self.served[t], self.arrived[t] = load, served, arrived
            self.metrics.record_totals(load, served, arrived, backlog)
            if price is not None:
                self.mult_daily[t // s, h] = price_sum / self.plan.num_agents
            if tod == self.last_step[h]:
                self.epoch_days[h] += 1
                if self.epoch_days[h] % self.dual.dual_epoch_len == 0:
                    if self.dual.mode != "unconstrained":
                        self._update(h, rounds)
                    self._record_epoch(h, t)
            if tod == s - 1:
                self.metrics.record_daily_prices(t // s, self.mult_daily[t // s])
            self.t += 1
        self.wall_s += time.perf_counter() - start

    def _mult_stats(self) -> tuple[npt.NDArray[np.float64], ...]:
        """Per block: the mean, min and max of all the agents' copies (from the parts' sums)."""
        stats = self._call(lambda a: a.mult_stats.remote())
        mean = sum(x[0] for x in stats) / self.plan.num_agents
        lo = np.min([x[1] for x in stats], axis=0).astype(np.float64)
        hi = np.max([x[2] for x in stats], axis=0).astype(np.float64)
        return mean, lo, hi

    def _record_epoch(self, h: int, t: int) -> None:
        """The executor's per-epoch records (price band, consensus error), from sums."""
        mean, lo, hi = self._mult_stats()
        abs_dev = sum(self._call(lambda a: a.mult_abs_deviation.remote(mean)))
        self.band.append((float(lo[h]), float(mean[h]), float(hi[h])))
        self.epochs.append(t)
        self.consensus_error.append(float(max(hi[h] - mean[h], mean[h] - lo[h])))
        self.metrics.record_consensus_stats(mean, lo, hi, abs_dev)

    def _update(self, h: int, rounds: int) -> None:
        steps_in_block = int(self.block_len[h])
        for a in self.actors:
            a.begin_update.remote(h, steps_in_block)
        parts = self.plan.parts
        for _ in range(rounds):
            t0 = time.perf_counter()
            outs = [
                a.halo_out.options(num_returns=max(1, len(part.send))).remote()
                for a, part in zip(self.actors, parts, strict=True)
            ]
            outs = [o if isinstance(o, list) else [o] for o in outs]
            done = []
            for p, (a, part) in enumerate(zip(self.actors, parts, strict=True)):
                halos = [outs[q][sorted(parts[q].send).index(p)] for q, _ in part.recv]
                done.append(a.mix_round.remote(*halos))
            try:
                self.ray.get(done, timeout=STEP_TIMEOUT_S)
            except Exception as e:
                raise self._which_died(e) from None
            self.round_s.append(time.perf_counter() - t0)
        self._call(lambda a: a.finish_update.remote(h))

    def gather(self) -> PartitionedResult:
        """The sums of every step and (at the end only) every agent's multipliers and, when
        recorded, actions, back in agent order."""
        parts = self._call(lambda a: a.result.remote())
        n = self.plan.num_agents
        m = parts[0][1].shape[1]
        mult = np.zeros((n, m), dtype=np.float32)
        actions = None
        if parts[0][2] is not None:
            actions = np.zeros((parts[0][2].shape[0], n), dtype=np.float32)
        for agents, part_mult, part_actions in parts:
            mult[agents] = part_mult
            if actions is not None:
                actions[:, agents] = part_actions
        return PartitionedResult(
            total_load=self.total_load[: self.t],
            served=self.served[: self.t],
            arrived=self.arrived[: self.t],
            edge_cut=self.plan.edge_cut,
            halo_values_per_round=self.plan.halo_values_per_round,
            rounds=len(self.round_s),
            round_s=self.round_s,
            wall_s=self.wall_s,
            final_mult=mult,
            actions=actions,
        )

    def execution_result(self) -> ExecutionResult:
        """What :func:`samarl.execution.execute` returns, as far as sums allow: the metrics
        (per-agent keys merged from the parts' sums), the total load, the price band and the
        consensus error per epoch, the daily prices; no per-agent trajectories
        (``top_backlog`` and ``final_mult`` are empty) and a ``partitions`` key with the edge cut,
        the halo size and the median round time."""
        from samarl.comms import Consensus
        from samarl.execution.executor import ExecutionResult

        n, s, dual = self.plan.num_agents, self.steps_per_day, self.dual
        result = self.metrics.summary()
        parts = self._call(lambda a: a.metric_sums.remote())
        window = max(self.t - self.warmup_days * s, 0)
        if window:
            reward = sum(p["reward"] for p in parts)
            result["reward/total"] = reward
            result["reward/mean"] = reward / (n * window)
            result["demand/waiting_cost"] = -reward
            result["demand/waiting_cost_per_agent_day"] = -reward / (n * window / s)
        postponing = sum(p["postponing"] for p in parts)
        result["demand/postponing"] = postponing
        result["demand/postponing_frac"] = postponing / n
        result["time/execution_wall_s"] = self.wall_s
        mean, lo, hi = self._mult_stats()
        result["final_mult"] = {
            "min": float(lo.min()),
            "mean": float(mean.mean()),
            "max": float(hi.max()),
            "per_block_mean": mean.round(6).tolist(),
        }
        result["mode"] = dual.mode
        step_size = dual.dual_step_size or DEFAULT_STEP_FRACTION * self.mult_max
        result["dual"] = asdict(dual) | {
            "rounds_run": dual.rounds,
            "step_size": step_size,
            "mult_max": self.mult_max,
        }
        result["days"] = self.days
        result["warmup_days"] = self.warmup_days
        result["num_agents"] = n
        if dual.rounds > 0:
            result["graph"] = {
                "family": dual.graph,
                "mean_degree": self.graph.mean_degree,
                "spectral_gap": Consensus(self.graph).spectral_gap(),
                "components": 1,
            }
        result["partitions"] = {
            "parts": len(self.actors),
            "order": self.order,
            "edge_cut": self.plan.edge_cut,
            "halo_values_per_round": self.plan.halo_values_per_round,
            "rounds": len(self.round_s),
            "round_s_median": float(np.median(self.round_s)) if self.round_s else None,
        }
        return ExecutionResult(
            metrics=result,
            total_load=self.total_load[: self.t].copy(),
            capacity=np.tile(self.data.capacity.astype(np.float64), self.days)[: self.t],
            mult_band=np.asarray(self.band, dtype=np.float64).reshape(-1, 3),
            mult_epochs=np.asarray(self.epochs, dtype=np.int64),
            consensus_error=np.asarray(self.consensus_error, dtype=np.float64),
            top_backlog=np.zeros((0, 0)),
            final_mult=np.zeros((0, self.mult_daily.shape[1]), dtype=np.float32),
            mult_daily=self.mult_daily,
        )

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)


def _policy_for(policy: Any, agents: I64) -> Any:
    """The shared-weights policy for the agents ``agents`` (their static features)."""
    if not hasattr(policy, "for_population"):
        return policy
    idx = np.asarray(agents)
    return policy.for_population(
        policy.static[idx].cpu().numpy(), policy.profile_blocks[idx].cpu().numpy()
    )
