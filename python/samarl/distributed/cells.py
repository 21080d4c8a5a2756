"""The cells of an experiment, run one after another here or as Ray tasks on a cluster.

An experiment describes its cells once::

    grid = CellGrid(ray_module_or_None, desc="feasibility")
    shared = grid.share(policy)                       # object store: put once, not per cell
    opt = grid.submit("optimum seed=0", solve, ...)   # a cell may take another cell's handle
    run = grid.submit("seed=0 consensus", run_cell, shared, ..., optimum=opt)
    grid.wait()                                       # progress bar over cells
    value = grid.result(run)                          # the value, or a CellError

Without Ray (``CellGrid(None)``) :meth:`CellGrid.submit` calls the function at once and an
exception propagates as it always has: the serial path is the plain loop it was. With Ray every
cell is a task (one CPU, no retries); a cell that raises becomes a :class:`CellError` naming the
cell and the error, the others still finish, and a cell that depends on a failed one fails with
the same error.

Cells that measure wall time or memory (``CellGrid(ray, exclusive=True)``) each hold a whole node:
nothing else runs beside them, and the engine inside uses the node's cores as the serial run's
process uses the machine's, so their timings compare with the serial run's (on a cluster of
identical nodes). On one machine they run one after another.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

__all__ = ["CellError", "CellGrid"]


@dataclass(frozen=True)
class CellError:
    """A cell that failed: its label and ``TypeName: message`` of the error."""

    cell: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"cell": self.cell, "error": self.error}


class CellGrid:
    """Cells submitted one by one, gathered together (see the module doc).

    Parameters
    ----------
    ray
        The connected ``ray`` module (:func:`samarl.distributed.connect`), or None to run each
        cell in this process when it is submitted.
    desc
        Label of the progress bar.
    progress
        Show the progress bar.
    exclusive
        Every cell holds all the CPUs of a node (the largest one), for cells whose wall time or
        memory is measured; the engine then runs on that many threads.
    """

    def __init__(
        self, ray: Any, *, desc: str = "cells", progress: bool = True, exclusive: bool = False
    ) -> None:
        self.ray = ray
        self.desc = desc
        self.progress = progress
        self.exclusive = exclusive
        self._labels: dict[Any, str] = {}
        self._done: dict[Any, Any] = {}
        self._remote: dict[Callable[..., Any], Any] = {}
        self._bar = tqdm(desc=desc, unit="cell", disable=not progress) if ray is None else None

    @property
    def distributed(self) -> bool:
        return self.ray is not None

    def share(self, value: Any) -> Any:
        """``value`` put in the object store once (a handle every cell can take), or ``value``
        itself without Ray."""
        return value if self.ray is None else self.ray.put(value)

    def submit(self, label: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Runs ``fn(*args, **kwargs)`` as the cell ``label``; returns its handle (without Ray:
        its value).

        Handles of shared values and of other cells may be passed as top-level arguments: Ray
        resolves them before the cell starts.
        """
        if self.ray is None:
            value = fn(*args, **kwargs)
            assert self._bar is not None
            self._bar.update()
            return value
        if self.exclusive:
            cpus = _node_cpus(self.ray)
            args, fn = (cpus, fn, *args), _alone
        else:
            cpus = 1
        remote = self._remote.get(fn)
        if remote is None:
            remote = self.ray.remote(num_cpus=cpus, max_retries=0)(fn)
            self._remote[fn] = remote
        ref = remote.remote(*args, **kwargs)
        self._labels[ref] = label
        return ref

    def get(self, handle: Any) -> Any:
        """Waits for the one cell ``handle``; returns its value, or its :class:`CellError` (for
        an experiment whose next cells depend on this one's value)."""
        if self.ray is None:
            return handle
        if handle not in self._done:
            try:
                self._done[handle] = self.ray.get(handle)
            except self.ray.exceptions.RayError as e:
                self._done[handle] = CellError(self._labels[handle], _describe(e))
        return self._done[handle]

    def wait(self) -> list[CellError]:
        """Waits for every submitted cell (progress bar over cells); returns the failures."""
        if self.ray is None:
            assert self._bar is not None
            self._bar.close()
            return []
        ray = self.ray
        pending = [r for r in self._labels if r not in self._done]
        with tqdm(
            total=len(self._labels), desc=self.desc, unit="cell", disable=not self.progress
        ) as bar:
            bar.update(len(self._labels) - len(pending))
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        self._done[ref] = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        self._done[ref] = CellError(self._labels[ref], _describe(e))
                    bar.update()
        return self.failures()

    def labels(self) -> list[str]:
        """The labels of the cells submitted to the cluster, in submission order."""
        return list(self._labels.values())

    def failures(self) -> list[CellError]:
        """The cells that failed, in submission order."""
        return [v for v in (self._done.get(r) for r in self._labels) if isinstance(v, CellError)]

    def result(self, handle: Any) -> Any:
        """The value of the cell ``handle`` (after :meth:`wait`), or its :class:`CellError`."""
        return handle if self.ray is None else self._done[handle]


def _node_cpus(ray: Any) -> int:
    """The CPUs of the largest live node of the cluster."""
    return max(int(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n["Alive"])


#: The variables that size the engine's pool and OpenMP in a cell and in processes it starts.
_THREAD_VARS = ("SAMARL_NUM_THREADS", "OMP_NUM_THREADS")


def _alone(threads: int, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a cell holding ``threads`` CPUs: the engine (and any process the
    cell starts) uses them all, as in the serial run; the worker's one thread is restored after."""
    import samarl

    saved = {name: os.environ.get(name) for name in _THREAD_VARS}
    os.environ.update(dict.fromkeys(_THREAD_VARS, str(threads)))
    samarl.set_num_threads(threads)
    try:
        return fn(*args, **kwargs)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        samarl.set_num_threads(0)  # back to the default: SAMARL_NUM_THREADS


def _describe(error: BaseException) -> str:
    """``TypeName: message`` of the exception a cell raised (unwrapping Ray's task error)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[0] if text else ''}"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"
