"""Performance estimation: scoring with shared weights, BN recalibration, stand-alone training,
cost (params, FLOPs)."""
from nasbench.evaluate.cost import count_flops, count_params
from nasbench.evaluate.scoring import accuracy, recalibrate_bn
from nasbench.evaluate.standalone import StandaloneResult, train_standalone

__all__ = ["accuracy", "recalibrate_bn", "count_params", "count_flops", "train_standalone",
           "StandaloneResult"]
