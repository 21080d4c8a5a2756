"""Partitioned execution: the agents split into P parts, one Ray actor each, halo exchange only.

The agents are split into P contiguous ranges of their ids (or, with ``order="locality"``, of the
communication graph's locality order, :meth:`samarl.Graph.locality_order`; see
:func:`plan_partitions` for which cuts fewer edges); the edges between parts are the *edge cut*. Each part is one actor holding
its own environment, a copy of the policy and its agents' multiplier copies. Every consensus
round, each actor sends the values of its boundary agents to the actors that need them (the
halo) and mixes its own rows; the driver passes object references between actors and never
fetches per-agent state. Each step the driver gathers only sums (total load, served, arrived).

Equality with the single-process executor. Each actor runs the same dual step and projection
as :class:`~samarl.execution.dual.DualState` (one shared helper,
:class:`~samarl.execution.dual.DualStep`, on its rows) and mixes its rows of the
Metropolis–Hastings weights in the engine's order (diagonal first, then neighbours ascending in
the locality order, accumulated in float32: :mod:`samarl.reference.consensus` documents and tests
that order against the engine), so mixing adds no rounding difference. torch's forward pass on a
part's rows may round differently from the one on all N rows (seen: one float32 ulp on ~5% of the
actions with P = 3; bit-identical with P = 2). tests/test_ray.py and
tests/test_ray_partitions_faults.py state and check the tolerances: actions to 1e-6, multipliers
to 1e-5 mult_max, total load to 1e-5 relative.

Faults, as in one process. *Lossy links* (``drop_prob > 0``): the engine draws link ``{i, j}``'s
failure in round ``r`` from ``(graph_seed, min(i, j) * n + max(i, j), r)``, with ``i, j`` the
endpoints' positions in the graph's locality order and ``r`` counted on over all updates; the plan
stores that id for every entry of a part's rows (:func:`split_weights`), so both endpoints' parts
drop the same links in the same rounds, and a failed entry reads the row's own value (its weight
moves onto the diagonal, in the engine's order of summation). *Agent removal*
(:class:`~samarl.execution.executor.AgentRemoval`): at the start of its day the driver rebuilds
the survivors' graph (:func:`~samarl.execution.dual.survivors_graph`, numbered as ``DualState``
numbers it) and sends each actor its survivors' rows of the new weights and halos; removed agents
stay in their actors, keep acting on their frozen copies and drop out of the prices and consensus
statistics (which count them as :meth:`~samarl.execution.dual.DualState.participating_mult`
does). A part may lose all its participating agents; it then only steps its environment.

The environment of a part holding the agents ``a..b`` is the engine's
(:class:`samarl.envs.Dynamics` with ``first_agent=a``): its random arrivals are a function of
(seed, agent, step), so its rows step exactly as rows ``a..b`` of the whole population's env.
Parts of the ``locality`` order hold scattered ids and run the NumPy twin
(:class:`samarl.reference.env.DemandResponseRef`, bit-identical) keyed by their global ids.

Supported: the ``consensus``, ``independent`` and ``unconstrained`` modes, staggered block
boundaries, any graph, lossy links, agent removal. Not yet (they raise
:class:`~samarl.errors.ConfigError`): the ``tracking`` mode (its running estimates ``y`` would need
K rounds of halo exchange of their own at every update), the ``centralized`` mode (one price from
the true total: a reduction of every part's use, then a broadcast) and per-agent-weights policies.
The per-update ``mix_log`` of one process is not recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl.comms.graph import Graph, make_graph
from samarl.errors import ConfigError, SamarlError
from samarl.execution.dual import DualConfig, DualStep, stagger_offsets, survivors_graph
from samarl.scenario import ScenarioConfig, ScenarioData

if TYPE_CHECKING:
    from samarl.execution.executor import AgentRemoval, ExecutionResult

__all__ = [
    "PartitionError",
    "PartitionPlan",
    "PartitionedRun",
    "mix_rows",
    "plan_partitions",
    "spawn_actors",
    "split_weights",
]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
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
    """``[own, own + halo]`` float32 rows of the participating agents, each stored in the
    engine's order of summation (diagonal first, then neighbours ascending in the locality
    order); columns ``0..own`` are the participating agents, then the halo."""
    link_keys: U64
    """Per stored entry of ``weights``: the engine's id of the link, ``min(i, j) * n + max(i,
    j)`` with ``i, j`` the endpoints' positions in the locality order of the graph's ``n`` nodes
    (:mod:`samarl.reference.consensus` ``link_keys``); both endpoints' parts compute the same."""
    recv: list[tuple[int, I64]]
    """Per neighbour part ``q`` (ascending): positions in ``q``'s participating agents of this
    part's halo, in halo-column order."""
    send: dict[int, I64] = field(default_factory=dict)
    """Per neighbour part ``q``: positions in this part's participating agents that ``q``
    needs."""
    rows: I64 | None = None
    """Positions in ``agents`` of the participating agents (None: all of them)."""


