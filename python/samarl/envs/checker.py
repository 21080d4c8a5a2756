"""``check_batched_env``: checks that an env follows samarl's native batched API.

Like Stable-Baselines3's ``check_env``, for the batched contract of docs/environment.md: array dtypes
and shapes, zero-copy output buffers, seeded determinism, truncation at the episode's end, clear
errors on bad actions (that leave the state unchanged), and the physics every demand-response env
must respect (non-negative flows, power within each agent's limit, energy balance per agent).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from samarl._validate import positive_int
from samarl._validate import seed as seed_
from samarl.errors import ArgumentTypeError

__all__ = ["EnvCheckError", "check_batched_env"]

F32 = npt.NDArray[np.float32]

_OUTPUTS = ("reward", "resource_use", "served", "arrived")
#: What a batched env must have for the checker to run it at all.
_API = (
    "num_agents",
    "obs_dim",
    "steps_per_day",
    "num_blocks",
    "episode_steps",
    "dt_hours",
    "block_of_step",
    "capacity",
    "capacity_per_agent",
    "constraints",
    "t",
    "backlog",
    "reset",
    "step",
)


class EnvCheckError(AssertionError):
    """The env broke the batched API contract (the message says how)."""


def _require(ok: object, message: str) -> None:
    if not ok:
        raise EnvCheckError(message)


def _check_array(name: str, x: Any, shape: tuple[int, ...], dtype: type[np.generic]) -> None:
    _require(isinstance(x, np.ndarray), f"{name}: expected a numpy array, got {type(x).__name__}")
    _require(x.dtype == dtype, f"{name}: expected dtype {np.dtype(dtype)}, got {x.dtype}")
    _require(x.shape == shape, f"{name}: expected shape {list(shape)}, got {list(x.shape)}")
    _require(x.flags.c_contiguous, f"{name}: must be C-contiguous")
    if np.issubdtype(x.dtype, np.floating):
        _require(np.isfinite(x).all(), f"{name}: contains NaN or inf")


def check_batched_env(env: Any, *, seed: int = 0, max_steps: int = 1000) -> None:
    """Runs ``env`` through its API and raises :class:`EnvCheckError` at the first violation.

    Parameters
    ----------
    env
        A batched env (e.g. :class:`~samarl.envs.DemandResponseEnv`). It is reset and stepped.
    seed
        Seed for the env and for the random actions.
    max_steps
        Steps to run; the whole episode (and the error on stepping past it) is checked when it is
        at most this long.

    An ``env`` without the batched API's attributes (``num_agents``, ``reset``, ``step``, ...)
    raises :class:`~samarl.errors.ArgumentTypeError` listing what it lacks; a wrong ``seed`` or
    ``max_steps`` an :class:`~samarl.errors.InvalidValueError`.
    """
    missing = [name for name in _API if not hasattr(env, name)]
    if missing:
        raise ArgumentTypeError(
            f"env: expected a batched env (e.g. samarl.envs.DemandResponseEnv), but "
            f"{type(env).__name__} has no {', '.join(missing)}"
        )
    seed = seed_(seed)
    max_steps = positive_int("max_steps", max_steps)
    n, obs_dim = env.num_agents, env.obs_dim
    s, m = env.steps_per_day, env.num_blocks
    _require(isinstance(n, int) and n > 0, f"num_agents: expected an int > 0, got {n!r}")
    _require(
        isinstance(obs_dim, int) and obs_dim > 0, f"obs_dim: expected an int > 0, got {obs_dim!r}"
    )
    _require(isinstance(s, int) and s > 0, f"steps_per_day: expected an int > 0, got {s!r}")
    _require(
        isinstance(env.episode_steps, int) and env.episode_steps > 0,
        f"episode_steps: expected an int > 0, got {env.episode_steps!r}",
    )

    # The constraint.
    _check_array("block_of_step", env.block_of_step, (s,), np.int64)
    blocks = env.block_of_step
    _require(
        blocks[0] == 0 and (np.diff(blocks) >= 0).all() and set(blocks.tolist()) == set(range(m)),
        f"block_of_step: must be non-decreasing and cover blocks 0..{m - 1}",
    )
    _check_array("capacity", env.capacity, (s,), np.float32)
    _require((env.capacity > 0).all(), "capacity: must be > 0 at every step")
    _check_array("capacity_per_agent", env.capacity_per_agent, (s,), np.float32)
    _require(
        np.allclose(env.capacity_per_agent * n, env.capacity, rtol=1e-5),
        "capacity_per_agent: must equal capacity / num_agents",
    )
    _require(len(env.constraints) >= 1, "constraints: the env must declare its constraints")

    # Reset.
    obs = env.reset(seed=seed)
    _check_array("reset() observation", obs, (n, obs_dim), np.float32)
    _require(env.t == 0, f"t: expected 0 after reset, got {env.t}")
    obs_buffer = obs

    rng = np.random.default_rng(seed)
    steps = min(max_steps, env.episode_steps)
    actions = rng.uniform(-0.25, 1.25, size=(steps, n)).astype(
        np.float32
    )  # out of range is clipped
    first = _run(env, actions, obs_buffer, check_physics=True)

    if steps == env.episode_steps:
        _require(
            _raises(env.step, np.zeros(n, np.float32), RuntimeError),
            "step() after the episode's last step must raise RuntimeError (call reset())",
        )

    # Determinism: the same seed and actions give bit-identical trajectories.
    env.reset(seed=seed)
    again = _run(env, actions[: min(steps, 8)], None, check_physics=False)
    for k, (a, b) in enumerate(zip(first, again, strict=False)):
        for name in ("obs", *_OUTPUTS):
            _require(
                np.array_equal(a[name], b[name]),
                f"determinism: {name} differs at step {k} for the same seed and actions",
            )

    # reset() without a seed starts a different episode (when arrivals are noisy enough to tell).
    env.reset()
    k = min(steps, 4)
    unseeded = _run(env, actions[:k], None, check_physics=False)
    if getattr(getattr(env, "scenario", None), "noise", 0.0) >= 0.01:
        _require(
            any(
                not np.array_equal(u["arrived"], f["arrived"])
                for u, f in zip(unseeded, first, strict=False)
            ),
            "reset(): an unseeded reset must not repeat the previous seed's arrivals",
        )

    # Bad actions raise a ValueError and change nothing.
    t, backlog = env.t, env.backlog.copy()
    for bad, what in (
        (np.zeros(n + 1, np.float32), "actions of the wrong length"),
        (np.zeros((n, 2), np.float32), "actions of the wrong shape"),
        (np.full(n, np.nan, np.float32), "NaN actions"),
        (np.full(n, np.inf, np.float32), "inf actions"),
    ):
        _require(_raises(env.step, bad, ValueError), f"step(): {what} must raise a ValueError")
        _require(
            env.t == t and np.array_equal(env.backlog, backlog),
            f"step(): {what} must leave the state unchanged",
        )


def _raises(fn: Any, arg: Any, exc: type[BaseException]) -> bool:
    try:
        fn(arg)
    except exc:
        return True
    return False


def _run(
    env: Any, actions: F32, obs_buffer: F32 | None, *, check_physics: bool
) -> list[dict[str, F32]]:
    """Steps ``env`` with each row of ``actions``; returns copies of the outputs, checked."""
    n = env.num_agents
    dt = np.float32(env.dt_hours)
    backlog = env.backlog.astype(np.float64)
    trajectory = []
    for a in actions:
        t = env.t
        out = env.step(a)
        where = f"step {t}"
        _check_array(f"{where}: obs", out.obs, (n, env.obs_dim), np.float32)
        for name in _OUTPUTS:
            _check_array(f"{where}: {name}", getattr(out, name), (n,), np.float32)
        _require(
            out.terminated is False, f"{where}: terminated must be False (households never end)"
        )
        _require(
            out.truncated is (t + 1 == env.episode_steps),
            f"{where}: truncated must be True exactly on the episode's last step",
        )
        _require(env.t == t + 1, f"{where}: t must advance by one")
        if obs_buffer is not None:
            _require(
                np.shares_memory(out.obs, obs_buffer),
                f"{where}: obs must be the env's buffer (allocated once, written in place)",
            )
        if check_physics:
            g, e, d = out.resource_use, out.served, out.arrived
            _require(
                (g >= 0).all() and (e >= 0).all() and (d >= 0).all(), f"{where}: negative flow"
            )
            _require(
                np.allclose(g * dt, e, rtol=1e-5, atol=1e-7),
                f"{where}: resource_use * dt != served",
            )
            max_energy = out.obs[:, 5]  # pmax * dt
            _require(
                (e <= max_energy * (1 + 1e-5) + 1e-7).all(), f"{where}: served above max power"
            )
            new_backlog = out.obs[:, 0].astype(np.float64)
            _require((new_backlog >= 0).all(), f"{where}: negative backlog")
            balance = backlog + d - e - new_backlog
            scale = 1.0 + np.abs(backlog) + d
            _require(
                (np.abs(balance) <= 1e-5 * scale).all(),
                f"{where}: energy balance broken (max error {np.abs(balance).max():.3g} kWh, "
                f"agent {int(np.argmax(np.abs(balance)))})",
            )
            backlog = new_backlog
        trajectory.append({"obs": out.obs.copy(), **{k: getattr(out, k).copy() for k in _OUTPUTS}})
    return trajectory
