"""The paper's experiments: ``samarl experiment NAME [--quick] [--policy DIR] --out DIR``.

Each writes ``OUT/results.json``, PNG figures and ``OUT/report.md`` (a table and the figures):

- ``feasibility``: consensus vs independent vs centralized vs unconstrained (a few seeds);
- ``consensus``: consensus error and violation vs rounds K and vs graph family, beside the bound;
- ``scaling``: wall time of training per iteration and of execution per day vs N (log-log);
- ``faults``: lossy links (drop probability p) and agents removed mid-run;
- ``ctde``: the centralised-critic baseline (:mod:`samarl.experiments.ctde`).

``demo`` (:mod:`samarl.experiments.demo`) is the main job of ``samarl demo``.

An experiment trains the policies it needs once (into ``OUT/policy``) and every mode reuses them;
``--policy DIR`` takes a ``samarl train`` run instead. ``--quick`` sizes run in a few minutes on 2
cores (CI checks them); the default sizes of all four together take under an hour there.
"""

from __future__ import annotations

__all__ = ["EXPERIMENTS", "STANDALONE"]

#: name -> (module, help). Each module provides ``add_arguments(parser)`` and ``run(args) -> int``.
EXPERIMENTS = {
    "feasibility": ("samarl.experiments.feasibility", "consensus vs independent vs centralized"),
    "consensus": ("samarl.experiments.consensus", "error and violation vs K and graph family"),
    "scaling": ("samarl.experiments.scaling", "wall time vs N for training and execution"),
    "faults": ("samarl.experiments.faults", "lossy links and agents removed mid-run"),
    "ctde": ("samarl.experiments.ctde", "the centralised-critic (CTDE) baseline"),
}
#: Experiments whose module defines all of its arguments (parsed when it is chosen).
STANDALONE = frozenset({"ctde"})