@dataclass
class PartitionPlan:
    """The split of N agents into parts (contiguous ranges of an order of the agents)."""

    num_agents: int
    parts: list[PartPlan]
    edge_cut: int
    """Undirected edges whose endpoints are in different parts."""
    part_of: I64
    """``[N]`` every agent's part."""

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
    n = graph.num_nodes
    if isinstance(num_parts, bool) or not isinstance(num_parts, int) or not 1 <= num_parts <= n:
        raise ConfigError(f"partitions: must be an integer in [1, {n}], got {num_parts!r}")
    if order not in ("ids", "locality"):
        raise ConfigError(f"order: 'ids' or 'locality', got {order!r}")
    split = (
        np.arange(n, dtype=np.int64)
        if order == "ids"
        else np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
    )
    bounds = np.linspace(0, n, num_parts + 1).round().astype(np.int64)
    part_of = np.empty(n, dtype=np.int64)
    part_of[split] = np.searchsorted(bounds, np.arange(n), side="right") - 1
    members = [np.sort(split[bounds[p] : bounds[p + 1]]) for p in range(num_parts)]
    parts, edge_cut = split_weights(graph, np.arange(n, dtype=np.int64), members, part_of)
    return PartitionPlan(n, parts, edge_cut, part_of)


def split_weights(
    graph: Graph, nodes: I64, members: list[I64], part_of: I64
) -> tuple[list[PartPlan], int]:
    """Each part's rows of the Metropolis–Hastings weights of ``graph``, and the edge cut.

    Node ``k`` of ``graph`` is the agent ``nodes[k]`` (``nodes`` ascending): all the agents, or
    the survivors of an agent removal (:func:`~samarl.execution.dual.survivors_graph`, numbered
    as :class:`~samarl.execution.dual.DualState` numbers them). ``members[p]`` are part ``p``'s
    agents and ``part_of`` every agent's part; a part's rows are its members among ``nodes``.
    The weights, their order of summation and the link ids are the engine's on ``graph``
    relabelled in its locality order (what :class:`samarl.Consensus` runs).
    """
    from samarl.reference.consensus import diag_first, metropolis_weights

    n = graph.num_nodes
    loc = np.ascontiguousarray(graph.locality_order(), dtype=np.int64)
    adj = graph.permute(loc).to_scipy().astype(bool)
    w = diag_first(metropolis_weights(sp.csr_array(adj)))
    inv_loc = np.empty(n, dtype=np.int64)
    inv_loc[loc] = np.arange(n)
    node_of = np.full(part_of.size, -1, dtype=np.int64)
    node_of[nodes] = np.arange(n)
    local_index = np.full(part_of.size, -1, dtype=np.int64)
    for agents in members:
        active = agents[node_of[agents] >= 0]
        local_index[active] = np.arange(active.size)
    indptr_all = np.asarray(w.indptr, dtype=np.int64)
    col_internal = np.asarray(w.indices, dtype=np.int64)
    col_agent = nodes[loc[col_internal]]
    row_agent = np.repeat(nodes[loc], np.diff(indptr_all))
    edge_cut = int((part_of[col_agent] != part_of[row_agent]).sum()) // 2
    parts: list[PartPlan] = []
    for p, agents in enumerate(members):
        participating = node_of[agents] >= 0
        active = agents[participating]
        rows = inv_loc[node_of[active]]
        starts, lens = indptr_all[rows], indptr_all[rows + 1] - indptr_all[rows]
        ends = np.cumsum(lens)
        total = int(ends[-1]) if ends.size else 0
        idx = np.repeat(starts - (ends - lens), lens) + np.arange(total)
        cols = col_agent[idx]
        outside = part_of[cols] != p
        # Halo columns grouped by owner part (ascending), each group in ascending ids: the order
        # in which the neighbours' values arrive (``recv``).
        by_id = np.unique(cols[outside])
        by_owner = np.argsort(part_of[by_id], kind="stable")
        halo = by_id[by_owner]
        rank = np.empty_like(by_owner)
        rank[by_owner] = np.arange(by_owner.size)
        local = local_index[cols]
        local[outside] = active.size + rank[np.searchsorted(by_id, cols[outside])]
        weights = sp.csr_array(
            (np.asarray(w.data[idx], dtype=np.float32), local, np.concatenate([[0], ends])),
            shape=(active.size, active.size + halo.size),
        )
        ends_a, ends_b = np.repeat(rows, lens), col_internal[idx]
        keys = np.minimum(ends_a, ends_b).astype(np.uint64) * np.uint64(n) + np.maximum(
            ends_a, ends_b
        ).astype(np.uint64)
        halo_owner = part_of[halo]
        recv = [
            (int(q), local_index[halo[halo_owner == q]]) for q in np.unique(halo_owner).tolist()
        ]
        own_rows = None if participating.all() else np.flatnonzero(participating)
        parts.append(PartPlan(agents, weights, keys, recv, rows=own_rows))
    for p, part in enumerate(parts):
        for q, positions in part.recv:
            parts[q].send[p] = positions
    return parts, edge_cut


