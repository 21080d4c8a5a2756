"""Benchmarks of the engine against NumPy/SciPy, as measured ratios (``samarl bench kernels``).

- :mod:`~samarl.benchmarks.kernels`: env step and consensus rounds, Rust vs reference, on the same
  data in one process; medians of repeats;
- :mod:`~samarl.benchmarks.fused_env`: the fastest NumPy form of the env step, the baseline.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from samarl.scenario import ScenarioConfig, ScenarioData
    from samarl.training.policies import StateAugmentedPolicy


def bench_policy(
    scenario: ScenarioConfig, data: ScenarioData, policy_dir: str | os.PathLike[str] | None
) -> StateAugmentedPolicy:
    """The policy a benchmark runs, in eval mode: trained (``policy_dir``, a run folder) or, with
    ``None``, untrained weights of the default training settings (the speed is the same)."""
    from samarl.training import TrainConfig
    from samarl.training.run_folder import load_policy
    from samarl.training.trainer import mult_max_for, policy_for

    if policy_dir is not None:
        policy = load_policy(policy_dir, scenario=scenario)
    else:
        cfg = TrainConfig()
        policy = policy_for(data, scenario, cfg, mult_max_for(data, scenario, cfg))
    return policy.eval()
