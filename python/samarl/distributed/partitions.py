"""Partitioned execution: the agents split into P parts, one Ray actor each, halo exchange only.

A partitioned run is the one execution loop (:class:`~samarl.execution.loop.Execution`, the same
as :func:`samarl.execution.execute`'s) with two things changed: its agent groups
(:class:`~samarl.execution.agents.AgentGroup`) live in Ray actors (:class:`PartitionActor`, called
through :class:`RayGroups`), and its consensus rounds are halo exchanges (:class:`HaloMixer`).
The calendar, the dual update, the records and the result keys are the loop's.

The agents are split into P contiguous ranges of their ids (or, with ``order="locality"``, of the
communication graph's locality order, :meth:`samarl.Graph.locality_order`; see
:func:`plan_partitions` for which cuts fewer edges); the edges between parts are the *edge cut*.
Every consensus round, each actor sends the values of its boundary agents to the actors that need
them (the halo) and mixes its own rows; the driver passes object references between actors and
never fetches per-agent state during the run. Each step the driver gathers only sums.

Equality with one process. Each actor's rows take the same dual step and projection
(:class:`~samarl.execution.dual.DualRows`) and mix in the engine, on its rows of the engine's own
weights (:class:`samarl.comms.HaloRows`: summed in the engine's order, with its link ids), so
mixing adds no rounding difference. Sums over parts are added part by part, and torch's forward
pass on a part's rows may round differently from the one on all N rows (seen: one float32 ulp on
~5% of the actions with P = 3; bit-identical with P = 2). tests/test_ray.py and
tests/test_ray_partitions_faults.py state and check the tolerances: actions to 1e-6, multipliers
to 1e-5 mult_max, total load to 1e-5 relative.

Faults, as in one process. *Lossy links* (``drop_prob > 0``): the engine draws link ``{i, j}``'s
failure in round ``r`` from ``(graph_seed, link id, r)``, ``r`` counted on over all updates; a
part's rows hold the engine's link ids, so both endpoints' parts drop the same links in the same
rounds, and a failed entry reads the row's own value (its weight moves onto the diagonal, in the
engine's order of summation). *Agent removal*
(:class:`~samarl.execution.executor.AgentRemoval`): at the start of its day the loop takes the
agents out of every group, and :class:`HaloMixer` rebuilds the survivors' graph
(:func:`~samarl.execution.mixing.survivors_graph`) and sends each actor its survivors' rows of the
new weights and halos; removed agents stay in their actors, keep acting on their frozen copies and
drop out of the prices and consensus statistics. A part may lose all its participating agents; it
then only steps its environment.

The environment of a part is the engine's over its agents' global ids
(:class:`samarl.envs.Dynamics` with ``first_agent=a`` for a range ``a..b``, ``agent_ids`` for the
scattered ids of the ``locality`` order): its random arrivals are a function of (seed, agent,
step), so its rows step exactly as those rows of the whole population's env.

Supported: the ``consensus``, ``independent``, ``centralized`` (a sum of every part's use, then
one price broadcast) and ``unconstrained`` modes, staggered block boundaries, any graph, lossy
links, agent removal. Not yet (they raise :class:`~samarl.errors.ConfigError`): the ``tracking``
mode (its running estimates ``y`` would need K rounds of halo exchange of their own at every
update) and per-agent-weights policies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from samarl._validate import config_int, config_seed
from samarl.comms import Consensus, Graph
from samarl.distributed.plans import PartitionPlan, PartPlan, plan_partitions, split_rows
from samarl.errors import ConfigError, SamarlError
from samarl.execution.agents import MAX_BACKLOG_VALUES
from samarl.execution.dual import DualConfig, DualStep, stagger_offsets
from samarl.execution.mixing import check_rounds, communication_graph, survivors_graph
from samarl.scenario import ScenarioConfig, ScenarioData

if TYPE_CHECKING:
    from samarl.execution.executor import AgentRemoval, ExecutionResult

__all__ = [
    "HaloMixer",
    "PartitionActor",
    "PartitionError",
    "PartitionPlan",
    "PartitionedRun",
    "RayGroups",
    "plan_partitions",
    "spawn_actors",
    "split_rows",
]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
#: Seconds a step may take before the run is declared stuck.
STEP_TIMEOUT_S = 600.0


class PartitionError(SamarlError):
    """A partition's actor died or stopped answering; the message names the partition."""

    exit_status = 1


