"""Communication between agents: who talks to whom (:mod:`~samarl.comms.graph`), how they
agree on one value by averaging with their neighbours (:mod:`~samarl.comms.consensus`), and one
part's rows of those rounds in a partitioned run (:mod:`~samarl.comms.halo`)."""

from __future__ import annotations

from samarl.comms.consensus import Consensus
from samarl.comms.graph import GRAPH_FAMILIES, Graph, is_graph_file, make_graph
from samarl.comms.halo import HaloRows

__all__ = ["GRAPH_FAMILIES", "Consensus", "Graph", "HaloRows", "is_graph_file", "make_graph"]
