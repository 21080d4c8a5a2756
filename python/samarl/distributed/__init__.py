"""Scaling out on Ray (the optional extra: ``pip install 'samarl[ray]'``).

- :mod:`samarl.distributed.cluster`: :func:`connect` to a Ray cluster (a local one sized to the
  machine, ``auto``, or an address) and :func:`require_ray`, the one clear error when Ray is
  missing.
- :mod:`samarl.distributed.cells`: :class:`CellGrid`, the cells of an experiment (seeds x modes x
  K x graphs x N) as Ray tasks, with a progress bar over cells, per-cell error capture and shared
  objects (trained policies) put in the object store once. Without a cluster the same code runs
  the cells one after another in this process.
- :mod:`samarl.distributed.partitions`: partitioned execution, one Ray actor per part of the
  agents along the communication graph's locality order, exchanging only boundary (halo)
  multipliers in every consensus round.
- :mod:`samarl.distributed.shards`: training shards, per-agent weights of disjoint ranges of the
  agents trained on Ray actors and joined into the serial run's policy, bit for bit.

Nothing here imports Ray at module import: every other command works without it.
"""

from __future__ import annotations

from samarl.distributed.cells import CellError, CellGrid
from samarl.distributed.cluster import (
    INSTALL_HINT,
    LOCAL,
    RayMissingError,
    connect,
    require_ray,
    session,
)

__all__ = [
    "INSTALL_HINT",
    "LOCAL",
    "CellError",
    "CellGrid",
    "RayMissingError",
    "connect",
    "require_ray",
    "session",
]
