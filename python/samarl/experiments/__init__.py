"""The paper's experiments, as library functions: typed settings in, results out.

Each experiment module holds its settings dataclass (``SETTINGS``) and
``run(settings, out, *, ray=None) -> dict``, which writes ``out/results.json``, PNG figures and
``out/report.md`` (a table and the figures) and returns the results (``failed_cells`` among them
when some of its cells failed). ``ray`` is a connected Ray module
(:func:`samarl.distributed.session`) that runs the cells as Ray tasks; without it they run here.

- ``feasibility``: consensus vs independent vs centralized vs unconstrained (a few seeds);
- ``consensus``: consensus error and violation vs rounds K and vs graph family, beside the bound;
- ``scaling``: wall time of training per iteration and of execution per day vs N (log-log);
- ``faults``: lossy links (drop probability p) and agents removed mid-run;
- ``ctde``: the centralised-critic baseline (:mod:`samarl.experiments.ctde`).

For example::

    from samarl.experiments import feasibility
    results = feasibility.run(feasibility.FeasibilitySettings(quick=True), "runs/feasibility")

``samarl experiment NAME [--quick] [--policy DIR] --out DIR`` (:mod:`samarl.cli.experiment`) builds
the settings from its options and calls ``run``; the experiments know nothing of the command line.
``demo`` (:mod:`samarl.experiments.demo`) is the main job of ``samarl demo``.

An experiment trains the policies it needs once (into ``OUT/policy``) and every mode reuses them;
``policy`` (``--policy DIR``) takes a ``samarl train`` run instead. ``quick`` sizes run in a few
minutes on 2 cores (CI checks them); the default sizes of all four together take under an hour
there.
"""

from __future__ import annotations

__all__ = ["EXPERIMENTS", "STANDALONE"]

#: name -> (module, help). Each module provides ``SETTINGS`` and ``run(settings, out, *, ray)``.
EXPERIMENTS = {
    "feasibility": ("samarl.experiments.feasibility", "consensus vs independent vs centralized"),
    "consensus": ("samarl.experiments.consensus", "error and violation vs K and graph family"),
    "scaling": ("samarl.experiments.scaling", "wall time vs N for training and execution"),
    "faults": ("samarl.experiments.faults", "lossy links and agents removed mid-run"),
    "ctde": ("samarl.experiments.ctde", "the centralised-critic (CTDE) baseline"),
}
#: Experiments whose settings are not an :class:`~samarl.experiments.runs.ExperimentSettings`:
#: they take none of the common options, and their module is imported only when chosen.
STANDALONE = frozenset({"ctde"})
