"""The engine's counter-based streams (:mod:`samarl.rng`) against the NumPy reference
(:mod:`samarl.reference.rng`): the same values bit for bit, for every counter (the edges of
``[0, 2**64)`` included), shape and thread count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import samarl
from samarl import rng
from samarl.errors import ArgumentTypeError, InvalidValueError, ShapeError
from samarl.reference import rng as ref

U64 = st.integers(min_value=0, max_value=2**64 - 1)
#: Counters near the edges (the wrapping of ``2 * step``, the top of the range) or anywhere.
COUNTER = st.one_of(
    st.sampled_from([0, 1, 2**32, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1]), U64
)
SETTINGS = settings(max_examples=60, deadline=None)
DRAWS = ["uniform_f32", "uniform_f64", "normal_f64"]


def same_bits(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    """Equal dtype, shape and bits (so -0.0 != 0.0 and NaN == NaN of the same payload)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def both(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    return getattr(rng, name), getattr(ref, name)


def test_stream_ids_are_the_references() -> None:
    for name in ref.__all__:
        if name.startswith("STREAM_"):
            assert getattr(rng, name) == getattr(ref, name), name


@SETTINGS
@given(
    name=st.sampled_from(DRAWS),
    seed=COUNTER,
    stream=COUNTER,
    agents=st.lists(COUNTER, min_size=0, max_size=6),
    steps=st.lists(COUNTER, min_size=0, max_size=6),
)
def test_grids_equal_the_reference_bit_for_bit(
    name: str, seed: int, stream: int, agents: list[int], steps: list[int]
) -> None:
    ours, theirs = both(name)
    a = np.array(agents, dtype=np.uint64)
    t = np.array(steps, dtype=np.uint64)
    assert same_bits(ours(seed, stream, a[:, None], t[None]), theirs(seed, stream, a[:, None], t))
    for step in steps[:2]:  # a vector of agents with one step (the trainer's calls)
        assert same_bits(ours(seed, stream, a, step), theirs(seed, stream, a, step))


@SETTINGS
@given(
    name=st.sampled_from(DRAWS),
    seed=U64,
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    data=st.data(),
)
def test_any_broadcasting_equals_the_reference(
    name: str, seed: int, shapes: Any, data: st.DataObject
) -> None:
    """Shapes that are no grid (``[3, 1]`` steps against ``[2]`` agents, equal shapes) too."""
    ours, theirs = both(name)
    agent_shape, step_shape = shapes.input_shapes
    a = data.draw(hnp.arrays(np.uint64, agent_shape, elements=COUNTER))
    t = data.draw(hnp.arrays(np.uint64, step_shape, elements=COUNTER))
    got = ours(seed, 4, a, t)
    assert got.shape == shapes.result_shape
    assert same_bits(got, theirs(seed, 4, a, t))


@pytest.mark.parametrize("name", DRAWS)
def test_scalars_and_python_ints(name: str) -> None:
    ours, theirs = both(name)
    for args in [(0, 3, 0, 0), (2**64 - 1, 6, 2**64 - 1, 2**63), (5, 4, [1, 2**62, 7], 9)]:
        assert same_bits(ours(*args), theirs(*args)), args
    assert same_bits(
        ours(1, 5, np.arange(4, dtype=np.int32), np.int64(3)), theirs(1, 5, np.arange(4), 3)
    )
    # Non-contiguous counters.
    a = np.arange(40, dtype=np.uint64)[::3]
    assert same_bits(ours(1, 5, a, 2), theirs(1, 5, a, 2))


def test_a_million_normals_equal_the_reference() -> None:
    """Many values, so the logarithm and the cosine see a wide sample of their inputs: where the
    engine's cosine and NumPy's differed, this would catch it."""
    agents = np.arange(1000, dtype=np.uint64) + np.uint64(10**9)
    steps = np.arange(1000, dtype=np.uint64)
    got = rng.normal_f64(7, rng.STREAM_INIT, agents[:, None], steps[None])
    want = ref.normal_f64(7, ref.STREAM_INIT, agents[:, None], steps[None])
    assert same_bits(got, want)
    assert abs(float(got.mean())) < 5e-3
    assert abs(float(got.std()) - 1.0) < 5e-3


def test_results_do_not_depend_on_the_thread_count_or_the_rows_drawn_with() -> None:
    agents = np.arange(300, dtype=np.uint64)
    steps = np.arange(400, dtype=np.uint64)
    out = {}
    try:
        for threads in (1, 2):
            samarl.set_num_threads(threads)
            out[threads] = rng.normal_f64(3, rng.STREAM_INIT, agents[:, None], steps[None])
    finally:
        samarl.set_num_threads(0)
    assert same_bits(out[1], out[2])
    alone = rng.normal_f64(3, rng.STREAM_INIT, agents[120:130, None], steps[None])
    assert same_bits(alone, out[1][120:130])


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(InvalidValueError, match="agent"):
        rng.uniform_f64(0, 3, np.array([-1, 2]), 0)
    with pytest.raises(InvalidValueError, match="step"):
        rng.normal_f64(0, 3, 0, 2**64)
    with pytest.raises(ArgumentTypeError, match="step"):
        rng.uniform_f32(0, 3, 0, np.array([0.5]))
    with pytest.raises(ArgumentTypeError, match="step"):
        rng.uniform_f32(0, 3, 0, True)
    with pytest.raises(InvalidValueError, match="seed"):
        rng.uniform_f64(-1, 3, 0, 0)
    with pytest.raises(ArgumentTypeError, match="stream"):
        rng.uniform_f64(0, 3.0, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="step"):
        rng.uniform_f64(0, 3, np.zeros(3, dtype=np.uint64), np.zeros(2, dtype=np.uint64))


def test_empty_draws() -> None:
    for name in DRAWS:
        ours, theirs = both(name)
        a = np.zeros((0, 1), dtype=np.uint64)
        assert same_bits(ours(1, 3, a, np.arange(5)), theirs(1, 3, a, np.arange(5)))
