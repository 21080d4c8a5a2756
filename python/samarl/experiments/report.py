"""What the experiments share after their runs: statistics, tables, ``results.json``, ``report.md``.

Every experiment (:mod:`samarl.experiments.runs` for what comes before) ends the same way: the
per-seed values summarised (:func:`mean_spread`), slopes fitted (:func:`fit_slope`), then
``OUT/results.json``, PNG figures and ``OUT/report.md`` written (:func:`write_outputs`), or, when
some of its cells failed, the failures (:func:`write_failures`).
"""

from __future__ import annotations

import json
import math
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from samarl._io import atomic_write

__all__ = [
    "check_line",
    "environment",
    "fit_slope",
    "fmt",
    "markdown_table",
    "mean_spread",
    "pm",
    "write_failures",
    "write_outputs",
]


def mean_spread(values: Sequence[float | None]) -> dict[str, Any]:
    """``{mean, ci95, std, min, max, n, per_seed}`` of per-seed values (``None`` entries skipped).

    ``ci95`` is the half-width of the 95% confidence interval of the mean, Student's t with
    ``n - 1`` degrees of freedom on the sample standard deviation (``None`` with fewer than two
    values).
    """
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {
            "mean": None,
            "ci95": None,
            "std": None,
            "min": None,
            "max": None,
            "n": 0,
            "per_seed": list(values),
        }
    from scipy import stats  # here: the ctde cells import this module and measure their memory

    n = len(vals)
    std = statistics.stdev(vals) if n > 1 else 0.0
    ci95 = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n) if n > 1 else None
    return {
        "mean": statistics.fmean(vals),
        "ci95": ci95,
        "std": std,
        "min": min(vals),
        "max": max(vals),
        "n": n,
        "per_seed": list(values),
    }


def fit_slope(ns: Sequence[float], ts: Sequence[float]) -> float | None:
    """Least-squares slope of ``log t`` against ``log N`` (``None`` with fewer than 2 points): the
    exponent of a power law ``t ~ N**k`` (1: linear in N)."""
    if len(ns) < 2:
        return None
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell."""
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10 ** (-digits) or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def pm(stats: dict[str, Any], digits: int = 4) -> str:
    """``mean ± ci95`` of a :func:`mean_spread` entry (the mean alone for one seed)."""
    if stats["mean"] is None:
        return "n/a"
    if stats.get("ci95") is None:
        return fmt(stats["mean"], digits)
    return f"{fmt(stats['mean'], digits)} ± {fmt(stats['ci95'], digits)}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def environment(*, torch_threads: int | None = None) -> dict[str, Any]:
    """Where the experiment ran (recorded beside its results). ``torch_threads``: the runs' torch
    threads when they ran elsewhere (Ray workers), default this process's."""
    import os

    import torch

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch_threads is None else torch_threads,
    }


def write_outputs(out: Path, results: dict[str, Any], report: str) -> None:
    """Writes ``results.json`` and ``report.md`` (atomically) and says where they are."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.json", json.dumps(results, indent=2, default=_jsonable) + "\n")
    atomic_write(out / "report.md", report.rstrip() + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'report.md'}")


def write_failures(out: Path, experiment: str, grid: Any, failed: Sequence[Any]) -> dict[str, Any]:
    """An experiment whose cells (:class:`~samarl.distributed.CellGrid`) did not all succeed:
    ``results.json`` lists the failed cells (``failed_cells``, with their errors) and the cells
    that finished, the report says the same; returns those results (``samarl experiment`` exits
    with status 1)."""
    failed_labels = {f.cell for f in failed}
    finished = [label for label in grid.labels() if label not in failed_labels]
    results = {
        "experiment": experiment,
        "failed_cells": [f.to_dict() for f in failed],
        "finished_cells": finished,
        "environment": environment(),
    }
    lines = [
        f"# {experiment}: {len(failed)} of {len(failed) + len(finished)} cells failed",
        "",
        "No tables or figures: they need every cell. The failed cells and their errors:",
        "",
        *[f"- `{f.cell}`: {f.error}" for f in failed],
    ]
    write_outputs(out, results, "\n".join(lines))
    for f in failed:
        print(f"cell {f.cell} failed: {f.error}")
    return results


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def check_line(ok: bool, text: str) -> str:
    """A report line for an expectation: PASS / FAIL and what was checked."""
    return f"- **{'PASS' if ok else 'FAIL'}**: {text}"
