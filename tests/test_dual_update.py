"""The dual update order (step, mix, project), its step-size options and the capacity margin."""

from __future__ import annotations

import numpy as np
import pytest

from samarl.errors import ConfigError
from samarl.execution import DualState
from samarl.execution.dual import DualConfig, step_size_from_slope

N, CAP, MULT_MAX = 20, 100.0, 1.0


def state(mode: str = "consensus", **cfg: object) -> DualState:
    cfg.setdefault("dual_step_size", 0.1)
    return DualState(DualConfig(mode=mode, graph="complete", **cfg), [CAP], N, MULT_MAX)


def ghat(seed: int = 0) -> np.ndarray:
    # Half the agents use far more than their share C/N, half nothing: local steps of both signs.
    g = np.where(np.arange(N) % 2 == 0, 2.0 * CAP / N, 0.0) * 0.9
    return (g + np.random.default_rng(seed).normal(0, 0.01, N)).astype(np.float32)


def test_centralized_is_the_limit_of_consensus_with_exact_averaging() -> None:
    # A complete graph's Metropolis-Hastings weights average exactly in one round (K = infinity).
    cons, cent = state(), state("centralized")
    for k in range(6):
        g = ghat(k) * (1.0 + 0.2 * k)
        cons.update(0, g)
        cent.update(0, g)
        np.testing.assert_allclose(cons.mult[:, 0], cent.mult[:, 0], atol=1e-6)
    assert cent.mult[0, 0] > 0


def test_clip_before_mixing_biases_prices_up() -> None:
    # Total use 0.9 C: the centralised price stays at 0. Clip-then-mix keeps the positive local steps
    # and drops the negative ones, so its average price is positive.
    smp, old = state(), state(update_order="clip_mix")
    smp.update(0, ghat())
    old.update(0, ghat())
    assert smp.mult.max() == 0.0
    assert old.mult.min() > 0.0


def test_margin_targets_a_lower_capacity_and_decay_shrinks_the_step() -> None:
    g = np.full(N, CAP / N, dtype=np.float32)  # exactly at capacity
    plain, margin = state("centralized"), state("centralized", capacity_margin=0.1)
    plain.update(0, g)
    margin.update(0, g)
    assert plain.mult[0, 0] == 0.0
    assert margin.mult[0, 0] == pytest.approx(0.1 * 0.1)
    decayed = state("centralized", step_decay=1.0, capacity_margin=0.1)
    for _ in range(3):
        decayed.update(0, g)
    # steps 0.01, 0.005, 0.00333...
    assert decayed.mult[0, 0] == pytest.approx(0.01 * (1 + 1 / 2 + 1 / 3), rel=1e-5)


def test_default_step_and_slope_rule() -> None:
    st = DualState(DualConfig(mode="centralized"), [CAP], 4, 2.0)
    assert st.step_size == pytest.approx(0.03 * 2.0)
    assert step_size_from_slope(25.0) == pytest.approx(0.04)
    assert step_size_from_slope(25.0, gain=0.5) == pytest.approx(0.02)
    with pytest.raises(ConfigError, match="slope"):
        step_size_from_slope(0.0)
    with pytest.raises(ConfigError, match="update_order"):
        DualConfig(update_order="mix_first")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="capacity_margin"):
        DualConfig(capacity_margin=1.0)
