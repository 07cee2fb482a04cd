"""Live views of a search. Each consumes events only (see `base.EventView`)."""
from nasbench.widgets.alpha import AlphaEvolution
from nasbench.widgets.base import EventView, op_color
from nasbench.widgets.board import TrainingBoard
from nasbench.widgets.collapse import CollapseView
from nasbench.widgets.controller import ControllerPanel
from nasbench.widgets.dashboard import Dashboard
from nasbench.widgets.evolution import EvolutionPanel
from nasbench.widgets.fairness import SamplingFairness
from nasbench.widgets.graph import SupernetGraph
from nasbench.widgets.latency import LatencyPanel
from nasbench.widgets.memory_banks import MemoryBankView
from nasbench.widgets.pareto import ParetoView
from nasbench.widgets.ranking import KLRanking

__all__ = ["EventView", "op_color", "TrainingBoard", "KLRanking", "SamplingFairness", "EvolutionPanel", "SupernetGraph", "AlphaEvolution", "CollapseView", "LatencyPanel", "MemoryBankView", "ParetoView", "ControllerPanel", "Dashboard"]
