"""State-augmented actor-critic policies ``pi^n(a | s^n, mult^n)`` for all N agents at once.

docs/method.md, training: every agent learns one policy conditioned on its local observation and on the
Lagrange multiplier vector ``mult`` (one entry per capacity block of the day). The N policies are one
:class:`torch.nn.Module` evaluated as one batch, in one of two parameterisations:

- ``"shared"`` (default): one network for every agent, fed the agent's own (static) features, so
  heterogeneous agents are told apart by what they are, not by an index;
- ``"per_agent"``: every agent has its own weights, stored as stacked tensors ``[N, in, out]`` and
  evaluated with one :func:`torch.baddbmm` (never a Python loop over agents). Gradient clipping,
  advantage normalisation and every normaliser are then per agent too, so agent ``n``'s weights are
  trained on agent ``n``'s data only; its initial weights come from its own random stream
  (:class:`AgentNormals`), so they do not depend on which other agents share the module.

Input of the networks: an agent's scale-free local features, its static features and arrival
profile per block (normalised), and its multipliers rolled so the current block comes first
(:mod:`samarl.training.features`, which builds each piece).

Rows may hold several copies of the N agents (row ``r * N + n`` is agent ``n``): training simulates
copies of small populations to get more samples per iteration.

Action distribution: a Gaussian whose samples are clipped to ``[0, 1]`` (the fraction of maximum
power drawn), as in CleanRL's ``ppo_continuous_action``: the log-probability is that of the unclipped
sample, and the deterministic action is ``clip(mean, 0, 1)``. Clipping (rather than a Beta or a
sigmoid squash) lets the deterministic policy reach exactly 0 (defer everything) and exactly 1 (serve
as fast as possible), the two ends of the bang-bang optimum of this problem. The standard deviation
is a learnt parameter independent of the state (one per agent in the per-agent parameterisation).

The critic predicts values normalised by a running mean/std of the value targets (MAPPO's value
normalisation); :meth:`StateAugmentedPolicy.value` returns them in reward units.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from samarl._validate import MAX_SEED, MAX_U64, as_f32, as_index, flag, positive_int, real
from samarl.envs.dynamics import OBS_FIELDS
from samarl.errors import ArgumentTypeError, ConfigError, InvalidValueError, ShapeError
from samarl.training.features import (
    NUM_DYNAMIC,
    NUM_STATIC,
    PARAM_NAMES,
    agent_tables,
    as_tensor,
    block_positions,
    dynamic_features,
    input_width,
    mult_features,
    population_tables,
    step_of_day_from_obs,
)
from samarl.training.layers import MLP, AgentLinear, NormalSource, RunningMeanStd

__all__ = [
    "PARAM_NAMES",
    "AgentLinear",
    "AgentNormals",
    "Parameterisation",
    "RunningMeanStd",
    "StateAugmentedPolicy",
    "agent_tables",
    "population_tables",
    "torch_device",
]

Parameterisation = Literal["shared", "per_agent"]


def torch_device(name: str) -> torch.device:
    """The torch device ``name`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...), checked: a
    :class:`~samarl.errors.ConfigError` naming ``device`` for a name torch does not know or a
    device this machine lacks, rather than torch's error at the first tensor moved there."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: unknown torch device {name!r} (e.g. 'cpu', 'cuda:0')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"device: {name!r} requested but this machine has {torch.cuda.device_count()} GPU(s)"
        )
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: {name!r} is not supported (use 'cpu' or 'cuda[:K]')")
    return dev


#: Most weights (actor and critic together) a policy may have: 2**34 float32 is 64 GiB.
MAX_WEIGHTS = 2**34
#: Agents per batch when a shared policy acts for many agents: keeps every activation a few MiB
#: (cache-resident and reused by the allocator) instead of hundreds of MiB of fresh pages per
#: layer at a million agents.
ACT_BATCH = 32_768


class AgentNormals:
    """Standard normals for initialising per-agent weights, agent ``first_agent + i`` drawing from
    its own counter-based stream (:data:`samarl.rng.STREAM_INIT`), as a generator would:
    every call takes the next values of each agent's stream.

    The weights of agent ``n`` are then the same whichever agents are built with it: a policy
    over agents ``a..b`` (``first_agent=a``) starts from rows ``a..b`` of the one over all N.
    """

    def __init__(self, seed: int, first_agent: int = 0) -> None:
        self.seed = int(seed)
        self.first_agent = int(first_agent)
        self.drawn = 0

    def __call__(self, num: int, rows: int, cols: int) -> Tensor:
        """``[num, rows, cols]`` float64 normals; row ``i`` of the stack is agent
        ``first_agent + i``'s."""
        from samarl.rng import STREAM_INIT, normal_f64

        agents = np.arange(num, dtype=np.uint64) + np.uint64(self.first_agent)
        counters = np.arange(rows * cols, dtype=np.uint64) + np.uint64(self.drawn)
        self.drawn += rows * cols
        z = normal_f64(self.seed, STREAM_INIT, agents[:, None], counters[None])
        return torch.from_numpy(z.reshape(num, rows, cols))


class StateAugmentedPolicy(nn.Module):
    """Actor-critic ``pi^n(a | obs^n, mult^n)`` and ``V^n(obs^n, mult^n)`` for N agents.

    Parameters
    ----------
    static_features
        ``[N, 4]`` from :func:`~samarl.training.features.agent_tables`.
    profile_blocks
        ``[N, m]`` from :func:`~samarl.training.features.agent_tables`.
    block_of_step
        ``[S]`` block of every step of the day (``m = max + 1`` blocks).
    mult_max
        Top of the multiplier range seen in training; ``mult`` is fed as ``mult / mult_max``.
    parameterisation
        ``"shared"`` or ``"per_agent"`` (see the module docstring).
    hidden_sizes
        Widths of the hidden layers of the actor and of the critic (separate networks).
    init_log_std
        Initial log standard deviation of the Gaussian (before clipping to ``[0, 1]``).
    init_mean_action
        Initial mean action (the bias of the actor's output layer).
    seed
        Seeds the weight initialisation.
    first_agent
        Global id of the first agent (per-agent weights): agent ``first_agent + i`` initialises
        its weights from its own random stream keyed by ``seed`` and that id, so a policy over
        agents ``a..b`` starts from exactly those agents' weights in the policy over all N. Not
        saved (it only chooses the initial weights).
    init_weights
        Draw the initial weights (``False``: leave them unset, for weights loaded next, as
        :meth:`from_save_dict` does).
    """

    static: Tensor
    profile_blocks: Tensor
    block_of_step: Tensor
    block_position: Tensor
    _roll: Tensor

    def __init__(
        self,
        static_features: npt.ArrayLike,
        profile_blocks: npt.ArrayLike,
        block_of_step: npt.ArrayLike,
        *,
        mult_max: float,
        parameterisation: Parameterisation = "shared",
        hidden_sizes: tuple[int, ...] = (64, 64),
        init_log_std: float = -0.7,
        init_mean_action: float = 0.5,
        mult_log_ref: float = 0.01,
        seed: int = 0,
        first_agent: int = 0,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        static_np = as_f32("static_features", static_features, shape=(None, NUM_STATIC))
        if static_np.shape[0] == 0:
            raise ShapeError("static_features: expected one row per agent (N >= 1), got none")
        static = torch.from_numpy(static_np.copy())
        prof = torch.from_numpy(as_f32("profile_blocks", profile_blocks).copy())
        blocks_np = as_index("block_of_step", block_of_step, shape=(None,))
        if blocks_np.size == 0:
            raise ShapeError("block_of_step: expected one block per step of the day, got none")
        if blocks_np.min() < 0 or blocks_np.max() >= blocks_np.size:
            raise InvalidValueError(
                f"block_of_step: blocks must be in [0, {blocks_np.size}) (at most one per step), "
                f"got {int(blocks_np.min())}..{int(blocks_np.max())}"
            )
        blocks = torch.from_numpy(blocks_np.copy())
        if not isinstance(parameterisation, str) or parameterisation not in ("shared", "per_agent"):
            raise ConfigError(
                f"parameterisation: expected 'shared' or 'per_agent', got {parameterisation!r}"
            )
        mult_max = real("mult_max", mult_max, low=0.0, low_open=True)
        mult_log_ref = real("mult_log_ref", mult_log_ref, low=0.0, low_open=True)
        if not 1e-30 <= mult_log_ref * mult_max <= 1e30:  # float32 inputs are scaled by it
            raise InvalidValueError(
                f"mult_log_ref: mult_log_ref * mult_max must be in [1e-30, 1e30], got "
                f"{mult_log_ref * mult_max:g}"
            )
        # Log std and action bias become float32 weights; beyond these they are meaningless.
        init_log_std = real("init_log_std", init_log_std, low=-20.0, high=20.0)
        init_mean_action = real("init_mean_action", init_mean_action, low=-1e6, high=1e6)
        seed = positive_int("seed", seed, minimum=0, maximum=MAX_SEED)
        if isinstance(hidden_sizes, (str, bytes)) or not hasattr(hidden_sizes, "__iter__"):
            raise ArgumentTypeError(f"hidden_sizes: expected a tuple of ints, got {hidden_sizes!r}")
        hidden_sizes = tuple(positive_int("hidden_sizes", h) for h in hidden_sizes)
        widths = [input_width(int(blocks.max()) + 1), *hidden_sizes, 1]
        stack = int(static.shape[0]) if parameterisation == "per_agent" else 1
        weights = 2 * stack * sum(a * b for a, b in itertools.pairwise(widths))
        if weights > MAX_WEIGHTS:
            raise InvalidValueError(
                f"hidden_sizes: {list(hidden_sizes)} would make {weights:.3g} weights "
                f"(at most {MAX_WEIGHTS:.3g})"
            )
        self.num_agents = int(static.shape[0])
        self.num_blocks = int(blocks.max()) + 1
        self.steps_per_day = int(blocks.shape[0])
        self.mult_max = float(mult_max)
        self.mult_log_ref = float(mult_log_ref)
        self.parameterisation: Parameterisation = parameterisation
        self.hparams: dict[str, Any] = {
            "mult_max": float(mult_max),
            "parameterisation": parameterisation,
            "hidden_sizes": [int(h) for h in hidden_sizes],
            "init_log_std": float(init_log_std),
            "init_mean_action": float(init_mean_action),
            "mult_log_ref": float(mult_log_ref),
            "seed": int(seed),
        }
        if tuple(prof.shape) != (self.num_agents, self.num_blocks):
            raise ShapeError(
                f"profile_blocks: expected shape [{self.num_agents}, {self.num_blocks}], "
                f"got {list(prof.shape)}"
            )
        self.register_buffer("static", static)
        self.register_buffer("profile_blocks", prof)
        self.register_buffer("block_of_step", blocks)
        # Offset of every step inside its block, as a fraction of the block's length.
        pos = block_positions(blocks.numpy(), self.num_blocks)
        self.register_buffer("block_position", torch.from_numpy(pos))
        self.register_buffer(
            "_roll",
            (torch.arange(self.num_blocks)[None, :] + torch.arange(self.num_blocks)[:, None])
            % self.num_blocks,
        )

        self.num_normalized = NUM_DYNAMIC + NUM_STATIC + self.num_blocks
        self.input_dim = self.num_normalized + 2 * self.num_blocks
        per_agent = parameterisation == "per_agent"
        stats_shape = (
            (self.num_agents, self.num_normalized) if per_agent else (self.num_normalized,)
        )
        self.obs_rms = RunningMeanStd(stats_shape, per_entry=per_agent)
        self.value_rms = RunningMeanStd(
            (self.num_agents,) if per_agent else (), per_entry=per_agent
        )
        first_agent = positive_int("first_agent", first_agent, minimum=0, maximum=MAX_U64)
        gen: NormalSource | None = (
            None
            if not flag("init_weights", init_weights)
            else AgentNormals(seed, first_agent)
            if per_agent
            else torch.Generator().manual_seed(int(seed))
        )
        n = self.num_agents if per_agent else None
        sizes = [self.input_dim, *hidden_sizes, 1]
        self.actor = MLP(
            sizes, num_agents=n, head_gain=0.01, head_bias=init_mean_action, generator=gen
        )
        self.critic = MLP(sizes, num_agents=n, head_gain=1.0, head_bias=0.0, generator=gen)
        log_std_shape = (self.num_agents, 1) if per_agent else (1,)
        self.log_std = nn.Parameter(torch.full(log_std_shape, float(init_log_std)))

    # ------------------------------------------------------------------ inputs

    def step_of_day_from_obs(self, obs: Tensor) -> Tensor:
        """Step of day of the coming step, per agent, recovered from the (sin, cos) columns."""
        return step_of_day_from_obs(obs, self.steps_per_day)

    def _rolled(self, table: Tensor, block: Tensor | int) -> Tensor:
        """``table[n, (block + k) % m]`` for k = 0..m-1: the current block first."""
        if isinstance(block, int):
            return table.index_select(1, self._roll[block])
        return torch.gather(table, 1, self._roll[block])

    def features(
        self,
        obs: Tensor,
        mult: Tensor,
        step_of_day: int | Tensor | None = None,
        *,
        update_stats: bool = False,
        agents: slice | None = None,
    ) -> Tensor:
        """The network input ``[N, input_dim]`` for observations ``[N, obs_dim]`` and ``mult [N, m]``.

        ``step_of_day`` is the step of day of the coming step (an int shared by all agents, or an
        ``[N]`` tensor); ``None`` recovers it from the observation. ``update_stats`` adds the raw
        features to the running normaliser first (training only). ``agents`` (shared parameters
        only) says that the rows are those agents alone, in order.
        """
        if obs.dim() != 2 or obs.shape[1] != len(OBS_FIELDS):
            raise ValueError(
                f"obs: expected shape [N, {len(OBS_FIELDS)}] (columns {', '.join(OBS_FIELDS)}), "
                f"got {list(obs.shape)}"
            )
        obs = obs.to(torch.float32)
        if step_of_day is None:
            step_of_day = self.step_of_day_from_obs(obs)
        elif isinstance(step_of_day, Tensor):
            step_of_day = step_of_day.to(device=obs.device, dtype=torch.long)
        else:
            step_of_day = int(step_of_day) % self.steps_per_day
        if isinstance(step_of_day, int):
            block: int | Tensor = int(self.block_of_step[step_of_day])
            pos = self.block_position[step_of_day].expand(obs.shape[0])
        else:
            block = self.block_of_step[step_of_day]
            pos = self.block_position[step_of_day]
        if agents is not None and self.parameterisation != "shared":
            raise ValueError("agents: only a shared-parameter policy acts for a subset of agents")
        copies = 1 if agents is not None else self._copies(obs.shape[0])
        dynamic = dynamic_features(obs, pos)
        if agents is not None:
            static, prof = self.static[agents], self.profile_blocks[agents]
        elif copies == 1:
            static, prof = self.static, self.profile_blocks
        else:
            static, prof = self.static.repeat(copies, 1), self.profile_blocks.repeat(copies, 1)
        raw = torch.cat([dynamic, static, self._rolled(prof, block)], dim=1)
        if self.parameterisation == "per_agent":  # per-agent statistics: [copies, N, F]
            grouped = raw.view(copies, self.num_agents, -1)
            if update_stats:
                self.obs_rms.update(grouped)
            normalized = self.obs_rms.normalize(grouped).view_as(raw)
        else:
            if update_stats:
                self.obs_rms.update(raw)
            normalized = self.obs_rms.normalize(raw)
        if tuple(mult.shape) != (obs.shape[0], self.num_blocks):
            raise ValueError(
                f"mult: expected shape [{obs.shape[0]}, {self.num_blocks}] (one row per agent, one "
                f"entry per block), got {list(mult.shape)}"
            )
        rolled = self._rolled(mult.to(torch.float32), block)
        scaled, squashed = mult_features(rolled, self.mult_max, self.mult_log_ref)
        return torch.cat([normalized, scaled, squashed], dim=1)

    def _copies(self, rows: int) -> int:
        """How many copies of the N agents ``rows`` rows hold (row ``r * N + n`` is agent ``n``)."""
        if rows % self.num_agents:
            raise ValueError(
                f"obs: expected a multiple of num_agents = {self.num_agents} rows "
                f"(copies of the trained agents), got {rows}"
            )
        return rows // self.num_agents

    # ------------------------------------------------------------------ networks

    def _heads(self, x: Tensor, value: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
        """Mean, std and normalised value for inputs ``[B, D]`` (shared), ``[N, B, D]`` (per agent)
        or ``[copies * N, D]`` rows in env order (either); outputs drop the feature dimension."""
        rows = self.parameterisation == "per_agent" and x.dim() == 2
        if rows:  # env order (row r * N + n) -> agent-major [N, copies, D]
            x = x.view(-1, self.num_agents, x.shape[-1]).transpose(0, 1)
        mean = self.actor(x).squeeze(-1)
        v = self.critic(x).squeeze(-1) if value else None
        std = self.log_std.exp().expand_as(mean)  # [1] or [N, 1] against [B] or [N, B]
        if rows:
            mean, std = mean.transpose(0, 1).reshape(-1), std.transpose(0, 1).reshape(-1)
            v = v.transpose(0, 1).reshape(-1) if v is not None else None
        return mean, std, v

    def denormalize_values(self, v: Tensor) -> Tensor:
        """Normalised critic outputs ``[..., copies * N]`` (env order) -> reward units."""
        if self.parameterisation == "per_agent":
            return self.value_rms.denormalize(v.reshape(-1, self.num_agents)).view_as(v)
        return self.value_rms.denormalize(v)

    def evaluate(self, x: Tensor, raw_action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Log-probability and entropy of ``raw_action`` (unclipped) and the normalised value, for
        network inputs ``x`` (``[B, D]`` shared, ``[N, B, D]`` per agent)."""
        mean, std, v = self._heads(x)
        assert v is not None
        # Unvalidated: NaN weights give a NaN loss, which the update reports as divergence.
        dist = torch.distributions.Normal(mean, std, validate_args=False)
        return dist.log_prob(raw_action), dist.entropy(), v

    @torch.no_grad()
    def sample(
        self, x: Tensor, generator: torch.Generator | None = None, *, noise: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """For inputs ``x`` (``[copies * N, D]``, env order): ``(action in [0, 1], raw action,
        log-probability, normalised value)``, each ``[copies * N]``. The Gaussian's standard normal
        draws are ``noise`` (``[copies * N]``) when given, else drawn from ``generator``."""
        mean, std, v = self._heads(x)
        assert v is not None
        if noise is None:
            noise = torch.randn(
                mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
            )
        elif tuple(noise.shape) != tuple(mean.shape):
            raise ShapeError(f"noise: expected shape {list(mean.shape)}, got {list(noise.shape)}")
        else:
            noise = noise.to(device=mean.device, dtype=mean.dtype)
        raw = mean + std * noise
        logprob = (
            -0.5 * noise.square() - torch.log(std) - 0.5 * math.log(2 * math.pi)
        )  # Normal(mean, std).log_prob(raw)
        return raw.clamp(0.0, 1.0), raw, logprob, v

    # ------------------------------------------------------------------ public API

    @torch.no_grad()
    def act(
        self,
        obs: Tensor,
        mult: Tensor,
        step_of_day: int | Tensor | None = None,
        deterministic: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Actions ``[N]`` in ``[0, 1]`` (fraction of maximum power) for observations
        ``[N, obs_dim]`` and every agent's full multiplier vector ``mult [N, m]``.

        ``deterministic=True`` plays ``clip(mean, 0, 1)``; otherwise a clipped Gaussian sample.
        A shared policy acting deterministically for more than :data:`ACT_BATCH` agents does so
        in batches of that many (same actions up to float rounding, less memory traffic).
        """
        obs, mult, step_of_day = self._inputs(obs, mult, step_of_day)
        n = obs.shape[0]
        if (
            deterministic
            and self.parameterisation == "shared"
            and n == self.num_agents > ACT_BATCH
            and tuple(mult.shape) == (n, self.num_blocks)
        ):
            out = torch.empty(n, dtype=torch.float32, device=obs.device)
            for start in range(0, n, ACT_BATCH):
                rows = slice(start, min(start + ACT_BATCH, n))
                sod = step_of_day[rows] if isinstance(step_of_day, Tensor) else step_of_day
                x = self.features(obs[rows], mult[rows], sod, agents=rows)
                out[rows] = self._heads(x, value=False)[0].clamp(0.0, 1.0)
            return out
        x = self.features(obs, mult, step_of_day)
        if deterministic:
            mean, _, _ = self._heads(x, value=False)
            return mean.clamp(0.0, 1.0)
        return self.sample(x, generator)[0]

    @torch.no_grad()
    def value(self, obs: Tensor, mult: Tensor, step_of_day: int | Tensor | None = None) -> Tensor:
        """State values ``[N]`` in (scaled) reward units."""
        obs, mult, step_of_day = self._inputs(obs, mult, step_of_day)
        return self.value_from_features(self.features(obs, mult, step_of_day))

    def _inputs(
        self, obs: Any, mult: Any, step_of_day: Any
    ) -> tuple[Tensor, Tensor, int | Tensor | None]:
        """Checks the public entry points' arguments (tensors, or arrays that become tensors):
        shapes, real finite values, steps of the day in range. Raises ``samarl.errors``."""
        device = self.static.device
        obs = as_tensor("obs", obs, device)
        mult = as_tensor("mult", mult, device)
        if obs.dim() != 2 or obs.shape[1] != len(OBS_FIELDS) or obs.shape[0] == 0:
            raise ShapeError(
                f"obs: expected shape [N, {len(OBS_FIELDS)}] with N >= 1, got {list(obs.shape)}"
            )
        if tuple(mult.shape) != (obs.shape[0], self.num_blocks):
            raise ShapeError(
                f"mult: expected shape [{obs.shape[0]}, {self.num_blocks}] (one price per agent "
                f"and block: the policy was trained with {self.num_blocks} blocks), got "
                f"{list(mult.shape)}"
            )
        if self.parameterisation == "per_agent" or obs.shape[0] > self.num_agents:
            self._copies(obs.shape[0])
        for name, x in (("obs", obs), ("mult", mult)):
            if not bool(torch.isfinite(x).all()):
                raise InvalidValueError(f"{name}: must be finite, found NaN or inf")
        if step_of_day is None or isinstance(step_of_day, Tensor | np.ndarray):
            if step_of_day is not None:
                sod = as_tensor("step_of_day", step_of_day, device, integer=True)
                if tuple(sod.shape) != (obs.shape[0],):
                    raise ShapeError(
                        f"step_of_day: expected shape [{obs.shape[0]}], got {list(sod.shape)}"
                    )
                step_of_day = sod % self.steps_per_day
        else:
            step_of_day = positive_int("step_of_day", step_of_day, minimum=-(2**63))
        return obs, mult, step_of_day

    @torch.no_grad()
    def value_from_features(self, x: Tensor) -> Tensor:
        """Denormalised values ``[N]`` for network inputs ``x [N, D]``."""
        _, _, v = self._heads(x)
        assert v is not None
        return self.denormalize_values(v)

    def forward(self, obs: Tensor, mult: Tensor, step_of_day: int | Tensor | None = None) -> Tensor:
        """Same as :meth:`act` with ``deterministic=True``."""
        return self.act(obs, mult, step_of_day, deterministic=True)

    def for_population(
        self,
        static_features: npt.ArrayLike,
        profile_blocks: npt.ArrayLike,
        *,
        block_of_step: npt.ArrayLike | None = None,
    ) -> StateAugmentedPolicy:
        """The same trained weights and normalisers for another population of agents (tables
        from :func:`~samarl.training.features.agent_tables`) and, with ``block_of_step``, another
        division of the same day into as many blocks; shared parameterisation only: per-agent
        weights belong to their agents."""
        if self.parameterisation != "shared":
            raise ConfigError("for_population: per-agent weights cannot move to other agents")
        hp = dict(self.hparams)
        hp["hidden_sizes"] = tuple(hp["hidden_sizes"])
        skip = {"static", "profile_blocks"}
        blocks = self.block_of_step.cpu().numpy()
        if block_of_step is not None:
            blocks = as_index("block_of_step", block_of_step, shape=(self.steps_per_day,))
            if int(blocks.max()) + 1 != self.num_blocks or blocks.min() < 0:
                raise ShapeError(
                    f"block_of_step: the policy reads {self.num_blocks} blocks, got blocks "
                    f"{int(blocks.min())}..{int(blocks.max())}"
                )
            skip |= {"block_of_step", "block_position"}
        other = StateAugmentedPolicy(static_features, profile_blocks, blocks, **hp)
        state = {k: v for k, v in self.state_dict().items() if k not in skip}
        other.load_state_dict(state, strict=False)
        return other.to(self.static.device)

    # ------------------------------------------------------------------ saving

    def save_dict(self) -> dict[str, Any]:
        """Everything :meth:`from_save_dict` needs: constructor arguments and the state dict."""
        return {
            "hparams": dict(self.hparams),
            "static_features": self.static.cpu().numpy(),
            "profile_blocks": self.profile_blocks.cpu().numpy(),
            "block_of_step": self.block_of_step.cpu().numpy(),
            "state_dict": {k: v.cpu() for k, v in self.state_dict().items()},
        }

    @classmethod
    def from_save_dict(cls, data: dict[str, Any]) -> StateAugmentedPolicy:
        """Rebuilds a policy saved with :meth:`save_dict`.

        The saved weights must be those its settings make: a file claiming wider layers than it
        holds is refused before anything is allocated for them.
        """
        hp = dict(data["hparams"])
        hp["hidden_sizes"] = tuple(positive_int("hidden_sizes", h) for h in hp["hidden_sizes"])
        blocks = np.asarray(data["block_of_step"])
        stack = len(data["static_features"]) if hp.get("parameterisation") == "per_agent" else 1
        widths = [input_width(int(blocks.max()) + 1), *hp["hidden_sizes"], 1]
        expected = 2 * stack * sum(a * b for a, b in itertools.pairwise(widths))
        held = sum(v.numel() for k, v in data["state_dict"].items() if k.endswith(".weight"))
        if held != expected:
            raise ShapeError(
                f"state_dict: {held} weights, but hidden_sizes {list(hp['hidden_sizes'])} over "
                f"{stack} agent(s) make {expected}"
            )
        hp["init_weights"] = False  # not drawn: every weight is loaded next (strict)
        policy = cls(data["static_features"], data["profile_blocks"], data["block_of_step"], **hp)
        policy.load_state_dict(data["state_dict"])
        return policy
