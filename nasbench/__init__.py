"""nasbench: a workbench for learning and debugging one-shot neural architecture search.

A search space is a list of categorical decisions; an architecture is one choice per decision.
A search method picks choices and shares weights; every run is a stream of events that the
widgets, the recorder and the report consume.
"""

__version__ = "0.1.0"
