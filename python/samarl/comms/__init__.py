"""Communication between agents: who talks to whom (:mod:`~samarl.comms.graph`) and how they
agree on one value by averaging with their neighbours (:mod:`~samarl.comms.consensus`)."""

from __future__ import annotations

from samarl.comms.consensus import Consensus
from samarl.comms.graph import GRAPH_FAMILIES, Graph, is_graph_file, make_graph

__all__ = ["GRAPH_FAMILIES", "Consensus", "Graph", "is_graph_file", "make_graph"]
