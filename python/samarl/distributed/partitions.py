"""Partitioned execution: the agents split into P parts, one Ray actor each, halo exchange only.

The agents are split into P contiguous ranges of the communication graph's locality order (the
engine's reverse Cuthill–McKee relabelling, :meth:`samarl.Graph.locality_order`), so most edges
stay inside a part; the edges between parts are the *edge cut*. Each part is one actor holding
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

The environment of a part is the NumPy twin of the engine's dynamics
(:class:`samarl.reference.env.DemandResponseRef`, bit-identical to the engine) run on the part's
agents with their *global* agent ids: the engine's random arrivals are a function of (seed,
agent, step), and the engine's constructor has no agent-id offset, so an engine env on a subset
would number its agents from 0 and draw other arrivals.

Supported: the ``consensus``, ``independent`` and ``unconstrained`` modes, staggered block
boundaries, any graph. Not yet: lossy links, agent removal, ``tracking`` and ``centralized``
(they raise :class:`~samarl.errors.ConfigError`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl.comms.graph import Graph, make_graph
from samarl.errors import ConfigError, SamarlError
from samarl.execution.dual import DEFAULT_STEP_FRACTION, DualConfig, stagger_offsets
from samarl.scenario import ScenarioConfig, ScenarioData

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
    """Global agent ids, in locality order."""
    weights: sp.csr_array
    """``[own, own + halo]`` float32 rows, stored diagonal first then ascending (engine order)."""
    recv: list[tuple[int, I64]]
    """Per neighbour part ``q`` (ascending): positions in ``q``'s agents of this part's halo, in
    halo-column order."""
    send: dict[int, I64] = field(default_factory=dict)
    """Per neighbour part ``q``: positions in this part's agents that ``q`` needs."""


@dataclass
class PartitionPlan:
    """The split of N agents into parts along the locality order."""

    num_agents: int
    parts: list[PartPlan]
    edge_cut: int
    """Undirected edges whose endpoints are in different parts."""

    @property
    def halo_values_per_round(self) -> int:
        """Values sent per consensus round (one multiplier column), over all parts."""
        return sum(len(pos) for part in self.parts for _, pos in part.recv)


def plan_partitions(graph: Graph, num_parts: int) -> PartitionPlan:
    """Splits ``graph``'s nodes into ``num_parts`` contiguous ranges of its locality order."""
    from samarl.reference.consensus import diag_first, metropolis_weights

    n = graph.num_nodes
    if isinstance(num_parts, bool) or not isinstance(num_parts, int) or not 1 <= num_parts <= n:
        raise ConfigError(f"partitions: must be an integer in [1, {n}], got {num_parts!r}")
    order = np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
    internal = graph.permute(order)
    adj = internal.to_scipy().astype(bool)
    w = diag_first(metropolis_weights(sp.csr_array(adj)))
    bounds = np.linspace(0, n, num_parts + 1).round().astype(np.int64)
    cols_all = np.asarray(w.indices, dtype=np.int64)
    rows_all = np.repeat(np.arange(n), np.diff(w.indptr))
    owner_all = np.searchsorted(bounds, cols_all, side="right") - 1
    row_owner = np.searchsorted(bounds, rows_all, side="right") - 1
    edge_cut = int((owner_all != row_owner).sum()) // 2
    parts: list[PartPlan] = []
    for p in range(num_parts):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        a, b = int(w.indptr[lo]), int(w.indptr[hi])
        cols = cols_all[a:b]
        outside = (cols < lo) | (cols >= hi)
        halo = np.unique(cols[outside])
        local = np.where(outside, hi - lo + np.searchsorted(halo, cols), cols - lo)
        indptr = np.asarray(w.indptr[lo : hi + 1], dtype=np.int64) - a
        rows = sp.csr_array(
            (np.asarray(w.data[a:b], dtype=np.float32), local, indptr),
            shape=(hi - lo, hi - lo + halo.size),
        )
        halo_owner = np.searchsorted(bounds, halo, side="right") - 1
        recv = [(int(q), halo[halo_owner == q] - bounds[q]) for q in np.unique(halo_owner).tolist()]
        parts.append(PartPlan(order[lo:hi], rows, recv))
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
    ) -> None:
        from samarl.execution.executor import torch_act_fn
        from samarl.reference.env import DemandResponseRef

        self.index = index
        self.part = part
        self.env = DemandResponseRef(**env_params)
        self.env._agents = part.agents.astype(np.uint64)  # global ids: the same arrivals
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

    def ping(self) -> int:
        return self.index

    def reset(self, seed: int) -> None:
        self.obs = self.env.reset(seed)

    def step(self, tod: int, block: int, steps_per_day: int) -> tuple[float, float, float]:
        """One step of the part's agents; returns the sums (load, served, arrived)."""
        assert self.obs is not None
        sod: int | I64 = tod if self.offsets is None else (self.offsets + tod) % steps_per_day
        actions = self.act(self.obs, self.mult, sod)
        if self.actions is not None:
            self.actions.append(actions)
        out = self.env.step(actions)
        self.obs = out["obs"]
        use = out["resource_use"]
        self.use_by_block[:, block] += use
        return (
            float(use.sum(dtype=np.float64)),
            float(out["served"].sum(dtype=np.float64)),
            float(out["arrived"].sum(dtype=np.float64)),
        )

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
    ) -> None:
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
        self.total_steps = days * s
        graph = graph or make_graph(dual.graph, n, seed=dual.graph_seed, **dict(dual.graph_params))
        self.plan = plan_partitions(graph, partitions)
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
            sums = self._call(lambda a, tod=tod, h=h: a.step.remote(tod, h, s))
            # Sums in part order: the load is a float64 sum of float64 part sums.
            self.total_load[t] = sum(x[0] for x in sums)
            self.served[t] = sum(x[1] for x in sums)
            self.arrived[t] = sum(x[2] for x in sums)
            if tod == self.last_step[h] and self.dual.mode != "unconstrained":
                self.epoch_days[h] += 1
                if self.epoch_days[h] % self.dual.dual_epoch_len == 0:
                    self._update(h, rounds)
            self.t += 1
        self.wall_s += time.perf_counter() - start

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
