"""Pure NumPy/SciPy reference implementations ("oracles") of the Rust kernels.

Nothing here imports the compiled extension ``samarl._core``. Each module mirrors one Rust module,
following the engine's contracts (``docs/engine.md``) operation by operation in ``float32``, so
that the tests can compare the Rust engine with an independent implementation (bit for bit where the
contract fixes the order of operations: the RNG, the environment step, Metropolis weights and
consensus rounds; through invariants elsewhere). The benchmarks' baselines live in
:mod:`samarl.benchmarks`.

Modules
-------
:mod:`~samarl.reference.rng`
    Counter-based random numbers (SplitMix64 finaliser), equal to ``rng.rs``.
:mod:`~samarl.reference.env`
    The demand-response environment: :class:`DemandResponseRef`.
:mod:`~samarl.reference.graph`
    Graph constructions as canonical ``scipy.sparse.csr_array`` adjacencies, RCM, components.
:mod:`~samarl.reference.consensus`
    Metropolis weights, (lossy) consensus rounds, average tracking, ``sigma2``.
"""

from samarl.reference import consensus, env, graph, rng
from samarl.reference.consensus import (
    diag_first,
    lossy_weights,
    metropolis_weights,
    mix,
    mix_lossy,
    sigma2,
    spectral_gap,
    split_diagonal,
    track,
)
from samarl.reference.env import (
    OBS_DIM,
    DemandResponseRef,
    StepOutputs,
)
from samarl.reference.graph import (
    bandwidth,
    complete,
    component_labels,
    degrees,
    from_csr,
    from_edges,
    geometric_from_points,
    grid_2d,
    num_components,
    num_edges,
    permuted,
    rcm_order,
    ring,
)
from samarl.reference.rng import (
    STREAM_ARRIVALS,
    STREAM_LINKS,
    bits,
    mix64,
    uniform_f32,
)

__all__ = [
    "OBS_DIM",
    "STREAM_ARRIVALS",
    "STREAM_LINKS",
    "DemandResponseRef",
    "StepOutputs",
    "bandwidth",
    "bits",
    "complete",
    "component_labels",
    "consensus",
    "degrees",
    "diag_first",
    "env",
    "from_csr",
    "from_edges",
    "geometric_from_points",
    "graph",
    "grid_2d",
    "lossy_weights",
    "metropolis_weights",
    "mix",
    "mix64",
    "mix_lossy",
    "num_components",
    "num_edges",
    "permuted",
    "rcm_order",
    "ring",
    "rng",
    "sigma2",
    "spectral_gap",
    "split_diagonal",
    "track",
    "uniform_f32",
]
