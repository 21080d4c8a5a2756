"""Shared test settings: hypothesis profiles (``HYPOTHESIS_PROFILE=ci`` on CI, ``fuzz`` for a long
local fuzzing run) and fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None)
# A long local fuzzing run (tests/test_fuzz.py takes its examples from here; under "ci" and "dev"
# it runs a few per test).
settings.register_profile(
    "fuzz",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local 2-CPU Ray cluster for one test module (skipped without ``samarl[ray]``), shut down
    after it so actors a module leaves behind cannot hold another module's CPUs. Workers import
    samarl and the test modules (their cell functions) like the driver does, each engine on one
    thread."""
    ray = pytest.importorskip("ray")
    path = [os.environ.get("PYTHONPATH", ""), str(Path(__file__).parent)]
    env = {
        "SAMARL_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
    }
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()
