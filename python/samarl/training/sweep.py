"""Evaluation of trained policies: their response to flat multiplier profiles.

The response sweep is what tells whether training worked: at price 0 the agents serve their demand
as it comes; as the price rises, the load in the blocks where demand exceeds capacity must fall
(monotonically), down to deferring everything at ``mult_max``. ``samarl train`` writes it as
``response.json`` and ``response.png``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from samarl._validate import as_f64, positive_int
from samarl._validate import seed as seed_
from samarl.envs import DemandResponseEnv
from samarl.errors import ArgumentTypeError, ConfigError, InvalidValueError
from samarl.scenario import resolve_scenario
from samarl.training.policies import StateAugmentedPolicy, torch_device

__all__ = ["binding_steps", "response_sweep"]


def binding_steps(data: Any) -> tuple[npt.NDArray[np.bool_], list[int]]:
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

    ``mult_values`` must be a non-empty list of finite multipliers ``>= 0``; a wrong argument
    raises a :class:`~samarl.errors.InvalidValueError` (or :class:`~samarl.errors.ConfigError`
    for ``days``, ``warmup_days``, ``seed`` and ``device``) naming it, before anything runs.
    """
    if not callable(getattr(policy, "act", None)):
        raise ArgumentTypeError(
            f"policy: expected a trained policy with act(obs, mult, step_of_day), got "
            f"{type(policy).__name__}"
        )
    scenario = resolve_scenario(scenario)
    values = as_f64("mult_values", mult_values, shape=(None,), nonnegative=True)
    if values.size == 0:
        raise InvalidValueError("mult_values: expected at least one multiplier value, got none")
    try:
        days = positive_int("days", days)
        if warmup_days is None:
            warmup_days = min(1, days - 1)
        warmup_days = positive_int("warmup_days", warmup_days, minimum=0)
        seed = seed_(seed)
    except InvalidValueError as e:
        raise ConfigError(str(e)) from None
    if not 0 <= warmup_days < days:
        raise ConfigError(f"warmup_days: must be in [0, days = {days}), got {warmup_days}")
    device = torch_device(str(device))
    data = scenario.build()
    n, s, m = data.num_agents, scenario.steps_per_day, scenario.num_blocks
    mask_day, binding = binding_steps(data)
    steps = days * s
    env = DemandResponseEnv(scenario, data=data, episode_steps=steps)
    window = np.concatenate([mask_day & (d >= warmup_days) for d in range(days)])
    cap_day = np.asarray(data.capacity, dtype=np.float64)
    cap = np.tile(cap_day, days)
    groups, group_names = _agent_groups(data, scenario)
    was_training = policy.training
    policy.eval()
    loads, last_day, served, group_power = [], [], [], []
    for value in values:
        obs = torch.from_numpy(env.reset(seed)).to(device)
        mult = torch.full((n, m), float(value), device=device)
        total = np.zeros(steps)
        agent_load = np.zeros(n)
        served_sum = arrived_sum = 0.0
        for t in range(steps):
            a = policy.act(obs, mult, t % s, deterministic=True)
            out = env.step(a.cpu().numpy())
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
