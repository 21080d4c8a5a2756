"""TorchRL ``EnvBase`` over the batched engine: N households as one agent group, no per-agent Python.

:class:`DemandResponseTorchRLEnv` steps :class:`~samarl.envs.DemandResponseEnv` once per
``step`` and hands TorchRL whole ``[N, ...]`` tensors: every step the engine writes into one fresh
buffer whose torch views are the step's entries (fresh, because TorchRL keeps every step's
tensors: rollouts stack them), so there is no copy and Python never loops over agents. The env
also does ``step`` and ``step_and_maybe_reset`` itself, without TorchRL's generic
post-processing, which costs several engine steps at thousands of agents (see the comment above
:meth:`DemandResponseTorchRLEnv.step`). Importing this module needs ``torchrl``
(``pip install samarl[torchrl]``).

Threads: the engine steps its agents on its own thread pool (:func:`samarl.set_num_threads`);
torch's intra-op threads compete with it for the same cores, so step with
``torch.set_num_threads(1)`` unless the policy needs more (``samarl bench envs`` does).

The tensordict (``B`` = ``batch_size``, empty for one population or ``[num_envs]`` for
``num_envs`` independent populations, the engine's ``copies``; ``N`` = households per population,
``m`` = constraint blocks per day):

- ``("household", "observation")``: ``float32 [*B, N, 7]`` (columns: :data:`~samarl.envs.OBS_FIELDS`),
  with finite bounds;
- ``("household", "mult")`` (only with ``mult=`` or ``mult_max=``): ``float32 [*B, N, m]``, each
  household's multiplier vector rolled so the coming step's block comes first (the convention of
  samarl's policies and of :class:`~samarl.envs.HouseholdEnv`);
- ``("household", "info", "resource_use" | "served" | "arrived")``: ``float32 [*B, N]``, the step
  just taken (kW, kWh, kWh; zeros after a reset);
- ``("constraint", "total_use" | "capacity")``: ``float32 [*B, 1]``, the population's total power
  and the grid capacity ``C_t`` (kW) of the step just taken, and ``("constraint", "block")``
  (``int64 [*B, 1]``) its block: the shared constraint is ``total_use <= capacity`` on average per
  block (zeros after a reset);
- ``("household", "action")``: ``float32 [*B, N, 1]`` in ``[0, 1]``, the fraction of maximum power;
- ``("household", "reward")``: ``float32 [*B, N, 1]``, minus the waiting cost, or the Lagrangian
  reward ``r - mult[h] * (g - C_t / N)`` when multipliers are given;
- ``"done"``, ``"terminated"``, ``"truncated"``: ``bool [*B, 1]``. Households never terminate;
  every population is truncated after ``episode_steps`` steps, all at once.

Seeding: ``set_seed(s)`` makes the next reset draw arrivals from seed ``s`` and the following ones
from ``s + 1, s + 2, ...`` (as :meth:`DemandResponseEnv.reset`); TorchRL gives the environments of
a ``SerialEnv``/``ParallelEnv`` different seeds. Within one env the ``num_envs`` populations are
copies of the same households with their own arrivals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from samarl._validate import as_f32, positive_int, real
from samarl.envs.demand_response import DemandResponseEnv, lagrangian_reward
from samarl.envs.dynamics import StepResult
from samarl.errors import InvalidValueError, ShapeError
from samarl.scenario import ScenarioConfig

__all__ = ["GROUP", "DemandResponseTorchRLEnv"]

F32 = npt.NDArray[np.float32]

#: Name of the agent group (TorchRL's ``group_map`` key).
GROUP = "household"


class DemandResponseTorchRLEnv(EnvBase):
    """The demand-response environment as a TorchRL ``EnvBase`` with one agent group.

    Parameters
    ----------
    scenario
        A :class:`~samarl.scenario.ScenarioConfig`, a preset name or a scenario file path.
    num_envs
        ``None`` (default): one population, ``batch_size == []``. An integer ``B``: ``B``
        independent populations stepped in one engine call, ``batch_size == [B]``.
    mult
        Fixed multipliers (a scalar, ``[m]`` shared or ``[N, m]`` per household, ``>= 0``): adds the
        ``("household", "mult")`` observation and makes rewards Lagrangian.
    mult_max
        Instead of ``mult``: draw every household's multiplier vector uniformly on
        ``[0, mult_max]`` at every reset (state-augmented training), from a generator seeded by
        :meth:`set_seed`.
    episode_steps
        Steps per episode (default: the scenario's).
    seed
        Seed of the first episode's arrivals (default: the scenario's).
    device
        Only ``"cpu"``: the engine runs on the CPU.
    **overrides
        Scenario fields to change, e.g. ``num_agents=64``.
    """

    def __init__(
        self,
        scenario: ScenarioConfig | str = "default",
        *,
        num_envs: int | None = None,
        mult: npt.ArrayLike | None = None,
        mult_max: float | None = None,
        episode_steps: int | None = None,
        seed: int | None = None,
        device: Any = "cpu",
        **overrides: Any,
    ) -> None:
        if torch.device(device).type != "cpu":
            raise InvalidValueError(f"device: the engine runs on the CPU, got {device!r}")
        copies = 1 if num_envs is None else positive_int("num_envs", num_envs)
        batch = () if num_envs is None else (copies,)
        super().__init__(device="cpu", batch_size=torch.Size(batch))
        self.env = DemandResponseEnv(
            scenario, copies=copies, episode_steps=episode_steps, **overrides
        )
        """The batched env underneath (its buffers are overwritten every step)."""
        n = self.env.data.num_agents
        self.n_agents: int = n
        """Households per population ``N``."""
        self._shape = (*batch, n)
        m = self.env.num_blocks
        if mult is not None and mult_max is not None:
            raise InvalidValueError("mult, mult_max: give one of them, not both")
        self._mult: F32 | None = None
        self._mult_max: float | None = None
        if mult is not None:
            self._mult = np.tile(self._check_mult(mult), (copies, 1))
        elif mult_max is not None:
            self._mult_max = real("mult_max", mult_max, low=0.0, low_open=True)
            self._mult = np.zeros((copies * n, m), dtype=np.float32)
        self._rng = np.random.default_rng(self.env.scenario.seed)
        self._next_seed: int | None = None
        self._roll = (np.arange(m)[None, :] + np.arange(m)[:, None]) % m  # [h, j] -> (h + j) % m
        rows, obs_dim = self.env.num_agents, self.env.obs_dim
        # A step's float32 outputs, in one buffer: obs, reward, use, served, arrived, total, capacity.
        sizes = [rows * obs_dim, rows, rows, rows, rows, copies, copies]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self._out_size: int = self._offsets[-1]
        self._out_shapes = [
            (*batch, n, obs_dim),
            (*batch, n, 1),
            self._shape,
            self._shape,
            self._shape,
            (*batch, 1),
            (*batch, 1),
        ]
        self._action_shape = torch.Size((*batch, n, 1))
        self._flag_shape = (*batch, 1)
        self._env_reward = np.empty(rows, dtype=np.float32)
        self._make_specs()
        if seed is not None:
            self.set_seed(seed)

    def _check_mult(self, mult: npt.ArrayLike) -> F32:
        n, m = self.n_agents, self.env.num_blocks
        arr = as_f32("mult", mult, nonnegative=True)
        if arr.ndim == 0:
            arr = np.full(m, arr, dtype=np.float32)
        if arr.shape == (m,):
            arr = np.tile(arr, (n, 1))
        if arr.shape != (n, m):
            raise ShapeError(f"mult: expected a scalar, [{m}] or [{n}, {m}], got {list(arr.shape)}")
        return arr

    def _fresh_outputs(self) -> tuple[F32, list[torch.Tensor]]:
        """One new uninitialised float32 buffer for a step's outputs, and its ``[*B, N, ...]`` /
        ``[*B, 1]`` torch views (the same memory: no copy, no zero fill): one allocation per
        step, not one per entry. The views are made with ``torch.from_numpy``, which costs a
        third of slicing a tensor, and each keeps the buffer alive."""
        buf = np.empty(self._out_size, dtype=np.float32)
        o = self._offsets
        views = [
            torch.from_numpy(buf[o[i] : o[i + 1]].reshape(shape))
            for i, shape in enumerate(self._out_shapes)
        ]
        return buf, views

    def _make_specs(self) -> None:
        batch, shape, m = self.batch_size, self._shape, self.env.num_blocks
        low, high = self.env.observation_bounds()
        obs_dim = self.env.obs_dim
        group: dict[str, Any] = {
            "observation": Bounded(
                low=torch.from_numpy(low).expand(*shape, obs_dim).clone(),
                high=torch.from_numpy(high).expand(*shape, obs_dim).clone(),
                shape=(*shape, obs_dim),
                dtype=torch.float32,
            ),
            "info": Composite(
                {k: Unbounded(shape=shape) for k in ("resource_use", "served", "arrived")},
                shape=shape,
            ),
        }
        if self._mult is not None:
            top = float(self._mult.max()) if self._mult_max is None else self._mult_max
            group["mult"] = Bounded(
                low=0.0, high=max(top, 1e-6), shape=(*shape, m), dtype=torch.float32
            )
        self.observation_spec = Composite(
            {
                GROUP: Composite(group, shape=shape),
                "constraint": Composite(
                    {
                        "total_use": Unbounded(shape=(*batch, 1)),
                        "capacity": Unbounded(shape=(*batch, 1)),
                        "block": Unbounded(shape=(*batch, 1), dtype=torch.int64),
                    },
                    shape=batch,
                ),
            },
            shape=batch,
        )
        self.full_action_spec = Composite(
            {
                GROUP: Composite(
                    {"action": Bounded(low=0.0, high=1.0, shape=(*shape, 1), dtype=torch.float32)},
                    shape=shape,
                )
            },
            shape=batch,
        )
        self.full_reward_spec = Composite(
            {GROUP: Composite({"reward": Unbounded(shape=(*shape, 1))}, shape=shape)},
            shape=batch,
        )
        self.full_done_spec = Composite(
            {
                k: Categorical(2, shape=(*batch, 1), dtype=torch.bool)
                for k in ("done", "terminated", "truncated")
            },
            shape=batch,
        )

    # -- TorchRL's hooks ---------------------------------------------------------------------------
    @property
    def group_map(self) -> dict[str, list[str]]:
        """``{"household": ["household_0", ...]}`` (one group; agents are rows ``N`` of it)."""
        return {GROUP: [f"{GROUP}_{i}" for i in range(self.n_agents)]}

    @property
    def episode_steps(self) -> int:
        """Steps per episode."""
        return self.env.episode_steps

    def _set_seed(self, seed: int | None) -> None:
        self._next_seed = seed
        self._rng = np.random.default_rng(seed)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        if tensordict is not None:
            mask = tensordict.get("_reset", None)
            if mask is not None and not bool(mask.all()):
                if not bool(mask.any()):
                    raise RuntimeError("DemandResponseTorchRLEnv: reset with an all-False '_reset'")
                raise RuntimeError(
                    "DemandResponseTorchRLEnv: the populations share one clock and reset together; "
                    "a partial '_reset' is not supported"
                )
        obs = self.env.reset(seed=self._next_seed)
        self._next_seed = None
        if self._mult_max is not None and self._mult is not None:
            self._mult[:] = self._rng.uniform(0.0, self._mult_max, self._mult.shape)
        batch, shape = self.batch_size, self._shape
        zeros = {k: torch.zeros(shape) for k in ("resource_use", "served", "arrived")}
        group: dict[str, Any] = {
            "observation": torch.from_numpy(obs.copy()).view(*shape, self.env.obs_dim),
            "info": _td(zeros, shape),
        }
        if self._mult is not None:
            group["mult"] = self._rolled_mult()
        constraint = {
            "total_use": torch.zeros((*batch, 1)),
            "capacity": torch.zeros((*batch, 1)),
            "block": torch.zeros((*batch, 1), dtype=torch.int64),
        }
        return _td(
            {GROUP: _td(group, shape), "constraint": _td(constraint, batch)} | self._done(False),
            batch,
        )

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        return self._advance(tensordict.get((GROUP, "action")))[0]

    def _advance(self, action: torch.Tensor) -> tuple[TensorDict, dict[str, Any], bool]:
        """Steps the engine with ``action`` (``[*B, N, 1]``). Returns the complete ``"next"``
        tensordict (every key of the specs, done keys included), the observation entries of the
        group (what the next step's root takes from it) and whether the episode is truncated."""
        if action.shape != self._action_shape:
            raise ShapeError(
                f"action: expected {list(self._action_shape)}, got {list(action.shape)}"
            )
        a = action.detach().reshape(-1)
        if a.dtype != torch.float32:
            a = a.to(torch.float32)
        env = self.env
        t, h = env.step_of_day, env.block
        buf, (obs, reward, use, served, arrived, total, capacity) = self._fresh_outputs()
        o, rows = self._offsets, env.num_agents
        mult = self._mult
        lagrangian = mult is not None
        truncated = env._step_into(
            a.numpy(),
            StepResult(
                buf[o[0] : o[1]].reshape(rows, env.obs_dim),
                self._env_reward if lagrangian else buf[o[1] : o[2]],
                buf[o[2] : o[3]],
                buf[o[3] : o[4]],
                buf[o[4] : o[5]],
            ),
        )
        if mult is not None:  # the engine's reward went to scratch: the Lagrangian one goes out
            lagrangian_reward(
                self._env_reward,
                buf[o[2] : o[3]],
                mult[:, h],
                float(env.capacity_per_agent[t]),
                out=buf[o[1] : o[2]],
            )
        buf[o[2] : o[3]].reshape(-1, self.n_agents).sum(-1, out=buf[o[5] : o[6]])
        buf[o[6] : o[7]] = env.capacity[t]
        shape, batch = self._shape, self.batch_size
        info = {"resource_use": use, "served": served, "arrived": arrived}
        observed: dict[str, Any] = {"observation": obs, "info": info}
        if lagrangian:
            observed["mult"] = self._rolled_mult()
        constraint = {
            "total_use": total,
            "capacity": capacity,
            "block": torch.from_numpy(np.full(self._flag_shape, h, dtype=np.int64)),
        }
        done = self._done(truncated)
        group = observed | {"reward": reward, "info": _td(info, shape)}
        nxt = _td({GROUP: _td(group, shape), "constraint": _td(constraint, batch)} | done, batch)
        return nxt, observed | {"constraint": constraint} | done, truncated

    # -- TorchRL's step, without its generic processing ----------------------------------------
    # EnvBase.step and step_and_maybe_reset wrap _step in work that is generic over envs: filling
    # in missing done keys, reshaping rewards, and step_mdp's key-by-key walk over the spec trees.
    # At 4,096 agents that cost ~8x the engine's step (~400 us against ~40). _advance already returns every key with its
    # final shape, so for the usual input (one plain TensorDict with the env's batch size on the
    # CPU, no partial step, no preset "next") the two are done directly below; anything else
    # goes through TorchRL's own methods. tests/test_torchrl.py checks both give the same data.
    def step(self, tensordict: TensorDictBase) -> TensorDictBase:
        """TorchRL's ``step``: writes ``"next"`` into ``tensordict`` and returns it."""
        if not self._plain(tensordict):
            return super().step(tensordict)
        tensordict.set("next", self._advance(tensordict.get((GROUP, "action")))[0])
        return tensordict

    def step_and_maybe_reset(
        self, tensordict: TensorDictBase
    ) -> tuple[TensorDictBase, TensorDictBase]:
        """TorchRL's ``step_and_maybe_reset`` (what collectors and ``rollout`` call)."""
        if not self._plain(tensordict):
            return super().step_and_maybe_reset(tensordict)
        nxt, observed, truncated = self._advance(tensordict.get((GROUP, "action")))
        tensordict.set("next", nxt)
        root = self._next_root(tensordict, observed)
        if root is None:  # the root has sub-dict entries that step_mdp merges: TorchRL does it
            root = self._step_mdp(tensordict)
        if truncated:
            root = self.maybe_reset(root)
        return tensordict, root

    def _plain(self, tensordict: TensorDictBase) -> bool:
        """Whether ``tensordict`` is the usual input the direct step handles (see above)."""
        if type(tensordict) is not TensorDict or tensordict.batch_size != self.batch_size:
            return False
        if tensordict.device != _CPU:
            return False
        keys = tensordict.keys()
        return "next" not in keys and "_step" not in keys and "_reset" not in keys

    def _next_root(self, root: TensorDict, observed: dict[str, Any]) -> TensorDict | None:
        """TorchRL's ``step_mdp(root)``: the root's entries (the action, a policy's outputs) with
        the step's observations and done flags (``observed``) in place of the old ones and no
        reward; ``None`` when an old sub-dict has entries the new one lacks (step_mdp keeps them)."""
        entries: dict[str, Any] = {}
        group: dict[str, Any] = {}
        for key, value in root.items():
            if key == GROUP:
                group = {k: v for k, v in value.items() if k not in _GROUP_DROPPED}
            elif key == "constraint":
                entries[key] = value  # replaced below
            elif key not in _DROPPED:
                entries[key] = value.copy() if isinstance(value, TensorDictBase) else value
        for key, sub, where, shape in (
            ("info", observed["info"], group, self._shape),
            ("constraint", observed["constraint"], entries, self.batch_size),
        ):
            old = where.get(key)
            if isinstance(old, TensorDictBase) and not all(k in sub for k in old.keys()):
                return None
            where[key] = _td(sub, shape)
        group["observation"] = observed["observation"]
        if "mult" in observed:
            group["mult"] = observed["mult"]
        entries[GROUP] = _td(group, self._shape)
        for key in _DONE_KEYS:
            entries[key] = observed[key]
        return _td(entries, self.batch_size)

    def _rolled_mult(self) -> torch.Tensor:
        """``[*B, N, m]``: every household's multipliers, rolled so the coming block is first."""
        assert self._mult is not None
        rolled = self._mult[:, self._roll[self.env.block]]  # a new array: no clone needed
        return torch.from_numpy(rolled).view(*self._shape, self.env.num_blocks)

    def _done(self, truncated: bool) -> dict[str, torch.Tensor]:
        """Fresh ``done``/``terminated``/``truncated`` flags, ``[*B, 1]`` (NumPy-made: a third of
        the cost of ``torch.full``)."""
        shape = self._flag_shape
        return {
            "done": torch.from_numpy(np.full(shape, truncated)),
            "terminated": torch.from_numpy(np.zeros(shape, dtype=bool)),  # households never do
            "truncated": torch.from_numpy(np.full(shape, truncated)),
        }

    def __repr__(self) -> str:
        return (
            f"DemandResponseTorchRLEnv(scenario={self.env.scenario.name!r}, "
            f"n_agents={self.n_agents}, batch_size={list(self.batch_size)}, "
            f"episode_steps={self.episode_steps})"
        )


_CPU = torch.device("cpu")
_DONE_KEYS = ("done", "terminated", "truncated")
#: Root entries step_mdp does not carry to the next step (done flags are replaced by the step's).
_DROPPED = frozenset(("next", "_reset", *_DONE_KEYS))
#: Group entries it does not carry either.
_GROUP_DROPPED = frozenset(("reward", "_reset"))


def _td(source: dict[str, Any], batch_size: tuple[int, ...] | torch.Size) -> TensorDict:
    """A CPU TensorDict of tensors this module just made with the right shapes.

    ``_new_unsafe`` skips the shape and device checks of the constructor (TorchRL builds its own
    step outputs this way): they cost more than the engine's step at thousands of agents.
    """
    return TensorDict._new_unsafe(source, batch_size=torch.Size(batch_size), device=_CPU)
