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
- agent removal (:meth:`~samarl.execution.mixing.DualState.remove_agents`, and every run's
  ``removal``): the removed agents stop participating. They
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
    config_real,
    config_seed,
    positive_int,
)
from samarl._validate import seed as seed_
from samarl.comms import GRAPH_FAMILIES, is_graph_file
from samarl.comms.consensus import MAX_ROUNDS
from samarl.errors import ConfigError

__all__ = [
    "DEFAULT_STEP_FRACTION",
    "MODES",
    "UPDATE_ORDERS",
    "DualConfig",
    "DualRows",
    "DualStep",
    "DualUpdate",
    "consensus_bytes",
    "dual_bytes",
    "stagger_offsets",
    "step_size_from_slope",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
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
    """An estimate of the peak memory (bytes) of the dual dynamics of ``num_agents`` agents in one
    process (:class:`~samarl.execution.mixing.DualState`): the multipliers (tracking
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

    Every holder of rows (:class:`DualRows`: one process's, or each part's of a split run)
    calls it on its own rows: the local step
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

    def central(self, prev: np.float32, total_use: float, block: int, eta: float) -> np.float32:
        """The centralized update: one price from the true total use ``total_use`` (kW, the sum
        of every agent's average use over the epoch), stepped from ``prev`` and projected."""
        cap = self.capacity[block]
        excess = (total_use - (1.0 - self.config.capacity_margin) * cap) / cap
        return np.float32(np.clip(prev + eta * excess, 0.0, self.mult_max))


class DualRows:
    """The dual side of some agents (all of a run's, or one part's): each row's use per block
    since the block's last update, its multiplier copies, and the working column of an update.

    :class:`DualUpdate` drives an update through these methods, on every holder of rows alike
    (one object in one process, one per part of a split run); the mixing of the working column
    ``z`` between them is a :class:`~samarl.execution.mixing.Mixer`'s. Rows are local
    (``0 .. rows - 1``); ``participating`` are those still in the dual dynamics.
    """

    def __init__(self, rule: DualStep, rows: int, *, tracking: bool = False) -> None:
        m = int(rule.capacity.size)
        self.rule = rule
        #: ``[rows, m]`` the multiplier copies.
        self.mult = np.full((rows, m), rule.mult_init, dtype=np.float32)
        #: ``[rows, m]`` each row's summed use per block since the block's last update (kW).
        self.use = np.zeros((rows, m), dtype=np.float64)
        #: Local rows still participating, ascending (None: all of them).
        self.participating: npt.NDArray[np.int64] | None = None
        #: The working column of an update in progress: the participating rows' stepped copies,
        #: mixed in place by the mixer.
        self.z: F32 = np.zeros(0, dtype=np.float32)
        self._g = self.z
        self._estimate = self.z
        self._excess = np.zeros(0)
        self._before = np.zeros(0)
        # Tracking: y[n, h] estimates the network average of ghat[., h]; the last ghat per block.
        self._track = np.zeros((2, rows, m), dtype=np.float32) if tracking else None

    def _rows(self, x: np.ndarray) -> np.ndarray:
        return x if self.participating is None else x[self.participating]

    @property
    def num_participating(self) -> int:
        """Rows still participating."""
        return self.mult.shape[0] if self.participating is None else int(self.participating.size)

    def remove(self, rows: npt.NDArray[np.int64]) -> None:
        """Takes the local ``rows`` out of the dual dynamics (their copies freeze)."""
        current = (
            np.arange(self.mult.shape[0]) if self.participating is None else self.participating
        )
        self.participating = np.setdiff1d(current, rows, assume_unique=True)

    def begin_from_use(self, block: int, steps_in_block: int) -> float:
        """:meth:`begin` with each row's average use over the epoch of ``block`` just ended, from
        :attr:`use` (then cleared)."""
        ghat = self.rule.average_use(self.use[:, block], steps_in_block)
        self.use[:, block] = 0.0
        return self.begin(block, ghat)

    def begin(self, block: int, ghat: F32) -> float:
        """Starts the update of ``block`` with the rows' average use ``ghat`` (``[rows]`` kW);
        returns the rows' total (float64, all rows: what a centralized update sums)."""
        self._g = self._estimate = self._rows(ghat)
        return float(ghat.astype(np.float64).sum())

    def track(self, block: int, first: bool, track: Any) -> None:
        """Tracking: the estimate ``y`` of the network average of ``ghat`` for ``block``, from
        ``track(y, g_new, g_old)`` (K rounds of dynamic average tracking; the mixer's), starting
        from each row's own ``ghat`` at a block's first update."""
        assert self._track is not None
        rows = slice(None) if self.participating is None else self.participating
        y = self._track[0, rows, block].copy()
        y = self._g.copy() if first else track(y, self._g, self._track[1, rows, block])
        self._track[0, rows, block] = y
        self._track[1, rows, block] = self._g
        self._estimate = y

    def local_step(self, block: int, eta: float) -> tuple[float, int, float]:
        """The local step of the participating rows into :attr:`z`; returns the sums the spreads
        of ``mix_log`` are centred on: of ``z`` (float64), the rows, of the relative excesses."""
        prev = self._rows(self.mult[:, block])
        self.z, self._excess = self.rule.local(prev, self._estimate, block, eta)
        self._before = self.z.astype(np.float64)
        return float(self._before.sum()), int(self.z.size), float(self._excess.sum())

    def after_mixing(self, mean_z: float, mean_excess: float, eta: float) -> tuple[float, ...]:
        """After the mixer: the squared 2-norm spread of the rows' stepped copies before mixing
        and of their local steps, about the network means, and the sum of the mixed copies."""
        d = self._before - mean_z
        e = eta * (self._excess - mean_excess)
        return float(d.dot(d)), float(e.dot(e)), float(self.z.astype(np.float64).sum())

    def finish(self, block: int, mean_after: float) -> float:
        """Projects the mixed copies into the multipliers of ``block``; returns the rows' largest
        deviation from the network mean after mixing (-inf for no rows)."""
        after = self.z.astype(np.float64)
        dev = float(np.abs(after - mean_after).max()) if after.size else -math.inf
        self.set_block(block, self.rule.project(self.z))
        self.z = np.zeros(0, dtype=np.float32)
        return dev

    def set_block(self, block: int, value: float | F32) -> None:
        """Every participating row's multiplier of ``block`` becomes ``value``."""
        rows = slice(None) if self.participating is None else self.participating
        self.mult[rows, block] = value

    def price(self, block: int) -> tuple[float, int]:
        """The participating rows' multipliers of ``block``: their sum (float64) and count."""
        col = self._rows(self.mult[:, block])
        return float(col.sum(dtype=np.float64)), int(col.size)

    def stats(self) -> tuple[F64, int, F64, F64]:
        """Per block over the participating rows: the sum of the copies (float64), their count,
        min and max (+-inf for none)."""
        x = self._rows(self.mult)
        if x.shape[0] == 0:
            inf = np.full(x.shape[1], np.inf)
            return np.zeros(x.shape[1]), 0, inf, -inf
        lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
        return x.sum(axis=0, dtype=np.float64), int(x.shape[0]), lo, hi

    def filled(self, fill: F32) -> F32:
        """The copies with every row that no longer participates at ``fill`` (``[m]``): their mean
        over all rows is then the participants' mean, and they add no deviation."""
        if self.participating is None:
            return self.mult
        out = np.empty_like(self.mult)
        out[:] = fill
        out[self.participating] = self.mult[self.participating]
        return out

    def epoch(self, block: int, mean: float, fill: F32) -> tuple[float, npt.NDArray[np.float64]]:
        """After an update of ``block``: the participating rows' largest deviation from the
        participants' mean ``mean``, and the per-block sums of :meth:`filled`."""
        col = self._rows(self.mult[:, block])
        dev = float(np.abs(col - np.float64(mean)).max()) if col.size else -math.inf
        return dev, self.filled(fill).sum(axis=0, dtype=np.float64)

    def abs_deviation(self, mean: npt.NDArray[np.float64], fill: F32) -> float:
        """``sum |filled - mean|`` over the rows and blocks (:meth:`filled`)."""
        from samarl.execution.metrics import abs_deviation

        x = self.filled(fill)
        return abs_deviation(x, mean) if x.shape[0] else 0.0


class DualUpdate:
    """Updates block ``h`` of every agent's multipliers, in every mode: the one dual rule.

    The rows live wherever the run keeps them (:class:`DualRows`, one holder in one process or one
    per part); ``call(method, *args)`` calls a :class:`DualRows` method on every holder and returns
    their answers in holder order, and ``mixer`` mixes the working column between them (None: no
    rounds). Per update of an agent-held copy it appends to :attr:`mix_log` ``(block,
    ||z - mean(z)||_2 before mixing, max |x - mean(x)| after it, ||eta (e - mean(e))||_2)``
    (module doc).
    """

    def __init__(self, rule: DualStep, call: Any, mixer: Any = None) -> None:
        m = int(rule.capacity.size)
        self.rule = rule
        self.call = call
        self.mixer = mixer
        #: Updates of each block so far.
        self.updates = np.zeros(m, dtype=np.int64)
        #: The centralized price of each block (every participating copy holds it).
        self.central = np.full(m, rule.mult_init, dtype=np.float32)
        self.mix_log: list[tuple[int, float, float, float]] = []

    def __call__(self, block: int, begin: str, *args: Any) -> None:
        """Updates ``block``; ``begin`` (``"begin"`` with ``ghat``, or ``"begin_from_use"`` with
        the block's steps) starts it on every holder."""
        config, h = self.rule.config, block
        if config.mode == "unconstrained":
            return
        eta = self.rule.eta(int(self.updates[h]))
        totals = self.call(begin, h, *args)
        if config.mode == "centralized":
            self.central[h] = self.rule.central(self.central[h], sum(totals), h, eta)
            self.call("set_block", h, self.central[h])
        else:
            if config.mode == "tracking":
                self.mixer.estimate(h, first=self.updates[h] == 0)
            sums = self.call("local_step", h, eta)
            count = sum(c for _, c, _ in sums)
            mean_z = sum(z for z, _, _ in sums) / count
            mean_excess = sum(e for _, _, e in sums) / count
            if self.mixer is not None and config.rounds > 0:
                self.mixer.mix(config.rounds, self.rule.round_offset(int(self.updates.sum())))
            spreads = self.call("after_mixing", mean_z, mean_excess, eta)
            mean_after = sum(a for _, _, a in spreads) / count
            dev = max(self.call("finish", h, mean_after))
            before = math.sqrt(sum(d for d, _, _ in spreads))
            steps = math.sqrt(sum(e for _, e, _ in spreads))
            self.mix_log.append((h, before, dev, steps))
        self.updates[h] += 1


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