class PartitionActor:
    """One part of the agents (a Ray actor): an :class:`~samarl.execution.agents.AgentGroup` of
    its agents, and its rows of the weights for the halo rounds.

    Made empty (:func:`spawn_actors`), then given its part by :meth:`setup`, so that one set of
    actors can serve several runs one after the other: starting an actor's process and importing
    torch in it costs seconds, far more than a small run. The run's loop calls the group through
    :meth:`call` (:class:`RayGroups`); the halo rounds call :meth:`halo_out` and
    :meth:`mix_round` (:class:`HaloMixer`).
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
        rule: DualStep,
        *,
        block_of_step: I64,
        total_steps: int,
        warmup_steps: int,
        offsets: I64 | None,
        keep_backlog: bool,
        record: bool,
    ) -> None:
        from samarl.execution.agents import AgentGroup
        from samarl.execution.executor import torch_act_fn

        self.index = index
        self.part = part
        self.dual = rule.config
        self.group = AgentGroup(
            _part_env(env_params, part.agents),
            torch_act_fn(policy),
            rule,
            agents=part.agents,
            block_of_step=block_of_step,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            offsets=offsets,
            keep_backlog=keep_backlog,
            record_actions=record,
        )

    def ping(self) -> int:
        return self.index

    def call(self, method: str, *args: Any) -> Any:
        """``method`` (a dotted path, e.g. ``dual.price``) of the part's agent group."""
        obj: Any = self.group
        for name in method.split("."):
            obj = getattr(obj, name)
        return obj(*args)

    def set_part(self, part: PartPlan) -> None:
        """New rows of the weights and halos (the same agents): after an agent removal, the
        participating agents' rows of the survivors' weights."""
        self.part = part

    def halo_out(self) -> Any:
        """This round's boundary values for each neighbour part (ascending part index): one
        object per neighbour (a single array when there is one, as Ray's ``num_returns=1``
        stores the return value as is)."""
        x = self.group.dual.z
        outs = [x[pos] for _, pos in sorted(self.part.send.items())]
        return outs[0] if len(outs) == 1 else outs

    def mix_round(self, round_: int, *halos: F32) -> None:
        """Consensus round ``round_`` (the lossy links' counter) on this part's rows, with the
        neighbours' halo values (in ``part.recv`` order)."""
        mixer, dual = self.part.mixer, self.group.dual
        if mixer is None:
            return
        halo = np.concatenate(halos) if halos else np.zeros(0, dtype=np.float32)
        if self.dual.drop_prob > 0:
            dual.z = mixer.mix_lossy(
                dual.z,
                halo,
                1,
                drop_prob=self.dual.drop_prob,
                seed=self.dual.graph_seed,
                round_offset=round_,
            )
        else:
            dual.z = mixer.mix(dual.z, halo, 1)


def _part_env(env_params: dict[str, Any], agents: I64) -> Any:
    """The engine's dynamics of a part's agents, keyed by their global ids (a range of ids, or
    the scattered ids of the locality order): its rows step exactly as those rows of the whole
    population's."""
    from samarl.envs import Dynamics

    first, size = int(agents[0]), agents.size
    if int(agents[-1]) - first + 1 == size:
        return Dynamics(**env_params, first_agent=first)
    return Dynamics(**env_params, agent_ids=agents)


class RayGroups:
    """The agent groups of a partitioned run's actors, called as the loop calls groups
    (:class:`~samarl.execution.loop.InProcess`): ``groups(method, *args)`` runs the method on
    every actor and returns the answers in part order; a dead actor is named."""

    def __init__(self, ray: Any, actors: list[Any], plan: PartitionPlan) -> None:
        self.ray = ray
        self.actors = actors
        self.plan = plan
        self.step = 0

    def __call__(self, method: str, *args: Any) -> list[Any]:
        if method == "step":
            self.step += 1
        return self.wait([a.call.remote(method, *args) for a in self.actors])

    def wait(self, refs: list[Any]) -> list[Any]:
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
                    f"{max(self.step - 1, 0)}: {type(e).__name__}"
                )
        return PartitionError(f"partitioned run failed at step {max(self.step - 1, 0)}: {error}")


