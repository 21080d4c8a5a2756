"""Dual dynamics at run time (docs/method.md): each agent's own multiplier copy, per block.

When block ``h`` of the day ends (after ``dual_epoch_len`` days of it), agent ``n``

1. estimates the total use from its own average use over the block, ``N * ghat^n_h``
   (or, with tracking, from its running estimate ``y^n_h`` of the network average of ``ghat``);
2. takes a local step on the relative excess over the target ``(1 - capacity_margin) C_h``,
   ``z^n_h = mult^n_h + dual_step_size * (N * ghat^n_h - (1 - eps) C_h) / C_h`` (not yet projected);
3. averages the stepped values ``z`` with its neighbours for ``consensus_rounds`` rounds
   (:class:`samarl.Consensus`);
4. projects: ``mult^n_h = clip(z^n_h, 0, mult_max)``.

Step, mix, project (docs/method.md; ``update_order="step_mix_project"``, the default) makes
``centralized`` exactly the K -> infinity limit of ``consensus``: the network average of ``z`` is the
centralised step from the true total, so with every copy equal, one round of exact averaging gives
the centralised price. The old order, ``"clip_mix"`` (project each copy, then mix), is kept for
comparison only: clipping before averaging discards the negative steps the average needed and
biases prices upward.

Step size (``dual_step_size``; None: :data:`DEFAULT_STEP_FRACTION` x ``mult_max``). Near the
settled price the aggregate response of block ``h`` is ``G_h(mult) ~ G_h* - C_h * slope_h * (mult_h -
mult_h*)`` (``slope_h`` in relative load per unit of price), so the daily update contracts the price
error by ``|1 - eta * slope_h|``: stable for ``eta < 2 / slope_h``, fastest at ``1 / slope_h``.
:func:`step_size_from_slope` turns a measured slope into ``eta = gain / slope``; with several binding
blocks the slope is the spectral radius of their response Jacobian (docs/method.md has the
measurement behind the default). ``step_decay`` > 0 gives the diminishing option
``eta_k = eta / (1 + step_decay * k)`` (``k``: updates of the block so far).

Staggered boundaries (``stagger``): identical, near-deterministic policies all switch to a cheaper
block's price at the same step, and the deferred load they release lands in that step (a rebound
peak). Agent ``n`` reads the price schedule (which block, and its position in it) at ``t + o_n``
with a fixed offset ``o_n`` (:func:`stagger_offsets`), while its state and clock stay true: the
randomised switching times utilities use for time-of-use meters.

The modes share this one code path: ``consensus`` (K > 0), ``independent`` (K = 0: each agent prices
from its own use), ``tracking`` (dynamic average tracking of ``ghat``, which removes the bias of the
local estimate), ``centralized`` (one price from the true total, broadcast) and ``unconstrained``
(``mult = 0``).

Two records support the experiments:

- ``mix_log``: at every update of an agent-held copy (consensus, tracking, independent), the block,
  the 2-norm spread ``||z - mean(z)||_2`` of the participating agents' stepped copies *before*
  mixing, the max deviation ``max_n |x_n - mean(x)|`` after it, and the 2-norm spread of the local
  steps themselves, ``||eta (e - mean(e))||_2`` (``e``: each agent's relative excess). The last,
  maximised over updates, is the ``eta G`` of the a-priori disagreement bound
  ``eta G s^K / (1 - s^K)`` (:func:`samarl.comms.spectral.steady_state_spread_bound`).
- agent removal (:meth:`DualState.remove_agents`): the removed agents stop participating. They
  leave the communication graph (the survivors' graph is rebuilt with ``Graph.from_edges`` and its
  Metropolis–Hastings weights re-derived from the survivors' degrees), their copies are frozen at
  the value they held and kept out of every later average, and they keep acting on those frozen
  prices (their load stays on the grid: a household whose controller went silent). Survivors keep
  ``N`` (the feeder's population) in their local estimate ``N * ghat^n``. If the survivors' graph
  falls apart, consensus runs within each connected component (``components`` says how many).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from samarl._validate import (
    MAX_AGENTS,
    as_f32,
    as_f64,
    as_index,
    check_memory,
    config_real,
    config_seed,
    positive_int,
)
from samarl._validate import seed as seed_
from samarl.comms import GRAPH_FAMILIES, Consensus, Graph, is_graph_file, make_graph
from samarl.comms.consensus import MAX_ROUNDS
from samarl.errors import ConfigError, DisconnectedGraphError, GraphError, InvalidValueError

__all__ = [
    "DEFAULT_STEP_FRACTION",
    "MODES",
    "UPDATE_ORDERS",
    "DualConfig",
    "DualState",
    "DualStep",
    "consensus_bytes",
    "dual_bytes",
    "stagger_offsets",
    "step_size_from_slope",
    "survivors_graph",
]

F32 = npt.NDArray[np.float32]
Mode = Literal["consensus", "independent", "centralized", "unconstrained", "tracking"]
MODES: tuple[str, ...] = ("consensus", "independent", "centralized", "unconstrained", "tracking")
UpdateOrder = Literal["step_mix_project", "clip_mix"]
UPDATE_ORDERS: tuple[str, ...] = ("step_mix_project", "clip_mix")
#: Default dual step as a fraction of ``mult_max``: ``1.1 / rho`` for the default scenario's trained
#: policy executed with staggered boundaries, whose response Jacobian at the settled prices has
#: spectral radius ``rho = 37 / mult_max`` (48 without staggering; stability edge ``2 / rho`` =
#: 0.054, resp. 0.041, matching the measured edge); see docs/method.md.
DEFAULT_STEP_FRACTION = 0.03
#: Widest stagger (steps): a day of one-second steps.
MAX_STAGGER = 86_400
#: Largest ``mult_max`` (multipliers are float32: this keeps every price and step within range).
MAX_MULT = 1e30
#: Stepped copies are clipped to ``+-`` this before they become float32 (a huge step would
#: otherwise overflow to inf; the projection onto ``[0, mult_max]`` follows anyway).
_STEP_LIMIT = 1e37
#: Bytes per agent and per neighbour of a communication graph with its consensus weights and
#: locality order (measured at 2 million agents: 193 per agent on the default small world, mean
#: degree 6; 589 on a random geometric graph of mean degree 29), for the check before building.
GRAPH_BYTES_PER_AGENT = 64
GRAPH_BYTES_PER_NEIGHBOUR = 24
#: Consensus rounds per update that are never questioned; beyond them, rounds must not exceed
#: :data:`USEFUL_ROUNDS_FACTOR` times those after which the copies agree to float32 precision.
FREE_ROUNDS = 10_000
USEFUL_ROUNDS_FACTOR = 10


def step_size_from_slope(slope: float, gain: float = 1.0) -> float:
    """``eta = gain / slope``: the dual step that multiplies a price error by ``1 - gain`` per update
    when the aggregate load falls by ``slope`` x capacity per unit of price (positive; use the
    spectral radius of the binding blocks' relative response Jacobian, measured at the settled
    prices). A linear response is stable for ``gain`` in (0, 2);
    ``gain = 1`` cancels the stiffest mode's error in one update, half the stability edge, and
    every less stiff mode still contracts monotonically."""
    slope = config_real("slope", slope, low=0.0, low_open=True)
    gain = config_real("gain", gain, low=0.0, high=2.0, low_open=True, high_open=True)
    if not np.isfinite(gain / slope):
        raise ConfigError(f"slope: {slope!r} is too small (gain / slope overflows)")
    return gain / slope


def consensus_bytes(family: str, num_agents: int, params: Mapping[str, Any] | None = None) -> int:
    """An estimate of the peak memory (bytes) of the ``family`` communication graph of
    ``num_agents`` agents (:func:`samarl.comms.make_graph` with ``params``) and its consensus
    weights, from the family's mean degree (6 for a graph read from a file)."""
    n = int(num_agents)
    p = dict(params or {})

    def number(key: str, default: float) -> float:
        try:
            return float(p.get(key, default))
        except (TypeError, ValueError):  # refused, with a clear message, where it is used
            return default

    k_default = max(1, min(3, (n - 1) // 2))
    degree = {
        "ring": 2 * number("k", 1),
        "kring": 2 * number("k", k_default),
        "small_world": 2 * number("k", k_default),
        "grid": 4.0,
        "erdos_renyi": number("mean_degree", min(6.0, n - 1.0)),
        "random_geometric": number("mean_degree", 2 * math.log(max(n, 2))),
        "complete": n - 1.0,
    }.get(family, 6.0)
    degree = min(max(degree, 0.0), n - 1.0)
    return int(n * (GRAPH_BYTES_PER_AGENT + GRAPH_BYTES_PER_NEIGHBOUR * degree))


def dual_bytes(
    config: DualConfig, num_agents: int, num_blocks: int, *, graph_given: bool = False
) -> int:
    """An estimate of the peak memory (bytes) of :class:`DualState`: the multipliers (tracking
    keeps two more copies) and, unless the graph is given, the communication graph of ``config``
    with its consensus weights (:func:`consensus_bytes`)."""
    need = num_agents * num_blocks * 4 * (3 if config.mode == "tracking" else 1)
    if config.rounds > 0 and not graph_given:
        need += consensus_bytes(config.graph, num_agents, dict(config.graph_params))
    return need


def stagger_offsets(num_agents: int, width: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """``[N]`` per-agent offsets (steps) of the price schedule's block boundaries: uniform integers
    in ``[-(width // 2), width - width // 2]`` (all zero for ``width = 0``), reproducible from
    ``seed``."""
    if (
        isinstance(width, bool)
        or not isinstance(width, (int, np.integer))
        or not 0 <= width <= MAX_STAGGER
    ):
        raise ConfigError(
            f"stagger: must be an integer in [0, {MAX_STAGGER}] (steps), got {width!r}"
        )
    width = int(width)
    num_agents = positive_int("num_agents", num_agents, maximum=MAX_AGENTS)
    seed = seed_(seed)
    if width == 0:
        return np.zeros(num_agents, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x57A6]))
    return rng.integers(-(width // 2), width - width // 2 + 1, num_agents).astype(np.int64)


@dataclass(frozen=True, slots=True)
class DualConfig:
    """How agents update and share their multipliers at run time."""

    mode: Mode = "consensus"
    """One of :data:`MODES`."""
    consensus_rounds: int = 10
    """K: consensus rounds after every local dual step (``independent`` forces 0)."""
    dual_step_size: float | None = None
    """eta: step on the relative excess ``(N ghat - C) / C`` (mult units); None:
    ``DEFAULT_STEP_FRACTION * mult_max``."""
    update_order: UpdateOrder = "step_mix_project"
    """``step_mix_project`` (step, consensus on the stepped values, then clip: centralized is the
    K -> infinity limit) or ``clip_mix`` (the former order, for comparison only)."""
    step_decay: float = 0.0
    """Diminishing step: ``eta_k = eta / (1 + step_decay * k)`` after ``k`` updates of the block."""
    capacity_margin: float = 0.0
    """eps: the dual step targets ``(1 - eps) C_h`` instead of ``C_h``."""
    dual_epoch_len: int = 1
    """T0, in days: a block's multiplier is updated after every T0 days of it (>= 1)."""
    mult_init: float = 0.0
    """Initial multiplier of every agent and block."""
    graph: str = "small_world"
    """Communication graph: a family (see :data:`samarl.comms.GRAPH_FAMILIES`) or a file (a SciPy
    sparse ``.npz`` or an edge list, one node per agent); the default, a ring of
    neighbours with a few random shortcuts, is connected at any size."""
    graph_params: tuple[tuple[str, float], ...] = ()
    """Extra parameters of the graph family, e.g. ``(("k", 2),)``."""
    graph_seed: int = 0
    """Seed of random graph families."""
    drop_prob: float = 0.0
    """Probability that a link fails in a consensus round (weights re-normalised per round)."""
    stagger: int | None = None
    """Width (steps) of the per-agent offsets of the price schedule's block boundaries; None: one
    block (``steps_per_day // num_blocks`` when blocks span 2 or more steps), 0: no stagger."""

    def __post_init__(self) -> None:
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise ConfigError(f"mode: unknown mode {self.mode!r}; choose from {list(MODES)}")
        if not _is_int(self.consensus_rounds) or not 0 <= self.consensus_rounds <= MAX_ROUNDS:
            raise ConfigError(
                f"consensus_rounds: must be an integer in [0, {MAX_ROUNDS}], "
                f"got {self.consensus_rounds!r}"
            )
        object.__setattr__(self, "consensus_rounds", int(self.consensus_rounds))
        if self.dual_step_size is not None:
            step = config_real("dual_step_size", self.dual_step_size, low=0.0, low_open=True)
            object.__setattr__(self, "dual_step_size", step)
        for name, low, high, high_open in (
            ("step_decay", 0.0, None, False),
            ("capacity_margin", 0.0, 1.0, True),
            ("mult_init", 0.0, None, False),
            ("drop_prob", 0.0, 1.0, True),
        ):
            value = config_real(name, getattr(self, name), low=low, high=high, high_open=high_open)
            object.__setattr__(self, name, value)
        if not isinstance(self.update_order, str) or self.update_order not in UPDATE_ORDERS:
            raise ConfigError(
                f"update_order: unknown order {self.update_order!r}; choose from "
                f"{list(UPDATE_ORDERS)}"
            )
        if self.stagger is not None and (
            not _is_int(self.stagger) or not 0 <= self.stagger <= MAX_STAGGER
        ):
            raise ConfigError(
                f"stagger: must be None or an integer in [0, {MAX_STAGGER}] (steps), "
                f"got {self.stagger!r}"
            )
        if not _is_int(self.dual_epoch_len) or self.dual_epoch_len < 1:
            raise ConfigError(
                f"dual_epoch_len: must be an integer >= 1 (days), got {self.dual_epoch_len!r}"
            )
        if not isinstance(self.graph, str) or (
            self.graph not in GRAPH_FAMILIES and not is_graph_file(self.graph)
        ):
            raise ConfigError(
                f"graph: {self.graph!r} is neither a graph family ({sorted(GRAPH_FAMILIES)}) nor "
                "a file"
            )
        try:
            params = tuple((str(k), v) for k, v in self.graph_params)
        except (TypeError, ValueError):
            raise ConfigError(
                f"graph_params: expected (name, value) pairs, got {self.graph_params!r}"
            ) from None
        if not all(isinstance(k, str) for k, _ in self.graph_params):
            raise ConfigError(f"graph_params: names must be strings, got {self.graph_params!r}")
        object.__setattr__(self, "graph_params", params)
        object.__setattr__(self, "graph_seed", config_seed("graph_seed", self.graph_seed))

    @property
    def rounds(self) -> int:
        """Consensus rounds actually run (0 unless the mode shares multipliers)."""
        return self.consensus_rounds if self.mode in ("consensus", "tracking") else 0

    def stagger_width(self, steps_per_day: int, num_blocks: int) -> int:
        """The stagger in steps for a day of ``steps_per_day`` steps in ``num_blocks`` blocks."""
        if self.stagger is not None:
            return self.stagger
        per_block = steps_per_day // num_blocks
        return per_block if per_block >= 2 else 0

    def replace(self, **changes: object) -> DualConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DualStep:
    """The per-agent arithmetic of one update, the same for any subset of the agents' rows.

    :class:`DualState` and the actors of a partitioned run
    (:mod:`samarl.distributed.partitions`) both call it, each on its own rows: the local step
    (step 2 of the module doc, and ``clip_mix``'s projection before mixing), the round counter of
    lossy links, and the projection (step 4). Only the mixing between them differs (the engine's
    consensus kernel on all rows, or halo exchange between parts).
    """

    config: DualConfig
    capacity: npt.NDArray[np.float64]
    """``[m]`` total capacity ``C_h`` of each block (kW)."""
    num_agents: int
    """N, the population in every agent's estimate ``N * ghat^n``."""
    mult_max: float

    @property
    def step_size(self) -> float:
        """eta before decay: ``dual_step_size``, or the default fraction of ``mult_max``."""
        return self.config.dual_step_size or DEFAULT_STEP_FRACTION * self.mult_max

    @property
    def mult_init(self) -> float:
        """Every copy's value before the first update."""
        if self.config.mode == "unconstrained":
            return 0.0
        return min(self.config.mult_init, self.mult_max)

    def average_use(self, use_sum: npt.NDArray[np.float64], steps_in_block: int) -> F32:
        """``ghat``: each row's average use over an epoch of a block (``dual_epoch_len`` days of
        its ``steps_in_block`` steps) from the summed use ``use_sum`` (kW)."""
        return (use_sum / (steps_in_block * self.config.dual_epoch_len)).astype(np.float32)

    def eta(self, updates: int) -> float:
        """The step of a block already updated ``updates`` times (``step_decay``)."""
        return self.step_size / (1.0 + self.config.step_decay * float(updates))

    def local(
        self, prev: F32, estimate: F32, block: int, eta: float
    ) -> tuple[F32, npt.NDArray[np.float64]]:
        """The stepped copies ``z`` (float32, clipped to a finite range; projected already with
        ``clip_mix``) and each row's relative excess, from the rows' multipliers ``prev`` and
        total-use estimates ``N * estimate``."""
        cap = self.capacity[block]
        target = (1.0 - self.config.capacity_margin) * cap
        excess = (self.num_agents * estimate.astype(np.float64) - target) / cap
        stepped = prev + eta * excess
        if self.config.update_order == "clip_mix":
            stepped = np.clip(stepped, 0.0, self.mult_max)
        return np.clip(stepped, -_STEP_LIMIT, _STEP_LIMIT).astype(np.float32), excess

    def round_offset(self, updates_so_far: int) -> int:
        """The lossy-link round counter of an update after ``updates_so_far`` updates of all the
        blocks: every update runs ``rounds`` rounds, numbered on from the previous ones."""
        return updates_so_far * self.config.rounds

    def project(self, col: F32) -> F32:
        """Step 4: the mixed copies clipped to ``[0, mult_max]``."""
        return np.clip(col, 0.0, self.mult_max).astype(np.float32)


def survivors_graph(graph: Graph, keep: npt.NDArray[np.int64]) -> Graph:
    """The subgraph of ``graph`` induced by the nodes ``keep`` (ascending), relabelled ``0..A-1``
    in the order of ``keep`` (the communication graph after agent removal)."""
    n = graph.num_nodes
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[keep] = np.arange(keep.size)
    src = np.repeat(np.arange(n), np.diff(graph.indptr))
    a, b = new_id[src], new_id[graph.indices]
    ok = (a >= 0) & (b >= 0) & (a < b)
    return Graph.from_edges(int(keep.size), np.stack([a[ok], b[ok]], axis=1))


class DualState:
    """The multipliers ``mult[n, h]`` of N agents and m blocks, and the rule that updates them.

    Parameters
    ----------
    config
        The dual dynamics.
    capacity_per_block
        ``[m]`` total capacity ``C_h`` of each block (kW, mean over the block's steps).
    num_agents
        N.
    mult_max
        Upper end of the multipliers' range (the range the policies saw in training).
    graph
        The communication graph; built from ``config`` when omitted.
    """

    def __init__(
        self,
        config: DualConfig,
        capacity_per_block: npt.ArrayLike,
        num_agents: int,
        mult_max: float,
        graph: Graph | None = None,
    ) -> None:
        if not isinstance(config, DualConfig):
            raise ConfigError(f"config: expected a DualConfig, got {type(config).__name__}")
        self.config = config
        self.capacity = as_f64("capacity_per_block", capacity_per_block, shape=(None,))
        if self.capacity.size == 0 or (self.capacity <= 0).any():
            raise ConfigError(
                "capacity_per_block: expected one capacity per block (at least one), all > 0"
            )
        self.num_agents = positive_int("num_agents", num_agents, maximum=MAX_AGENTS)
        self.num_blocks = int(self.capacity.size)
        self.mult_max = config_real("mult_max", mult_max, low=0.0, high=MAX_MULT, low_open=True)
        need = dual_bytes(config, num_agents, self.num_blocks, graph_given=graph is not None)
        check_memory("num_agents", num_agents, "agents", need)
        #: The step and projection (shared with the actors of partitioned runs).
        self.rule = DualStep(config, self.capacity, self.num_agents, self.mult_max)
        self.step_size = self.rule.step_size
        self.mult = np.full((num_agents, self.num_blocks), self.rule.mult_init, dtype=np.float32)
        self.consensus: Consensus | None = None
        if config.rounds > 0:
            if graph is None:
                graph = make_graph(
                    config.graph, num_agents, seed=config.graph_seed, **dict(config.graph_params)
                )
            if not isinstance(graph, Graph) or graph.num_nodes != num_agents:
                raise GraphError(
                    f"graph: expected a samarl.Graph on num_agents = {num_agents} nodes, got "
                    f"{graph!r}"
                )
            if not graph.is_connected():
                raise DisconnectedGraphError(
                    f"graph: the {config.graph} communication graph of {num_agents} agents is "
                    f"disconnected; consensus with K = {config.rounds} > 0 needs a connected graph "
                    "(use more neighbours or another family)"
                )
            self.consensus = Consensus(graph)
            _check_rounds(config, self.consensus)
        self.graph = graph
        self._base_graph: Graph | None = graph
        # Tracking: y[n, h] estimates the network average of ghat[., h]; last ghat per block.
        self._track_y: F32 | None = None
        self._track_last: F32 | None = None
        self._updates = np.zeros(self.num_blocks, dtype=np.int64)
        #: ``[A]`` indices of the agents still participating (None: all of them).
        self.active: npt.NDArray[np.int64] | None = None
        #: Connected components of the (survivors') communication graph.
        self.components = 1
        #: Per update: ``(block, spread_l2_before_mixing, max_deviation_after)``.
        self.mix_log: list[tuple[int, float, float, float]] = []

    @property
    def num_active(self) -> int:
        """Agents still participating."""
        return self.num_agents if self.active is None else int(self.active.size)

    def remove_agents(self, agents: npt.ArrayLike) -> None:
        """Takes ``agents`` (indices) out of the dual dynamics from now on (see the module doc).

        Their multipliers are frozen and left out of every later average; the communication graph
        becomes the survivors' induced subgraph, with weights re-derived from it.
        """
        gone = np.unique(as_index("agents", agents).ravel())
        if gone.size and (gone.min() < 0 or gone.max() >= self.num_agents):
            raise ConfigError(f"agents: indices must be in [0, {self.num_agents}), got {gone}")
        current = np.arange(self.num_agents) if self.active is None else self.active
        keep = np.setdiff1d(current, gone, assume_unique=True)
        if keep.size == 0:
            raise ConfigError("agents: removing them would leave no agent participating")
        self.active = keep
        if self.graph is None or self.config.rounds == 0:
            return
        assert self._base_graph is not None  # a graph exists whenever rounds > 0
        sub = survivors_graph(self._base_graph, keep)
        self.components = int(sub.components()[0])
        self.graph = sub
        self.consensus = Consensus(sub, require_connected=False)

    def update(self, block: int, ghat: F32) -> None:
        """Ends an epoch of ``block`` with each agent's average use ``ghat`` ([N], kW)."""
        cfg = self.config
        h = positive_int("block", block, minimum=0)
        if h >= self.num_blocks:
            raise InvalidValueError(f"block: must be < num_blocks = {self.num_blocks}, got {h}")
        ghat = as_f32("ghat", ghat, shape=(self.num_agents,))
        if cfg.mode == "unconstrained":
            return
        eta = self.rule.eta(int(self._updates[h]))
        if cfg.mode == "centralized":
            cap = self.capacity[h]
            target = (1.0 - cfg.capacity_margin) * cap
            excess = (float(ghat.astype(np.float64).sum()) - target) / cap
            first = 0 if self.active is None else int(self.active[0])
            new = np.clip(self.mult[first, h] + eta * excess, 0.0, self.mult_max)
            self.mult[slice(None) if self.active is None else self.active, h] = new
            self._updates[h] += 1
            return
        idx = self.active
        g = ghat if idx is None else ghat[idx]
        estimate = g
        if cfg.mode == "tracking":
            estimate = self._track(h, g)
        prev = self.mult[:, h] if idx is None else self.mult[idx, h]
        col, excess = self.rule.local(prev, estimate, h, eta)
        before = col.astype(np.float64)
        spread = float(np.linalg.norm(before - before.mean()))
        if self.consensus is not None and cfg.rounds > 0:
            if cfg.drop_prob > 0:
                col = self.consensus.mix_lossy(
                    col,
                    cfg.rounds,
                    drop_prob=cfg.drop_prob,
                    seed=cfg.graph_seed,
                    round_offset=self.rule.round_offset(int(self._updates.sum())),
                )
            else:
                col = self.consensus.mix(col, cfg.rounds)
        after = col.astype(np.float64)
        step_spread = float(np.linalg.norm(eta * (excess - excess.mean())))
        self.mix_log.append((h, spread, float(np.abs(after - after.mean()).max()), step_spread))
        col = self.rule.project(col)
        if idx is None:
            self.mult[:, h] = col
        else:
            self.mult[idx, h] = col
        self._updates[h] += 1

    def _track(self, h: int, ghat: F32) -> F32:
        assert self.consensus is not None
        if self._track_y is None or self._track_last is None:
            self._track_y = np.zeros((self.num_agents, self.num_blocks), dtype=np.float32)
            self._track_last = np.zeros_like(self._track_y)
        rows = slice(None) if self.active is None else self.active
        g_new = ghat.astype(np.float32)
        y = self._track_y[rows, h].copy()
        if self._updates[h] == 0:
            y = g_new.copy()  # y starts at the agent's own measurement
        else:
            y = self.consensus.track(y, g_new, self._track_last[rows, h], self.config.rounds)
        self._track_y[rows, h] = y
        self._track_last[rows, h] = g_new
        return y

    def participating_mult(self) -> F32:
        """``[N, m]`` multipliers with each removed agent's row replaced by the participants' mean.

        The mean over all rows then equals the participants' mean and removed agents add no
        deviation, so consensus metrics computed on it measure the participants only.
        """
        if self.active is None:
            return self.mult
        out = np.empty_like(self.mult)
        out[:] = self.mult[self.active].mean(axis=0, dtype=np.float64).astype(np.float32)
        out[self.active] = self.mult[self.active]
        return out

    def consensus_error(self) -> tuple[float, float]:
        """``(max, mean)`` over participating agents and blocks of ``|mult^n_h - mean_n mult_h|``."""
        x = self.mult if self.active is None else self.mult[self.active]
        dev = np.abs(x - x.mean(axis=0, dtype=np.float64))
        return float(dev.max()), float(dev.mean())


def _check_rounds(config: DualConfig, consensus: Consensus) -> None:
    """Refuses ``consensus_rounds`` far beyond those after which the copies agree to float32
    precision on this graph (more only cost time: at 10^9 rounds, about 20 minutes per update even
    on 16 agents). Up to :data:`FREE_ROUNDS` rounds are never questioned."""
    rounds = config.rounds
    if rounds <= FREE_ROUNDS:
        return
    n = consensus.num_nodes
    sigma2 = consensus.sigma2()
    # sigma_2^K ||x - mean||_2 <= 2^-24 |x|: agreement to float32's precision, whatever x is.
    contraction = math.log(sigma2) if sigma2 > 0 else -math.inf
    if contraction > -1e-12:
        return  # (numerically) no contraction: no bound on useful rounds
    useful = max(1, math.ceil(math.log(2.0**-24 / math.sqrt(n)) / contraction))
    limit = max(FREE_ROUNDS, math.ceil(USEFUL_ROUNDS_FACTOR * useful / (1.0 - config.drop_prob)))
    if rounds > limit:
        work = float(rounds) * (n + 2 * consensus.graph.num_edges)
        raise ConfigError(
            f"consensus_rounds: {rounds:,} rounds per update, but on this {config.graph} graph of "
            f"{n:,} agents (sigma_2 = {sigma2:.3g}) the copies agree to float32 precision after "
            f"{useful:,} rounds; the rest only cost time ({work:.2g} multiply-adds per update): "
            f"use at most {limit:,}, or mode='centralized' for exact agreement"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
