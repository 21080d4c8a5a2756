"""Staggered block boundaries at execution (DualConfig ``stagger``): each agent reads the price
schedule at its own fixed offset, so agents do not all switch to a cheaper block at one step."""

from __future__ import annotations

import numpy as np
import pytest

from samarl.errors import ConfigError
from samarl.execution import DualConfig, execute
from samarl.execution.dual import stagger_offsets
from samarl.scenario import load_scenario


def test_offsets_span_the_width_and_are_reproducible() -> None:
    o = stagger_offsets(2000, 4, seed=3)
    assert set(np.unique(o)) == {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(o, stagger_offsets(2000, 4, seed=3))
    assert not np.array_equal(o, stagger_offsets(2000, 4, seed=4))
    assert not stagger_offsets(10, 0).any()
    with pytest.raises(ConfigError, match="stagger"):
        stagger_offsets(10, -1)


def test_the_default_stagger_is_one_block() -> None:
    assert DualConfig().stagger_width(96, 24) == 4
    assert DualConfig().stagger_width(96, 96) == 0  # one step per block: nothing to stagger
    assert DualConfig(stagger=0).stagger_width(96, 24) == 0
    with pytest.raises(ConfigError, match="stagger"):
        DualConfig(stagger=-2)


def test_each_agent_acts_on_its_own_offset_of_the_schedule() -> None:
    scenario = load_scenario("small", num_agents=50)
    seen: list[object] = []

    def act(obs: np.ndarray, mult: np.ndarray, step_of_day: object) -> np.ndarray:
        seen.append(np.copy(step_of_day))
        return np.zeros(obs.shape[0], np.float32)

    execute(scenario, act, DualConfig(stagger=4), mult_max=1.0, days=1, seed=7, progress=False)
    expected = (stagger_offsets(50, 4, seed=7) + 95) % 96  # the last step wraps past midnight
    np.testing.assert_array_equal(seen[95], expected)
    seen.clear()
    execute(scenario, act, DualConfig(stagger=0), mult_max=1.0, days=1, progress=False)
    assert seen[95] == 95  # no stagger: one shared step of day