class HaloMixer:
    """The consensus rounds of a partitioned run: each round, every actor sends its boundary
    rows' values to the parts that need them (object references passed between actors; the
    driver never fetches them) and mixes its own rows (see the module doc)."""

    def __init__(self, groups: RayGroups, dual: DualConfig, consensus: Consensus) -> None:
        self.groups = groups
        self.dual = dual
        self.graph = consensus.graph
        self.consensus = consensus
        self.components = 1
        self.round_s: list[float] = []
        check_rounds(dual, consensus)

    def mix(self, rounds: int, round_offset: int) -> None:
        actors, parts = self.groups.actors, self.groups.plan.parts
        for r in range(rounds):
            t0 = time.perf_counter()
            outs = [
                a.halo_out.options(num_returns=max(1, len(part.send))).remote()
                for a, part in zip(actors, parts, strict=True)
            ]
            outs = [o if isinstance(o, list) else [o] for o in outs]
            done = []
            for p, (a, part) in enumerate(zip(actors, parts, strict=True)):
                halos = [outs[q][sorted(parts[q].send).index(p)] for q, _ in part.recv]
                done.append(a.mix_round.remote(round_offset + r, *halos))
            self.groups.wait(done)
            self.round_s.append(time.perf_counter() - t0)

    def estimate(self, block: int, first: bool) -> None:
        raise ConfigError("mode: partitioned runs do not track (tracking)")

    def remove(self, keep: I64) -> None:
        """The survivors' graph, its rows split over the same parts."""
        plan = self.groups.plan
        graph = survivors_graph(self.graph, keep)
        self.consensus = Consensus(graph, require_connected=False)
        self.components = int(graph.components()[0])
        members = [part.agents for part in plan.parts]
        plan.parts, _ = split_rows(self.consensus, keep, members, plan.part_of)
        actors = self.groups.actors
        self.groups.wait(
            [a.set_part.remote(part) for a, part in zip(actors, plan.parts, strict=True)]
        )

    def graph_facts(self) -> dict[str, Any]:
        return {
            "family": self.dual.graph,
            "mean_degree": self.consensus.graph.mean_degree,
            "spectral_gap": self.consensus.spectral_gap(),
            "components": self.components,
        }


@dataclass
class PartitionedResult:
    """What a partitioned run measured (sums only, plus the end state when gathered)."""

    total_load: npt.NDArray[np.float64]
    edge_cut: int
    halo_values_per_round: int
    rounds: int
    round_s: list[float]
    """Wall time of each consensus round's halo exchange and mix (driver-measured)."""
    wall_s: float
    final_mult: F32 | None = None
    actions: F32 | None = None