def mix_rows(part: PartPlan, x: F32, halos: Sequence[F32], dual: DualConfig, round_: int) -> F32:
    """One consensus round of a part's participating rows ``x``, with the halo values ``halos``
    (per neighbour part, in ``part.recv`` order). With ``dual.drop_prob > 0`` the links that fail
    in round ``round_`` (the engine's counter) read the row's own value instead of the
    neighbour's: the weight moves onto the diagonal, in the engine's order of summation
    (:func:`samarl.reference.consensus.mix_lossy`)."""
    w = part.weights
    if w.shape[0] == 0:
        return x
    if dual.drop_prob > 0:
        from samarl.reference.rng import STREAM_LINKS, uniform_f32

        own = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
        u = uniform_f32(dual.graph_seed, STREAM_LINKS, part.link_keys, round_)
        down = (w.indices != own) & (u < np.float32(dual.drop_prob))
        w = sp.csr_array((w.data, np.where(down, own, w.indices), w.indptr), shape=w.shape)
    ext = np.concatenate([x, *halos]) if halos else x
    return np.asarray(w @ ext, dtype=np.float32)


class PartitionActor:
    """One part of the agents (a Ray actor): environment, policy copy, multiplier copies.

    Made empty (:func:`spawn_actors`), then given its part by :meth:`setup`, so that one set of
    actors can serve several runs one after the other: starting an actor's process and importing
    torch in it costs seconds, far more than a small run.
    """

    def __init__(self) -> None:
        import samarl.execution.executor  # noqa: F401  (torch: the slow import, done now)

        self.index = -1

    def setup(
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
        #: The step and projection of :class:`~samarl.execution.dual.DualState`, on these rows.
        self.rule = DualStep(dual, capacity_per_block, num_agents, mult_max)
        m = capacity_per_block.size
        self.mult = np.full((part.agents.size, m), self.rule.mult_init, dtype=np.float32)
        self.updates = np.zeros(m, dtype=np.int64)
        #: Lossy-link round counter of the next consensus round (as the engine's round_offset).
        self.round = 0
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

    def set_part(self, part: PartPlan) -> None:
        """New rows of the weights and halos (the same agents): after an agent removal, the
        participating agents' rows of the survivors' weights."""
        self.part = part

    def _participating(self, x: F32) -> F32:
        """The rows of ``x`` (``[own, ...]``) of this part's participating agents."""
        return x if self.part.rows is None else x[self.part.rows]

    def reset(self, seed: int) -> None:
        self.obs = self.env.reset(seed)

    def step(
        self, tod: int, block: int, steps_per_day: int, price_block: int | None
    ) -> tuple[float, float, float, float, float]:
        """One step of the part's agents; returns the sums (load, served, arrived, backlog after
        the step) and, when ``price_block`` is a block, the sum of its multipliers before the
        step over the participating agents (else 0)."""
        assert self.obs is not None
        sod: int | I64 = tod if self.offsets is None else (self.offsets + tod) % steps_per_day
        price = (
            0.0
            if price_block is None
            else float(self._participating(self.mult[:, price_block]).sum(dtype=np.float64))
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

    def mult_stats(
        self, participating: bool
    ) -> tuple[npt.NDArray[np.float64], int, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per block: the sum, count, min and max of this part's multiplier copies (only the
        participating agents' with ``participating``; min and max of none are +-inf)."""
        x = self._participating(self.mult) if participating else self.mult
        if x.shape[0] == 0:
            inf = np.full(x.shape[1], np.inf)
            return np.zeros(x.shape[1]), 0, inf, -inf
        lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
        return x.sum(axis=0, dtype=np.float64), x.shape[0], lo, hi

    def mult_abs_deviation(self, mean: npt.NDArray[np.float64], participating: bool) -> float:
        """``sum |mult - mean|`` over this part's (participating) copies and the blocks."""
        from samarl.execution.metrics import abs_deviation

        x = self._participating(self.mult) if participating else self.mult
        return abs_deviation(x, mean) if x.shape[0] else 0.0

    def metric_sums(self) -> dict[str, float]:
        """The per-agent metrics of this part as sums: window reward, postponing agents."""
        postponing = self.metrics.postponing_agents() if self.metrics.steps else np.zeros(1, bool)
        return {
            "reward": float(self.metrics.per_agent_reward.sum()),
            "postponing": int(postponing.sum()),
        }

    def begin_update(self, h: int, steps_in_block: int) -> None:
        """The local dual step of block ``h`` (as DualState.update, on this part's
        participating rows)."""
        rule = self.rule
        ghat = rule.average_use(self.use_by_block[:, h], steps_in_block)
        self.use_by_block[:, h] = 0.0
        prev = self._participating(self.mult[:, h])
        eta = rule.eta(int(self.updates[h]))
        self.x, _ = rule.local(prev, self._participating(ghat), h, eta)
        self.round = rule.round_offset(int(self.updates.sum()))

    def halo_out(self) -> Any:
        """This round's boundary values for each neighbour part (ascending part index): one
        object per neighbour (a single array when there is one, as Ray's ``num_returns=1``
        stores the return value as is)."""
        assert self.x is not None
        outs = [self.x[pos] for _, pos in sorted(self.part.send.items())]
        return outs[0] if len(outs) == 1 else outs

    def mix_round(self, *halos: F32) -> None:
        """One consensus round on this part's rows, with the neighbours' halo values (over lossy
        links: the round's failed links as the engine draws them)."""
        assert self.x is not None
        self.x = mix_rows(self.part, self.x, halos, self.dual, self.round)
        self.round += 1

    def finish_update(self, h: int) -> None:
        assert self.x is not None
        col = self.rule.project(self.x)
        if self.part.rows is None:
            self.mult[:, h] = col
        else:
            self.mult[self.part.rows, h] = col
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
    ``removal`` takes agents out of the dual dynamics at the start of a day, as
    :func:`samarl.execution.execute` does. ``actors`` (one per part, from :func:`spawn_actors`)
    are used instead of new ones, and :meth:`close` leaves them running for the next run.
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
        removal: AgentRemoval | None = None,
        actors: list[Any] | None = None,
    ) -> None:
        from samarl.execution.executor import AgentRemoval
        from samarl.execution.metrics import Metrics

        if dual.mode not in ("consensus", "independent", "unconstrained"):
            raise ConfigError(
                f"mode: partitioned execution runs consensus, independent or unconstrained, "
                f"not {dual.mode!r} (yet)"
            )
        if removal is not None and not isinstance(removal, AgentRemoval):
            raise ConfigError(f"removal: expected an AgentRemoval, got {type(removal).__name__}")
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
        self.rule = DualStep(dual, cap_block, n, mult_max)
        graph = graph or make_graph(dual.graph, n, seed=dual.graph_seed, **dict(dual.graph_params))
        self.graph = graph
        self.order = order
        self.plan = plan_partitions(graph, partitions, order=order)
        self.removal = removal
        self.removed_at = None if removal is None else removal.day * s
        #: Agents still participating, the graph they mix over and its connected components.
        self.num_active = n
        self.mix_graph = graph
        self.components = 1
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
        if actors is not None and len(actors) != len(self.plan.parts):
            raise ConfigError(
                f"actors: expected {len(self.plan.parts)} (one per part), got {len(actors)}"
            )
        self._own_actors = actors is None
        self.actors = spawn_actors(ray, len(self.plan.parts)) if actors is None else list(actors)
        setups = []
        for p, (actor, part) in enumerate(zip(self.actors, self.plan.parts, strict=True)):
            env_params = {
                k: (np.asarray(v)[part.agents] if k in per_agent else v) for k, v in params.items()
            }
            setups.append(
                actor.setup.remote(
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
        self._wait(setups)
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
        return self._wait([submit(a) for a in self.actors])

    def _wait(self, refs: list[Any]) -> list[Any]:
        """The actors' answers; a dead actor is named."""
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
            if t == self.removed_at:
                self._remove()
            h = int(self.blocks[tod])
            price = h if tod in self.block_starts else None
            sums = self._call(lambda a, tod=tod, h=h, p=price: a.step.remote(tod, h, s, p))
            # Sums in part order: the load is a float64 sum of float64 part sums.
            load, served, arrived, backlog, price_sum = (sum(x[i] for x in sums) for i in range(5))
            self.total_load[t], self.served[t], self.arrived[t] = load, served, arrived
            self.metrics.record_totals(load, served, arrived, backlog)
            if price is not None:
                self.mult_daily[t // s, h] = price_sum / self.num_active
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

    def _remove(self) -> None:
        """The removal of :class:`~samarl.execution.executor.AgentRemoval`, as
        :meth:`samarl.execution.dual.DualState.remove_agents` does it: the survivors' graph, its
        weights split over the same parts; the removed agents' copies freeze in their actors."""
        assert self.removal is not None
        n = self.plan.num_agents
        keep = np.setdiff1d(np.arange(n), self.removal.agents(n))
        if keep.size == 0:
            raise ConfigError("agents: removing them would leave no agent participating")
        self.num_active = int(keep.size)
        graph = survivors_graph(self.graph, keep)
        if self.dual.rounds > 0:  # (without rounds, DualState keeps no graph: only the rows)
            self.mix_graph = graph
            self.components = int(graph.components()[0])
        members = [part.agents for part in self.plan.parts]
        parts, _ = split_weights(graph, keep, members, self.plan.part_of)
        self.plan.parts = parts
        self._wait([a.set_part.remote(part) for a, part in zip(self.actors, parts, strict=True)])

    def _mult_stats(self, participating: bool) -> tuple[npt.NDArray[np.float64], ...]:
        """Per block: the mean, min and max of the agents' copies, of the participating agents'
        only with ``participating`` (from the parts' sums)."""
        stats = self._call(lambda a: a.mult_stats.remote(participating))
        mean = sum(x[0] for x in stats) / sum(x[1] for x in stats)
        lo = np.min([x[2] for x in stats], axis=0)
        hi = np.max([x[3] for x in stats], axis=0)
        return mean, lo, hi

    def _record_epoch(self, h: int, t: int) -> None:
        """The executor's per-epoch records (price band, consensus error), from sums. As the
        executor's ``Metrics.record_consensus(DualState.participating_mult())``, a removed
        agent counts as one more copy at the participants' mean (rounded to float32)."""
        mean, lo, hi = self._mult_stats(participating=True)
        n, removed = self.plan.num_agents, self.plan.num_agents - self.num_active
        fill = mean.astype(np.float32).astype(np.float64)
        mean_all = (mean * self.num_active + removed * fill) / n if removed else mean
        abs_dev = sum(self._call(lambda a: a.mult_abs_deviation.remote(mean_all, True)))
        abs_dev += removed * float(np.abs(fill - mean_all).sum())
        self.band.append((float(lo[h]), float(mean[h]), float(hi[h])))
        self.epochs.append(t)
        self.consensus_error.append(float(max(hi[h] - mean[h], mean[h] - lo[h])))
        self.metrics.record_consensus_stats(mean_all, lo, hi, abs_dev)

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
        mean, lo, hi = self._mult_stats(participating=False)
        result["final_mult"] = {
            "min": float(lo.min()),
            "mean": float(mean.mean()),
            "max": float(hi.max()),
            "per_block_mean": mean.round(6).tolist(),
        }
        result["mode"] = dual.mode
        result["dual"] = asdict(dual) | {
            "rounds_run": dual.rounds,
            "step_size": self.rule.step_size,
            "mult_max": self.mult_max,
        }
        result["days"] = self.days
        result["warmup_days"] = self.warmup_days
        result["num_agents"] = n
        if dual.rounds > 0:
            result["graph"] = {
                "family": dual.graph,
                "mean_degree": self.mix_graph.mean_degree,
                "spectral_gap": Consensus(self.mix_graph, require_connected=False).spectral_gap(),
                "components": self.components,
            }
        if self.removal is not None:
            result["removal"] = asdict(self.removal) | {"participating": self.num_active}
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
        """Ends the actors this run started (not those it was given)."""
        if self._own_actors:
            for a in self.actors:
                self.ray.kill(a)


def spawn_actors(ray: Any, count: int) -> list[Any]:
    """``count`` empty partition actors (:class:`PartitionActor`), for one or several runs."""
    actor_cls = ray.remote(num_cpus=0, max_restarts=0)(PartitionActor)
    return [actor_cls.remote() for _ in range(count)]


def _policy_for(policy: Any, agents: I64) -> Any:
    """The shared-weights policy for the agents ``agents`` (their static features)."""
    if not hasattr(policy, "for_population"):
        return policy
    idx = np.asarray(agents)
    return policy.for_population(
        policy.static[idx].cpu().numpy(), policy.profile_blocks[idx].cpu().numpy()
    )
