"""samarl: constrained multi-agent reinforcement learning at scale.

Agents with separable dynamics share a global resource (a grid's capacity). Each learns one policy
conditioned on its local state and a Lagrange multiplier, independently (training cost linear in the
number of agents); at run time the agents run dual dynamics on their own copies of the multiplier and
agree on a shared price by neighbour-to-neighbour consensus.

The engine (batched environment dynamics, graphs, sparse consensus) is Rust (:mod:`samarl._core`);
this package is the validated Python front end, one folder per job:

- :mod:`samarl.scenario`: scenarios (config, distributions, profiles, files, presets);
- :mod:`samarl.envs`: the batched env, its PettingZoo and Gymnasium adapters, the Lagrangian reward;
- :mod:`samarl.comms`: communication graphs (:class:`Graph`) and consensus (:class:`Consensus`);
- :mod:`samarl.training`: state-augmented PPO (:func:`samarl.training.train`);
- :mod:`samarl.execution`: dual dynamics and the executor (:func:`samarl.execution.execute`);
- :mod:`samarl.baselines`, :mod:`samarl.experiments`, :mod:`samarl.plots`, :mod:`samarl.cli`;
- :mod:`samarl.reference`: NumPy/SciPy reference implementations of every kernel (the tests' oracle);
- :func:`set_num_threads` / :func:`get_num_threads`: the engine's private thread pool.

Importing :mod:`samarl` loads neither torch nor SciPy (its classes load on first use);
``samarl.training`` and ``samarl.execution`` do.

A forked child process runs the engine's kernels single-threaded (its parent's pool threads do not
exist there); call :func:`set_num_threads` in the child to change that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from samarl import _core, errors
from samarl._core import __version__, get_num_threads
from samarl._gym import register_envs
from samarl._validate import positive_int

if TYPE_CHECKING:
    from samarl import envs as envs
    from samarl.comms import Consensus, Graph, make_graph

__all__ = [
    "Consensus",
    "Graph",
    "__version__",
    "errors",
    "get_num_threads",
    "make_graph",
    "set_num_threads",
]

#: Attributes imported on first use: ``import samarl`` (and the ``samarl`` command's start) stays
#: light, so that Ctrl-C at any moment of a command's start-up is handled by the command.
_LAZY = {
    "Consensus": "samarl.comms",
    "Graph": "samarl.comms",
    "make_graph": "samarl.comms",
    "envs": "samarl.envs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if name == "envs" else getattr(module, name)
    raise AttributeError(f"module 'samarl' has no attribute {name!r}")


register_envs()  # gymnasium.make("samarl/DemandResponse-v0") works after import samarl

#: Most threads :func:`set_num_threads` accepts (a guard against spawning a runaway pool).
MAX_THREADS = 4096


def set_num_threads(n: int) -> None:
    """Sets the number of threads the engine's kernels use, ``1 .. MAX_THREADS`` (``0`` restores
    the default: the ``SAMARL_NUM_THREADS`` variable, else the available cores)."""
    _core.set_num_threads(positive_int("n", n, minimum=0, maximum=MAX_THREADS))