class PartitionedRun:
    """N agents in ``partitions`` Ray actors, advanced step by step (see the module doc): the one
    execution loop (:class:`~samarl.execution.loop.Execution`) on the actors' agent groups
    (:class:`RayGroups`) with halo exchange for mixing (:class:`HaloMixer`).

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
        from samarl.execution.calendar import BlockCalendar
        from samarl.execution.executor import AgentRemoval
        from samarl.execution.loop import Execution

        if dual.mode == "tracking":
            raise ConfigError(
                "mode: partitioned execution runs consensus, independent, centralized or "
                "unconstrained, not 'tracking' (yet: its estimates need rounds of their own)"
            )
        if removal is not None and not isinstance(removal, AgentRemoval):
            raise ConfigError(f"removal: expected an AgentRemoval, got {type(removal).__name__}")
        if getattr(policy, "parameterisation", "shared") != "shared":
            raise ConfigError(
                "policy: partitioned runs take a shared-weights policy (per-agent weights would "
                "have to be split with the agents; not yet)"
            )
        self.ray = ray
        self.dual = dual
        data = data or scenario.build()
        self.data = data
        n = data.num_agents
        calendar = BlockCalendar.of(data)
        s, m = calendar.steps_per_day, calendar.num_blocks
        days, seed = config_int("days", days), config_seed("seed", seed)
        warm = (
            days // 2 if warmup_days is None else config_int("warmup_days", warmup_days, minimum=0)
        )
        if not 0 <= warm < days:
            raise ConfigError(f"warmup_days: must be in [0, days), got {warm!r} for {days} days")
        rule = DualStep(dual, calendar.capacity_per_block, n, mult_max)
        graph = communication_graph(dual, n, graph)
        consensus = Consensus(graph) if dual.rounds > 0 else None
        self.order = order
        self.plan = plan_partitions(graph, partitions, order=order, consensus=consensus)
        if actors is not None and len(actors) != len(self.plan.parts):
            raise ConfigError(
                f"actors: expected {len(self.plan.parts)} (one per part), got {len(actors)}"
            )
        self._own_actors = actors is None
        self.actors = spawn_actors(ray, len(self.plan.parts)) if actors is None else list(actors)
        width = dual.stagger_width(s, m)
        offsets = stagger_offsets(n, width, seed) if width else None
        params = scenario.dynamics_params(data)
        per_agent = ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")
        self.groups = RayGroups(ray, self.actors, self.plan)
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
                    rule,
                    block_of_step=calendar.block_of_step,
                    total_steps=days * s,
                    warmup_steps=warm * s,
                    offsets=None if offsets is None else offsets[part.agents],
                    keep_backlog=n * days * s <= MAX_BACKLOG_VALUES,
                    record=record,
                )
            )
        self.groups.wait(setups)
        self.mixer = None if consensus is None else HaloMixer(self.groups, dual, consensus)
        self.loop = Execution(
            self.groups,
            self.mixer,
            rule,
            data,
            days=days,
            warmup_days=warm,
            dt_hours=scenario.dt_hours,
            removal=removal,
        )
        self.loop.reset(seed)

    @property
    def t(self) -> int:
        """Steps run so far."""
        return self.loop.t

    def advance(self, steps: int | None = None) -> None:
        """Runs ``steps`` more steps (default: to the end)."""
        self.loop.advance(steps)

    def update_block(self, block: int) -> None:
        """Runs the dual update of ``block`` now (benchmarks time its rounds)."""
        self.loop.update(block, "begin_from_use", int(self.loop.calendar.block_len[block]))

    @property
    def round_s(self) -> list[float]:
        """Wall time of each consensus round's halo exchange and mix (driver-measured)."""
        return [] if self.mixer is None else self.mixer.round_s

    def gather(self) -> PartitionedResult:
        """The sums of every step and (at the end only) every agent's multipliers and, when
        recorded, actions, back in agent order."""
        parts = self.groups("finish", 0)
        n = self.plan.num_agents
        mult = np.zeros((n, parts[0]["mult"].shape[1]), dtype=np.float32)
        actions = None
        if parts[0]["actions"] is not None:
            actions = np.zeros((parts[0]["actions"].shape[0], n), dtype=np.float32)
        for part in parts:
            mult[part["agents"]] = part["mult"]
            if actions is not None:
                actions[:, part["agents"]] = part["actions"]
        return PartitionedResult(
            total_load=self.loop.total_load[: self.t],
            edge_cut=self.plan.edge_cut,
            halo_values_per_round=self.plan.halo_values_per_round,
            rounds=len(self.round_s),
            round_s=self.round_s,
            wall_s=self.loop.wall_s,
            final_mult=mult,
            actions=actions,
        )

    def execution_result(self) -> ExecutionResult:
        """What :func:`samarl.execution.execute` returns (the same loop and result keys), plus a
        ``partitions`` key with the edge cut, the halo size and the median round time."""
        graph = None if self.mixer is None else self.mixer.graph_facts()
        result = self.loop.result(graph=graph)
        result.metrics["partitions"] = {
            "parts": len(self.actors),
            "order": self.order,
            "edge_cut": self.plan.edge_cut,
            "halo_values_per_round": self.plan.halo_values_per_round,
            "rounds": len(self.round_s),
            "round_s_median": float(np.median(self.round_s)) if self.round_s else None,
        }
        return result

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
