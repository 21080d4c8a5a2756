"""Train state-augmented policies with PPO on the Lagrangian, all N agents in one batch.

DESIGN.md section 2. For a multiplier vector ``mult`` (one entry per capacity block) the Lagrangian
separates into N independent problems, so every agent ``n`` learns ``pi^n(a | s^n, mult^n)`` alone on

    r^n_t - mult^n_{h(t)} * (g^n_t - C_t / N)

with ``mult^n`` drawn per episode and per agent from a distribution over daily price profiles (flat,
independent per block, smooth, zero) on ``[0, mult_max]``. Agents never see each other: the cost of
an iteration is linear in N (one batched env step and one batched forward per time step, a PPO
update over ``num_steps * N`` samples).

Reads top to bottom: :class:`TrainConfig` -> the multiplier distribution -> the logger ->
:class:`Trainer` (rollouts, update, checkpoints) -> evaluation (the response to flat multipliers)
-> :func:`train`, :func:`load_policy` -> the ``samarl train`` command.

A run folder holds ``config.json`` (the resolved scenario and training config), ``progress.csv`` and
``progress.jsonl`` (one row per iteration, namespaced keys), ``checkpoints/latest.pt`` (resumes the run
exactly), ``policy.pt`` (the trained policy, read by :func:`load_policy`), ``training_curves.png``,
``response.json`` and ``response.png``.
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import inspect
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO, get_args, get_origin, get_type_hints

import numpy as np
import numpy.typing as npt
import torch

from samarl.errors import ConfigError
from samarl.policies import StateAugmentedPolicy, agent_tables
from samarl.ppo import RolloutBatch, compute_gae, ppo_update

__all__ = [
    "KVLogger",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "add_cli_arguments",
    "default_mult_max",
    "load_policy",
    "response_sweep",
    "run_from_args",
    "sample_mults",
    "train",
]


# =============================================================================================== config


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Settings of state-augmented PPO training (CleanRL names). Validated on construction."""

    iterations: int = 150
    """PPO iterations; each collects ``num_steps`` steps of every agent, then updates."""
    num_steps: int = 96
    """Rollout length per agent per iteration (steps; 96 = one day of 15-minute steps)."""
    learning_rate: float = 1e-3
    """Adam step size (annealed linearly to 0 when ``anneal_lr``)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over ``iterations``."""
    gamma: float = 0.99
    """Discount factor per step."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_coef: float = 0.2
    """PPO surrogate clipping coefficient (also clips the value update)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient norm clip (per agent with per-agent weights)."""
    update_epochs: int = 4
    """Passes over each iteration's samples."""
    num_minibatches: int = 8
    """Minibatches per pass (per-agent weights: split along time, every agent in every minibatch)."""
    norm_adv: bool = True
    """Normalise advantages per minibatch (per agent with per-agent weights)."""
    clip_vloss: bool = True
    """Clip the value loss as PPO clips the policy loss."""
    target_kl: float | None = None
    """Stop an iteration's epochs early when the approximate KL exceeds this (None: never)."""
    parameterisation: Literal["shared", "per_agent"] = "shared"
    """``shared``: one network fed agent features; ``per_agent``: each agent its own weights."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (use small ones with per-agent weights)."""
    init_log_std: float = -0.7
    """Initial log standard deviation of the action noise (action range is [0, 1])."""
    agent_copies: int | None = None
    """Copies of every agent simulated side by side, each with its own multipliers, arrivals and
    backlog (more samples per iteration for small scenarios); None: ``ceil(256 / N)``."""
    episode_days: float | None = None
    """Episode length in days (truncated, with the final value bootstrapped); None: the scenario's."""
    mult_max: float | None = None
    """Top of the multiplier range (price units: reward per kW drawn); None: from the scenario."""
    mult_flat_prob: float = 0.35
    """Share of episodes whose multiplier profile is flat (every block the same value)."""
    mult_block_prob: float = 0.15
    """Share of episodes whose profile has independent uniform entries per block."""
    mult_smooth_prob: float = 0.4
    """Share of episodes with a smooth random daily profile (two random harmonics, clipped)."""
    mult_zero_prob: float = 0.1
    """Share of episodes with every entry 0 (unconstrained)."""
    mult_exponent: float = 3.0
    """Levels are ``mult_max * u**mult_exponent``, u uniform: 1 is uniform, > 1 favours low prices."""
    initial_backlog_days: float = 0.5
    """Initial backlogs are ``u**2`` times this many days of the agent's mean arrivals (u uniform)."""
    capacity_term: bool = False
    """Optimise ``r - mult (g - C_t/N)`` rather than ``r - mult g``: the same optimal policy (the
    difference does not depend on actions) but noisier value targets. Logged either way."""
    reward_norm: bool = True
    """Scale each agent's reward by its typical size under the episode's prices (the waiting cost
    plus the price of one step of its mean arrivals), then by a running std of its discounted return.
    Each (agent, price profile) pair is its own problem, and a positive factor leaves its optimal
    policy unchanged; without the first factor, low-price episodes' signal drowns in high-price ones."""
    device: str = "cpu"
    """Torch device: ``cpu`` or ``cuda`` (``cuda:K``)."""
    seed: int = 1
    """One seed for everything: weights, action noise, multipliers, backlogs, the env's arrivals."""
    num_threads: int = 1
    """Torch CPU threads. 1 by default: the per-step batches are small, and a second OpenMP thread
    competing with the engine or other processes for 2 cores made each op up to 20x slower."""
    checkpoint_every: int = 25
    """Save ``checkpoints/latest.pt`` every this many iterations (and at the end)."""
    eval_every: int = 0
    """Run a 3-point flat-multiplier check every this many iterations, logged as ``constraint/sweep_*``
    (0: never during training)."""
    eval_points: int = 21
    """Flat multiplier values swept from 0 to ``mult_max`` after training."""
    eval_days: int = 2
    """Days simulated per swept value; the first is warm-up, the rest are measured."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ConfigError(f"{name}: {what}, got {getattr(self, name)!r}")

        def is_int(v: object) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v: object) -> bool:
            return (
                isinstance(v, (int, float, np.number))
                and not isinstance(v, bool)
                and math.isfinite(v)
            )

        for name in ("iterations", "num_steps", "update_epochs", "num_minibatches", "eval_days"):
            need(
                name,
                is_int(getattr(self, name)) and getattr(self, name) >= 1,
                "must be an integer >= 1",
            )
        for name in ("checkpoint_every", "eval_every"):
            need(
                name,
                is_int(getattr(self, name)) and getattr(self, name) >= 0,
                "must be an integer >= 0",
            )
        need(
            "agent_copies",
            self.agent_copies is None or (is_int(self.agent_copies) and self.agent_copies >= 1),
            "must be None or an integer >= 1",
        )
        need(
            "eval_points",
            is_int(self.eval_points) and self.eval_points >= 2,
            "must be an integer >= 2",
        )
        need("seed", is_int(self.seed) and self.seed >= 0, "must be an integer >= 0")
        need("learning_rate", is_num(self.learning_rate) and self.learning_rate > 0, "must be > 0")
        for name in ("gamma", "gae_lambda"):
            need(
                name,
                is_num(getattr(self, name)) and 0 <= getattr(self, name) <= 1,
                "must be in [0, 1]",
            )
        need("gamma", self.gamma < 1, "must be < 1")
        need("clip_coef", is_num(self.clip_coef) and self.clip_coef > 0, "must be > 0")
        for name in ("ent_coef", "vf_coef", "initial_backlog_days"):
            need(name, is_num(getattr(self, name)) and getattr(self, name) >= 0, "must be >= 0")
        need("max_grad_norm", is_num(self.max_grad_norm) and self.max_grad_norm > 0, "must be > 0")
        need(
            "target_kl",
            self.target_kl is None or (is_num(self.target_kl) and self.target_kl > 0),
            "must be None or > 0",
        )
        need(
            "parameterisation",
            self.parameterisation in ("shared", "per_agent"),
            "must be 'shared' or 'per_agent'",
        )
        need(
            "hidden_sizes",
            isinstance(self.hidden_sizes, tuple)
            and len(self.hidden_sizes) >= 1
            and all(is_int(h) and h >= 1 for h in self.hidden_sizes),
            "must be a non-empty tuple of integers >= 1",
        )
        need("init_log_std", is_num(self.init_log_std), "must be finite")
        need(
            "episode_days",
            self.episode_days is None or (is_num(self.episode_days) and self.episode_days > 0),
            "must be None or > 0",
        )
        need(
            "mult_max",
            self.mult_max is None or (is_num(self.mult_max) and self.mult_max > 0),
            "must be None or > 0",
        )
        probs = ("mult_flat_prob", "mult_block_prob", "mult_smooth_prob", "mult_zero_prob")
        for name in probs:
            need(
                name,
                is_num(getattr(self, name)) and 0 <= getattr(self, name) <= 1,
                "must be in [0, 1]",
            )
        total = sum(getattr(self, p) for p in probs)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"mult_*_prob: the four shares must sum to 1, got {total:g}")
        need("mult_exponent", is_num(self.mult_exponent) and self.mult_exponent > 0, "must be > 0")
        need(
            "device",
            isinstance(self.device, str)
            and (self.device == "cpu" or self.device.startswith("cuda")),
            "must be 'cpu' or 'cuda[:K]'",
        )
        need(
            "num_threads",
            is_int(self.num_threads) and self.num_threads >= 1,
            "must be an integer >= 1",
        )
        need("progress", isinstance(self.progress, bool), "must be true or false")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from a mapping (e.g. a TOML ``[train]`` table); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{unknown[0]}: not a training setting (known: {', '.join(sorted(names))})"
            )
        values = dict(data)
        if "hidden_sizes" in values and isinstance(values["hidden_sizes"], list):
            values["hidden_sizes"] = tuple(values["hidden_sizes"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d


def _field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (used for the CLI help)."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for a, b in itertools.pairwise(body):
        if (
            isinstance(a, ast.AnnAssign)
            and isinstance(a.target, ast.Name)
            and isinstance(b, ast.Expr)
            and isinstance(b.value, ast.Constant)
            and isinstance(b.value.value, str)
        ):
            docs[a.target.id] = " ".join(b.value.value.split())
    return docs


# ==================================================================================== multipliers


def default_mult_max(
    mean_arrival: npt.ArrayLike,
    cost_linear: npt.ArrayLike,
    cost_quadratic: npt.ArrayLike,
    *,
    dt_hours: float,
    steps_per_day: int,
    gamma: float,
    backlog_days: float = 1.5,
) -> float:
    """A multiplier high enough that deferring everything is optimal for (almost) every agent.

    Serving one kWh costs ``mult / dt`` (reward per kWh: ``mult`` per kW over a step of ``dt``
    hours). Holding it costs the marginal waiting cost ``cost_linear + 2 cost_quadratic q`` per step
    at backlog ``q``; with discount ``gamma`` a flat price makes an agent hold until that marginal
    cost reaches ``(1 - gamma) * mult / dt`` (the discount earned by paying later). So the agent keeps
    deferring up to ``backlog_days`` days of arrivals when
    ``mult >= dt * (cost_linear + 2 cost_quadratic * backlog_days * S * mean_arrival) / (1 - gamma)``;
    this returns the 95th percentile of that over agents, rounded up to two significant digits.
    """
    mu = np.asarray(mean_arrival, dtype=np.float64)
    cl = np.asarray(cost_linear, dtype=np.float64)
    cq = np.asarray(cost_quadratic, dtype=np.float64)
    q = backlog_days * steps_per_day * mu
    need = dt_hours * (cl + 2.0 * cq * q) / (1.0 - gamma)
    value = float(np.quantile(need, 0.95))
    if not (value > 0 and math.isfinite(value)):
        return 1.0
    digits = 10 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / digits) * digits


def sample_mults(
    rng: np.random.Generator, num_agents: int, num_blocks: int, mult_max: float, config: TrainConfig
) -> npt.NDArray[np.float32]:
    """One daily multiplier profile per agent, ``[N, m]`` in ``[0, mult_max]``.

    A mixture (shares from ``config``): flat profiles, independent uniform entries per block, smooth
    profiles (a level plus two random harmonics of the day, clipped to the range: they include the
    peaked profiles the dual dynamics produce), and zero. Levels are ``mult_max * u**mult_exponent``.
    """
    n, m = num_agents, num_blocks
    shares = np.array(
        [
            config.mult_flat_prob,
            config.mult_block_prob,
            config.mult_smooth_prob,
            config.mult_zero_prob,
        ]
    )
    kind = rng.choice(4, size=n, p=shares / shares.sum())
    k = config.mult_exponent
    level = rng.random(n) ** k
    blocks = rng.random((n, m)) ** k
    phase = np.arange(m) / m * 2 * np.pi
    amp = rng.random((n, 2)) * rng.random((n, 1))
    shift = rng.random((n, 2)) * 2 * np.pi
    wave = amp[:, :1] * np.cos(phase[None] + shift[:, :1]) + amp[:, 1:] * np.cos(
        2 * phase[None] + shift[:, 1:]
    )
    smooth = np.clip(level[:, None] + wave, 0.0, 1.0)
    out = np.select(
        [kind[:, None] == 0, kind[:, None] == 1, kind[:, None] == 2],
        [np.broadcast_to(level[:, None], (n, m)), blocks, smooth],
        0.0,
    )
    return (out * mult_max).astype(np.float32)


# ========================================================================================= logging


class KVLogger:
    """Key-value recorder with pluggable writers (SB3 style): ``record(key, value)`` then ``dump(step)``.

    Writers: ``progress.csv`` and ``progress.jsonl`` always; TensorBoard when ``torch.utils.tensorboard``
    imports. The CSV header is the union of keys seen so far (rewritten when a new key appears).
    """

    def __init__(self, out_dir: Path, *, resume_iteration: int | None = None) -> None:
        self.out_dir = out_dir
        self.jsonl_path = out_dir / "progress.jsonl"
        self.csv_path = out_dir / "progress.csv"
        self.rows: list[dict[str, float]] = []
        if resume_iteration is not None and self.jsonl_path.exists():
            for line in self.jsonl_path.read_text().splitlines():
                row = json.loads(line)
                if row.get("iteration", 0) <= resume_iteration:
                    self.rows.append(row)
        self._current: dict[str, float] = {}
        self._jsonl: TextIO = open(self.jsonl_path, "w")
        for row in self.rows:
            self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        self._write_csv()
        self._tb: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional extra

            self._tb = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:  # tensorboard is an optional extra
            self._tb = None

    def record(self, key: str, value: float) -> None:
        """Sets ``key`` (``namespace/name``) for the current row."""
        self._current[key] = float(value)

    def record_many(self, prefix: str, values: dict[str, float]) -> None:
        """Records every ``values[k]`` as ``prefix/k``."""
        for k, v in values.items():
            self.record(f"{prefix}/{k}", v)

    def dump(self, iteration: int) -> dict[str, float]:
        """Writes the current row (tagged with ``iteration``) and starts a new one."""
        row = {"iteration": float(iteration), **self._current}
        self._current = {}
        new_keys = self.rows and set(row) - set().union(*self.rows)
        self.rows.append(row)
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        if new_keys or len(self.rows) == 1:
            self._write_csv()
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._keys()).writerow(row)
        if self._tb is not None:
            for k, v in row.items():
                if k != "iteration" and math.isfinite(v):
                    self._tb.add_scalar(k, v, iteration)
        return row

    def _keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for row in self.rows:
            keys.update(dict.fromkeys(row))
        return list(keys)

    def _write_csv(self) -> None:
        with open(self.csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._keys())
            w.writeheader()
            w.writerows(self.rows)

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


# ========================================================================================= trainer


def _scenario_of(scenario: Any) -> Any:
    """A :class:`~samarl.config.ScenarioConfig` from itself, a preset name or a file path."""
    from samarl.config import ScenarioConfig, load_scenario

    return scenario if isinstance(scenario, ScenarioConfig) else load_scenario(scenario)


def _binding_steps(data: Any) -> tuple[npt.NDArray[np.bool_], list[int]]:
    """Steps of the day in blocks where expected total demand exceeds capacity (the evening peak):
    the constraints that bind. Falls back to the block with the highest demand/capacity ratio."""
    demand = np.asarray(data.expected_total_demand, dtype=np.float64)
    cap = np.asarray(data.capacity, dtype=np.float64)
    blocks = np.asarray(data.block_of_step)
    m = int(blocks.max()) + 1
    d = np.bincount(blocks, demand, minlength=m)
    c = np.bincount(blocks, cap, minlength=m)
    binding = [h for h in range(m) if d[h] > c[h]]
    if not binding:
        binding = [int(np.argmax(d / np.maximum(c, 1e-12)))]
    return np.isin(blocks, binding), binding


def _dynamics(data: Any, scenario: Any, copies: int) -> Any:
    """The Rust dynamics of ``copies`` copies of the scenario's agents (row ``r * N + n`` is agent
    ``n``): copies have their own arrivals, backlogs and multipliers, and share agent ``n``'s
    policy."""
    from samarl.envs import Dynamics

    return Dynamics.from_scenario(scenario, data, copies=copies)


def policy_for(
    data: Any, scenario: Any, config: TrainConfig, mult_max: float
) -> StateAugmentedPolicy:
    """A freshly initialised policy for the agents of ``data`` (a built scenario)."""
    params = {k: getattr(data, k) for k in _PARAM_NAMES}
    static, prof = agent_tables(params, data.profiles, data.block_of_step, scenario.dt_hours)
    return StateAugmentedPolicy(
        static,
        prof,
        data.block_of_step,
        mult_max=mult_max,
        parameterisation=config.parameterisation,
        hidden_sizes=config.hidden_sizes,
        init_log_std=config.init_log_std,
        seed=config.seed,
    )


_PARAM_NAMES = ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id")


def _adam(policy: torch.nn.Module, learning_rate: float) -> torch.optim.Adam:
    """Adam (CleanRL's eps), fused into one pass over the parameters where torch supports it: with
    per-agent weights the parameters grow with N, and the unfused step streams them ~10 times."""
    try:
        return torch.optim.Adam(policy.parameters(), lr=learning_rate, eps=1e-5, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch: no fused Adam on this device
        return torch.optim.Adam(policy.parameters(), lr=learning_rate, eps=1e-5)


class Trainer:
    """State-augmented PPO for all agents of one scenario.

    ``collect_rollouts()`` steps the batched dynamics ``num_steps`` times (one batched forward per
    step, writing into preallocated ``[num_steps, copies * N, ...]`` tensors); ``update()`` runs PPO
    on them; ``state()`` / ``load_state()`` capture everything needed to continue exactly.

    Training steps the Rust :class:`~samarl.envs.Dynamics` of the scenario's agents directly
    (``agent_copies`` copies of each, every copy with its own multipliers, arrivals and backlog):
    episodes, random initial backlogs and the multipliers are the trainer's business.
    """

    def __init__(self, scenario: Any, config: TrainConfig, out_dir: str | os.PathLike[str]) -> None:
        self.scenario = scenario = _scenario_of(scenario)
        self.config = cfg = config
        self.out_dir = Path(out_dir)
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device: {cfg.device!r} requested but CUDA is not available")
        self.device = dev = torch.device(cfg.device)
        if torch.get_num_threads() != cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)

        # One seed fans out: torch (weights, action noise, minibatches), numpy (multipliers, initial
        # backlogs, the arrival seed of every episode, hence the Rust env's randomness).
        torch.manual_seed(cfg.seed)
        self.np_rng = np.random.default_rng(cfg.seed)
        self.torch_gen = torch.Generator().manual_seed(cfg.seed + 1)

        self.data = data = scenario.build()
        self.num_agents = n = data.num_agents
        self.copies = cfg.agent_copies or max(1, math.ceil(_MIN_SIMULATED / n))
        self.rows = rows = self.copies * n
        self.steps_per_day = scenario.steps_per_day
        self.num_blocks = scenario.num_blocks
        self.block_of_step = np.asarray(data.block_of_step, dtype=np.int64)
        days = scenario.episode_days if cfg.episode_days is None else cfg.episode_days
        self.episode_steps = max(1, round(days * self.steps_per_day))
        self.dynamics = _dynamics(data, scenario, self.copies)
        self.mult_max = float(
            cfg.mult_max
            if cfg.mult_max is not None
            else default_mult_max(
                data.mean_arrival,
                data.cost_linear,
                data.cost_quadratic,
                dt_hours=scenario.dt_hours,
                steps_per_day=self.steps_per_day,
                gamma=cfg.gamma,
            )
        )
        self.policy = self._make_policy().to(dev)
        self.optimizer = _adam(self.policy, cfg.learning_rate)

        t, d = cfg.num_steps, self.policy.input_dim
        self.x = torch.zeros((t, rows, d), device=dev)
        self.raw_actions = torch.zeros((t, rows), device=dev)
        self.logprobs = torch.zeros((t, rows), device=dev)
        self.values = torch.zeros((t, rows), device=dev)
        self.rewards = torch.zeros((t, rows), device=dev)
        self.dones = torch.zeros((t, rows), device=dev)
        self.cap_per_agent = torch.as_tensor(
            np.asarray(data.capacity, dtype=np.float32) / n, device=dev
        )
        mu = np.tile(np.asarray(data.mean_arrival, dtype=np.float64), self.copies)
        self._mu = np.maximum(mu, 1e-6)
        self._cost = np.tile(
            np.asarray(data.cost_linear, dtype=np.float64)
            + np.asarray(data.cost_quadratic, dtype=np.float64) * np.asarray(data.mean_arrival),
            self.copies,
        )

        # Per-row reward scaling: a factor per episode, then the running std of the discounted return.
        self.episode_scale = torch.ones(rows, device=dev)
        self.ret = torch.zeros(rows, dtype=torch.float64, device=dev)
        self.ret_mean = torch.zeros(rows, dtype=torch.float64, device=dev)
        self.ret_var = torch.ones(rows, dtype=torch.float64, device=dev)
        self.ret_count = 1e-4

        self.iteration = 0
        self.episodes = 0
        self.mult = torch.zeros((rows, self.num_blocks), device=dev)
        self.obs = torch.zeros((rows, self.dynamics.obs_dim), device=dev)
        self._new_episode()

    # ---------------------------------------------------------------- hooks (baselines)

    # The baselines of :mod:`samarl.baselines` subclass this trainer and override these three
    # methods only: the rollouts, the PPO update and the bookkeeping stay in one place.

    def _make_policy(self) -> Any:
        """The policy trained (called once, in ``__init__``): a state-augmented policy."""
        return policy_for(self.data, self.scenario, self.config, self.mult_max)

    def _episode_mults(self) -> npt.NDArray[np.float32]:
        """``[rows, m]`` multipliers of a new episode: drawn from the training distribution."""
        return sample_mults(self.np_rng, self.rows, self.num_blocks, self.mult_max, self.config)

    def _shape_reward(
        self, step_of_day: int, reward: torch.Tensor, use: torch.Tensor, default: torch.Tensor
    ) -> torch.Tensor:
        """The reward agents are trained on at one step, before scaling (``[rows]``), from the env
        reward and resource use; ``default`` is the Lagrangian reward this trainer optimises."""
        return default

    # ---------------------------------------------------------------- episodes

    @property
    def step_of_day(self) -> int:
        """Step of the day of the coming step (episodes start at midnight)."""
        return self.dynamics.step_count % self.steps_per_day

    def _new_episode(self) -> None:
        """Restarts every row with fresh arrivals, random initial backlogs and new multipliers."""
        cfg, rows = self.config, self.rows
        seed = int(self.np_rng.integers(2**62))
        backlog = self.np_rng.random(rows) ** 2 * cfg.initial_backlog_days * self.steps_per_day
        backlog = (backlog * self._mu).astype(np.float32)
        mult = self._episode_mults()
        self.obs.copy_(torch.from_numpy(self.dynamics.reset(seed, backlog)))
        self.mult.copy_(torch.from_numpy(mult))
        self.ret.zero_()
        size = self._mu * (self._cost + mult.mean(axis=1) / self.scenario.dt_hours)
        self.episode_scale.copy_(
            torch.from_numpy((1.0 / np.maximum(size, 1e-12)).astype(np.float32))
        )

    def _scale_rewards(self, r: torch.Tensor) -> torch.Tensor:
        """Reward scaling (``reward_norm``), O(rows): see :attr:`TrainConfig.reward_norm`."""
        if not self.config.reward_norm:
            return r
        r = r * self.episode_scale
        self.ret.mul_(self.config.gamma).add_(r.double())
        self.ret_count += 1.0
        delta = self.ret - self.ret_mean
        self.ret_mean.add_(delta / self.ret_count)
        self.ret_var.add_((delta * (self.ret - self.ret_mean) - self.ret_var) / self.ret_count)
        return (r.double() / torch.sqrt(self.ret_var + 1e-8)).float()

    # ---------------------------------------------------------------- rollouts

    @torch.no_grad()
    def collect_rollouts(self) -> dict[str, float]:
        """Steps every row ``num_steps`` times, filling the rollout storage; returns statistics."""
        cfg, policy, dev = self.config, self.policy, self.device
        s = self.steps_per_day
        sums = dict.fromkeys(("reward", "lagrangian", "load", "capacity", "served", "arrived"), 0.0)
        mult_sum = 0.0
        for t in range(cfg.num_steps):
            tod = self.step_of_day
            x = policy.features(self.obs, self.mult, tod, update_stats=True)
            action, raw, logp, v_norm = policy.sample(x, self.torch_gen)
            self.x[t] = x
            self.raw_actions[t] = raw
            self.logprobs[t] = logp
            self.values[t] = policy.denormalize_values(v_norm)
            out = self.dynamics.step(action.cpu().numpy())
            reward = torch.from_numpy(out.reward).to(dev)
            use = torch.from_numpy(out.resource_use).to(dev)
            mult_h = self.mult[:, int(self.block_of_step[tod])]
            price = mult_h * use
            lagrangian = reward - price + mult_h * self.cap_per_agent[tod]
            self.rewards[t] = self._scale_rewards(
                self._shape_reward(
                    tod, reward, use, lagrangian if cfg.capacity_term else reward - price
                )
            )
            sums["reward"] += float(reward.sum())
            sums["lagrangian"] += float(lagrangian.sum())
            sums["load"] += float(use.sum())
            sums["capacity"] += float(self.cap_per_agent[tod]) * self.rows
            sums["served"] += float(out.served.sum(dtype=np.float64))
            sums["arrived"] += float(out.arrived.sum(dtype=np.float64))
            mult_sum += float(mult_h.mean())
            self.obs.copy_(torch.from_numpy(out.obs))
            if self.dynamics.step_count >= self.episode_steps:
                # Time limit: bootstrap from the final state's value, then start a new episode.
                final = policy.value(self.obs, self.mult, (tod + 1) % s)  # scaled reward units
                self.rewards[t] += cfg.gamma * final
                self.dones[t] = 1.0
                self.episodes += 1
                self._new_episode()
            else:
                self.dones[t] = 0.0
        agent_steps = cfg.num_steps * self.rows
        return {
            "rollout/reward": sums["reward"] / agent_steps,
            "rollout/lagrangian_reward": sums["lagrangian"] / agent_steps,
            "rollout/episodes": float(self.episodes),
            "dual/mult_mean": mult_sum / cfg.num_steps,
            "dual/mult_max": self.mult_max,
            "constraint/load_over_capacity": sums["load"] / max(sums["capacity"], 1e-12),
            "constraint/served_over_arrived": sums["served"] / max(sums["arrived"], 1e-12),
        }

    # ---------------------------------------------------------------- update

    def update(self) -> dict[str, float]:
        """One PPO update on the stored rollouts."""
        cfg = self.config
        with torch.no_grad():
            next_value = self.policy.value(self.obs, self.mult, self.step_of_day)
        adv, ret = compute_gae(
            self.rewards,
            self.values,
            self.dones,
            next_value,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
        )
        batch = RolloutBatch(self.x, self.raw_actions, self.logprobs, self.values, adv, ret)
        stats = ppo_update(self.policy, self.optimizer, batch, cfg, generator=self.torch_gen)
        return {f"train/{k}": v for k, v in stats.items()}

    def iterate(self) -> dict[str, float]:
        """One iteration: anneal the learning rate, collect, update. Returns the logged values."""
        cfg = self.config
        lr = cfg.learning_rate * (1.0 - self.iteration / cfg.iterations if cfg.anneal_lr else 1.0)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        t0 = time.perf_counter()
        stats = self.collect_rollouts()
        t1 = time.perf_counter()
        stats |= self.update()
        t2 = time.perf_counter()
        self.iteration += 1
        stats["train/learning_rate"] = lr
        stats["time/rollout_s"] = t1 - t0
        stats["time/update_s"] = t2 - t1
        stats["time/iteration_s"] = t2 - t0
        stats["time/agent_steps_per_s"] = cfg.num_steps * self.rows / (t2 - t0)
        return stats

    # ---------------------------------------------------------------- checkpoints

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly."""
        return {
            "iteration": self.iteration,
            "episodes": self.episodes,
            "policy": self.policy.save_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "torch_gen": self.torch_gen.get_state(),
            "np_rng": self.np_rng.bit_generator.state,
            "dynamics": self.dynamics.get_state(),
            "obs": self.obs.cpu(),
            "mult": self.mult.cpu(),
            "reward_norm": {
                "episode_scale": self.episode_scale.cpu(),
                "ret": self.ret.cpu(),
                "mean": self.ret_mean.cpu(),
                "var": self.ret_var.cpu(),
                "count": self.ret_count,
            },
            "mult_max": self.mult_max,
            "copies": self.copies,
            "config": self.config.to_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state`'s output (from the same scenario and config)."""
        if state["copies"] != self.copies or state["mult_max"] != self.mult_max:
            raise ConfigError(
                "resume: the checkpoint was written with another scenario or config "
                f"(copies {state['copies']} vs {self.copies}, mult_max {state['mult_max']} vs "
                f"{self.mult_max})"
            )
        dev = self.device
        self.iteration = int(state["iteration"])
        self.episodes = int(state["episodes"])
        self.policy.load_state_dict(state["policy"]["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.torch_gen.set_state(state["torch_gen"])
        self.np_rng.bit_generator.state = state["np_rng"]
        self.dynamics.set_state(state["dynamics"])
        self.obs.copy_(state["obs"].to(dev))
        self.mult.copy_(state["mult"].to(dev))
        rn = state["reward_norm"]
        self.episode_scale.copy_(rn["episode_scale"].to(dev))
        self.ret.copy_(rn["ret"].to(dev))
        self.ret_mean.copy_(rn["mean"].to(dev))
        self.ret_var.copy_(rn["var"].to(dev))
        self.ret_count = float(rn["count"])

    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Writes :meth:`state` to ``checkpoints/latest.pt`` (atomically)."""
        path = path or self.out_dir / "checkpoints" / "latest.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)
        return path

    def load_checkpoint(self, path: Path | None = None) -> None:
        """Continues from a checkpoint written by :meth:`save_checkpoint`."""
        path = path or self.out_dir / "checkpoints" / "latest.pt"
        self.load_state(torch.load(path, map_location="cpu", weights_only=False))


#: With fewer agents than this, training steps copies of them (see ``TrainConfig.agent_copies``).
_MIN_SIMULATED = 256


# ====================================================================================== evaluation


@torch.no_grad()
def response_sweep(
    policy: StateAugmentedPolicy,
    scenario: Any,
    mult_values: npt.ArrayLike,
    *,
    days: int = 2,
    warmup_days: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The deterministic policies' response to flat multiplier profiles.

    For every value, all agents start at midnight with empty backlogs and the same arrivals (common
    random numbers across values) and play ``clip(mean, 0, 1)`` for ``days`` days with every entry of
    ``mult`` equal to the value. Load and capacity are measured over the binding blocks (where
    expected total demand exceeds capacity) of the days after ``warmup_days`` (default: the first
    day, when ``days > 1``): by energy conservation
    the day-average load equals mean demand at any price that does not postpone demand, so the
    peak blocks are where a price response shows. ``served`` is energy served / energy arrived over
    the whole run from empty backlogs (what is still waiting at the end counts as unserved).
    """
    scenario = _scenario_of(scenario)
    if warmup_days is None:
        warmup_days = min(1, days - 1)
    if not 0 <= warmup_days < days:
        raise ConfigError(f"warmup_days: must be in [0, days = {days}), got {warmup_days}")
    data = scenario.build()
    dyn = _dynamics(data, scenario, 1)
    n, s, m = data.num_agents, scenario.steps_per_day, scenario.num_blocks
    values = np.asarray(mult_values, dtype=np.float64)
    mask_day, binding = _binding_steps(data)
    steps = days * s
    window = np.concatenate([mask_day & (d >= warmup_days) for d in range(days)])
    cap_day = np.asarray(data.capacity, dtype=np.float64)
    cap = np.tile(cap_day, days)
    groups, group_names = _agent_groups(data, scenario)
    was_training = policy.training
    policy.eval()
    loads, last_day, served, group_power = [], [], [], []
    for value in values:
        obs = torch.from_numpy(dyn.reset(seed)).to(device)
        mult = torch.full((n, m), float(value), device=device)
        total = np.zeros(steps)
        agent_load = np.zeros(n)
        served_sum = arrived_sum = 0.0
        for t in range(steps):
            a = policy.act(obs, mult, t % s, deterministic=True)
            out = dyn.step(a.cpu().numpy())
            total[t] = float(out.resource_use.sum(dtype=np.float64))
            if window[t]:
                agent_load += out.resource_use
            served_sum += float(out.served.sum(dtype=np.float64))
            arrived_sum += float(out.arrived.sum(dtype=np.float64))
            obs = torch.from_numpy(out.obs).to(device)
        loads.append(float(total[window].mean()))
        last_day.append(float(total[steps - s :].mean()))
        served.append(served_sum / max(arrived_sum, 1e-12))
        per_agent = agent_load / window.sum()
        group_power.append([float(per_agent[groups == g].mean()) for g in range(len(group_names))])
    policy.train(was_training)
    demand = np.tile(np.asarray(data.expected_total_demand, dtype=np.float64), days)
    load_arr = np.asarray(loads)
    zero = int(np.argmin(np.abs(values)))
    return {
        "mult": values.tolist(),
        "total_load": loads,
        "capacity": float(cap[window].mean()),
        "served_at_zero": served[zero],
        "served": served,
        "expected_demand": float(demand[window].mean()),
        "monotone": bool(np.all(np.diff(load_arr) <= 1e-6 * max(float(load_arr.max()), 1e-12))),
        "total_load_day_mean": last_day,
        "capacity_day_mean": float(cap_day.mean()),
        "groups": group_names,
        "group_mean_power": group_power,
        "num_agents": n,
        "window": {
            "description": (
                "total_load, capacity and expected_demand are mean total power (kW) over the steps "
                "of the binding blocks (expected total demand > capacity) of the days after the "
                "warm-up; served is energy served / arrived over the whole run from empty backlogs "
                "(backlog left at the end counts as unserved); total_load_day_mean is the mean "
                "total power over the last day"
            ),
            "blocks": binding,
            "days": days,
            "warmup_days": warmup_days,
            "steps_per_day": s,
            "seed": seed,
        },
    }


def _agent_groups(data: Any, scenario: Any) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Agent groups for the response plot: by arrival profile when there are a few, else by
    quartile of mean arrivals."""
    pid = np.asarray(data.profile_id, dtype=np.int64)
    ids = np.unique(pid)
    if 1 < ids.size <= 8:
        names = list(scenario.profiles) if not scenario.uses_measured_profiles else []
        label = [names[i] if i < len(names) else f"profile {i}" for i in ids]
        return np.searchsorted(ids, pid), label
    mu = np.asarray(data.mean_arrival, dtype=np.float64)
    g = np.searchsorted(np.quantile(mu, [0.25, 0.5, 0.75]), mu, side="right")
    if mu.size < 8 or np.unique(g).size < 4:
        return np.zeros(mu.size, dtype=np.int64), ["all agents"]
    return g, ["demand Q1 (lowest)", "demand Q2", "demand Q3", "demand Q4 (highest)"]


def _quick_check(trainer: Trainer) -> dict[str, float]:
    """A 3-point flat-multiplier check during training (``constraint/sweep_*``)."""
    cfg = trainer.config
    res = response_sweep(
        trainer.policy,
        trainer.scenario,
        [0.0, 0.5 * trainer.mult_max, trainer.mult_max],
        days=cfg.eval_days,
        seed=cfg.seed + 7919,
        device=trainer.device,
    )
    cap = max(res["capacity"], 1e-12)
    return {
        "constraint/sweep_load_at_zero": res["total_load"][0] / cap,
        "constraint/sweep_load_at_half": res["total_load"][1] / cap,
        "constraint/sweep_load_at_max": res["total_load"][2] / cap,
        "constraint/sweep_served_at_zero": res["served_at_zero"],
    }


def _plot_curves(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("rollout/lagrangian_reward", "Lagrangian reward per agent-step"),
        ("rollout/reward", "env reward (waiting cost) per agent-step"),
        ("constraint/served_over_arrived", "served / arrived (rollouts)"),
        ("train/value_loss", "value loss"),
        ("train/approx_kl", "approx. KL"),
        ("train/action_std", "action std"),
    ]
    sweep = [
        k
        for k in (
            "constraint/sweep_load_at_zero",
            "constraint/sweep_load_at_half",
            "constraint/sweep_load_at_max",
        )
        if any(k in r for r in rows)
    ]
    fig, axes = plt.subplots(2, 4 if sweep else 3, figsize=(16 if sweep else 12, 6.5))
    flat = axes.ravel()
    it = [r["iteration"] for r in rows]
    for ax, (key, title) in zip(flat, panels, strict=False):
        ax.plot(it, [r.get(key, np.nan) for r in rows])
        ax.set(title=title, xlabel="iteration")
    if sweep:
        ax = flat[6]
        for key in sweep:
            pts = [(r["iteration"], r[key]) for r in rows if key in r]
            ax.plot(*zip(*pts, strict=True), "o-", label=key.split("sweep_load_")[1])
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.set(title="peak load / capacity at flat mult", xlabel="iteration")
        ax.legend()
        ax = flat[7]
        pts = [
            (r["iteration"], r["constraint/sweep_served_at_zero"])
            for r in rows
            if "constraint/sweep_served_at_zero" in r
        ]
        ax.plot(*zip(*pts, strict=True), "o-")
        low = min(0.95, *(p[1] for p in pts))
        ax.set(title="served / arrived at mult = 0", xlabel="iteration", ylim=(low - 0.01, 1.01))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_response(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mult = np.asarray(res["mult"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(mult, res["total_load"], "o-", label="total load (binding blocks)")
    a.axhline(res["capacity"], color="k", ls="--", label="capacity")
    a.axhline(res["expected_demand"], color="gray", ls=":", label="expected demand")
    a.set(xlabel="flat multiplier", ylabel="kW", title="Response of the trained policies")
    a.legend()
    power = np.asarray(res["group_mean_power"])
    for g, name in enumerate(res["groups"]):
        b.plot(mult, power[:, g], "o-", label=name)
    b.set(xlabel="flat multiplier", ylabel="mean power per agent (kW)", title="By agent group")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ======================================================================================= front end


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What :func:`train` returns."""

    policy: StateAugmentedPolicy
    """The trained policies (all agents)."""
    out_dir: Path
    """The run folder."""
    history: list[dict[str, float]] = field(repr=False)
    """One logged row per iteration."""
    response: dict[str, Any] | None
    """The contents of ``response.json`` (None when evaluation was skipped)."""
    wall_time_s: float
    """Seconds spent in this call."""
    iterations: int
    """Iterations completed (in total, counting a resumed run's earlier ones)."""


def _scenario_dict(scenario: Any) -> Any:
    for name in ("to_dict", "as_dict"):
        if hasattr(scenario, name):
            return getattr(scenario, name)()
    if dataclasses.is_dataclass(scenario) and not isinstance(scenario, type):
        return dataclasses.asdict(scenario)
    return repr(scenario)


def train(
    scenario: Any,
    config: TrainConfig | None = None,
    out_dir: str | os.PathLike[str] = "runs/train",
    *,
    resume: bool = False,
    stop_after: int | None = None,
    evaluate: bool = True,
    callback: Callable[[Trainer, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Trains state-augmented policies for every agent of ``scenario``; writes the run to ``out_dir``.

    Parameters
    ----------
    scenario
        A :class:`samarl.config.ScenarioConfig`.
    config
        Training settings (default :class:`TrainConfig`).
    out_dir
        Run folder (created).
    resume
        Continue from ``out_dir/checkpoints/latest.pt`` when it exists.
    stop_after
        Stop (with a checkpoint) once this many iterations are done in total, without evaluating:
        an interrupted run that :func:`train` with ``resume=True`` continues exactly. (Ctrl-C keeps
        the last periodic checkpoint, every ``checkpoint_every`` iterations.)
    evaluate
        Run the flat-multiplier sweep at the end (``response.json``, ``response.png``).
    callback
        Called after every iteration with the trainer and the logged row.
    """
    config = config or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    trainer = Trainer(scenario, config, out)
    scenario = trainer.scenario
    ckpt = out / "checkpoints" / "latest.pt"
    resumed = resume and ckpt.exists()
    if resumed:
        trainer.load_checkpoint(ckpt)
    (out / "config.json").write_text(
        json.dumps(
            {
                "scenario": _scenario_dict(scenario),
                "train": config.to_dict(),
                "resolved": {
                    "mult_max": trainer.mult_max,
                    "episode_steps": trainer.episode_steps,
                    "num_agents": trainer.num_agents,
                    "agent_copies": trainer.copies,
                    "num_blocks": trainer.num_blocks,
                    "input_dim": trainer.policy.input_dim,
                    "torch_threads": torch.get_num_threads(),
                    "device": str(trainer.device),
                },
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    logger = KVLogger(out, resume_iteration=trainer.iteration if resumed else None)
    last = config.iterations if stop_after is None else min(stop_after, config.iterations)
    bar = None
    if config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, initial=trainer.iteration, desc="train", unit="it")
    try:
        while trainer.iteration < last:
            stats = trainer.iterate()
            if config.eval_every and trainer.iteration % config.eval_every == 0:
                stats |= _quick_check(trainer)
            stats["time/elapsed_s"] = time.perf_counter() - start
            for key, value in stats.items():
                logger.record(key, value)
            row = logger.dump(trainer.iteration)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    lag=f"{stats['rollout/lagrangian_reward']:.3g}",
                    served=f"{stats['constraint/served_over_arrived']:.3f}",
                    kl=f"{stats['train/approx_kl']:.3f}",
                    sps=f"{stats['time/agent_steps_per_s']:.3g}",
                )
            if callback is not None:
                callback(trainer, row)
            if config.checkpoint_every and trainer.iteration % config.checkpoint_every == 0:
                trainer.save_checkpoint()
    finally:
        # Interrupted inside an iteration, the state is half-updated: the last checkpoint (and the
        # log rows up to it, which a resumed run keeps) is what survives.
        if bar is not None:
            bar.close()
        logger.close()
    trainer.save_checkpoint()
    torch.save(trainer.policy.save_dict(), out / "policy.pt")
    _plot_curves(logger.rows, out / "training_curves.png")
    response = None
    if evaluate and trainer.iteration >= config.iterations:
        values = np.linspace(0.0, trainer.mult_max, config.eval_points)
        response = response_sweep(
            trainer.policy,
            scenario,
            values,
            days=config.eval_days,
            seed=config.seed + 7919,
            device=trainer.device,
        )
        response["mult_max"] = trainer.mult_max
        response["iterations"] = trainer.iteration
        response["train_wall_time_s"] = time.perf_counter() - start
        (out / "response.json").write_text(json.dumps(response, indent=2) + "\n")
        _plot_response(response, out / "response.png")
    return TrainResult(
        trainer.policy, out, logger.rows, response, time.perf_counter() - start, trainer.iteration
    )


def load_policy(
    run_dir: str | os.PathLike[str], device: str = "cpu", *, scenario: Any = None
) -> StateAugmentedPolicy:
    """The trained policy of a run folder (``policy.pt``, else the latest checkpoint), in eval mode.

    Use it as ``policy.act(obs [N, obs_dim], mult [N, m], step_of_day, deterministic=True)``;
    ``policy.mult_max`` and ``policy.num_blocks`` describe the multiplier it expects. With
    ``scenario`` (a config, preset name or file), a shared-weights policy is rebound to that
    scenario's population (e.g. 10,000 agents from a run trained on 1,000).
    """
    run = Path(run_dir)
    path = run / "policy.pt"
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=False)
    else:
        ckpt = run / "checkpoints" / "latest.pt"
        if not ckpt.exists():
            raise FileNotFoundError(
                f"{run}: no policy.pt or checkpoints/latest.pt (not a training run?)"
            )
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)["policy"]
    policy = StateAugmentedPolicy.from_save_dict(saved)
    if scenario is not None:
        sc = _scenario_of(scenario)
        data = sc.build()
        params = {k: getattr(data, k) for k in _PARAM_NAMES}
        static, prof = agent_tables(params, data.profiles, data.block_of_step, sc.dt_hours)
        same = static.shape == tuple(policy.static.shape) and np.array_equal(
            static, policy.static.numpy()
        )
        if not same:
            policy = policy.for_population(static, prof)
    return policy.to(device).eval()


# ============================================================================================= CLI

#: Options that ``samarl train`` sets itself rather than from TrainConfig's fields.
_CLI_SKIP = {"progress"}


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``samarl train``: the scenario, the run folder, and every :class:`TrainConfig` field
    (``--learning-rate``, ``--num-steps``, ...), whose help is the field's docstring."""
    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--config",
        metavar="FILE",
        help="scenario file (TOML/YAML/JSON), or an experiment file with [scenario] and [train] "
        "tables (the [train] table sets TrainConfig fields; options given here override it)",
    )
    src.add_argument(
        "--preset",
        metavar="NAME",
        help="a named scenario preset: small, default (the default), ...",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="run folder")
    parser.add_argument(
        "--agents", type=int, metavar="N", help="override the scenario's number of agents"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from DIR/checkpoints/latest.pt"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-eval", action="store_true", help="skip the flat-multiplier sweep")
    docs = _field_docs(TrainConfig)
    hints = get_type_hints(TrainConfig)
    group = parser.add_argument_group("training settings (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in _CLI_SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{docs.get(f.name, '')} (default: {f.default!r})".replace("%", "%%")
        kind = hints[f.name]
        if kind is bool:
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif f.name == "hidden_sizes":
            group.add_argument(flag, dest=f.name, type=int, nargs="+", default=None, help=help_text)
        elif get_origin(kind) is Literal:
            group.add_argument(
                flag, dest=f.name, choices=get_args(kind), default=None, help=help_text
            )
        else:
            base = [a for a in get_args(kind) if a is not type(None)] or [kind]
            group.add_argument(flag, dest=f.name, type=base[0], default=None, help=help_text)


def _load_scenario(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The scenario of ``--preset`` / ``--config`` and the ``[train]`` table of a config file.

    A config file is a scenario file, or an experiment file with ``[scenario]`` and ``[train]``
    tables (TOML, YAML or JSON).
    """
    from samarl.config import ScenarioConfig, load_scenario

    table: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        scenario = load_scenario(path)
        raw = _read_mapping(path)
        if isinstance(raw.get("train"), dict):
            table = dict(raw["train"])
    else:
        scenario = ScenarioConfig.preset(args.preset or "default")
    if args.agents is not None:
        scenario = scenario.replace(num_agents=args.agents)
    return scenario, table


def _read_mapping(path: Path) -> dict[str, Any]:
    """The top-level table of a TOML / YAML / JSON file (empty when it cannot be read as one)."""
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    data: Any = {}
    if suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
    elif suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    elif suffix == ".json":
        data = json.loads(text)
    return data if isinstance(data, dict) else {}


def run_from_args(args: argparse.Namespace) -> int:
    """Runs ``samarl train``."""
    scenario, table = _load_scenario(args)
    values = dict(table)
    for f in dataclasses.fields(TrainConfig):
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = tuple(v) if f.name == "hidden_sizes" else v
    values["progress"] = not args.no_progress
    config = TrainConfig.from_dict(values)
    res = train(scenario, config, args.out, resume=args.resume, evaluate=not args.no_eval)
    print(
        f"trained {res.iterations} iterations in {res.wall_time_s:.1f} s; run folder {res.out_dir}"
    )
    if res.response is not None:
        r = res.response
        print(
            f"flat-mult response (binding blocks {r['window']['blocks']}): load {r['total_load'][0]:,.1f} kW "
            f"at mult=0 -> {r['total_load'][-1]:,.1f} kW at mult={r['mult'][-1]:g} (capacity "
            f"{r['capacity']:,.1f} kW); served at mult=0: {r['served_at_zero']:.4f}; "
            f"monotone: {r['monotone']}"
        )
    return 0
