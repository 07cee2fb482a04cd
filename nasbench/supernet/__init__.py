"""Weight-sharing building blocks: the choice edge (every candidate of one decision side by side)."""
from nasbench.supernet.choice import ChoiceEdge

__all__ = ["ChoiceEdge"]
