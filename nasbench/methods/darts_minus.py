"""DARTS-: Robustly Stepping out of Performance Collapse Without Indicators (Chu, Wang, Zhang,
Zhang, Wei & Xu, ICLR 2021; Meituan-AutoML/DARTS- src/search/model_search.py, src/utils.py
`DecayScheduler`, scripts/run_darts_minus.sh).

DARTS collapses to skip connections because a skip makes a deep supernet easier to train, so
its alpha wins for the wrong reason. DARTS- gives every edge that advantage for free: an
auxiliary skip beside the mixed op, outside the softmax (eq. 3),

    o_bar_{i,j}(x) = beta * x + sum_o softmax(alpha_{i,j})_o * o(x),

with beta decayed linearly per epoch, beta = beta0 * (1 - epoch / epochs) (1 in the first epoch,
1/epochs in the last), so the candidate skip no longer has to win alpha to help training, and
the network at the end of the search is DARTS' again. Everything else is DARTS (first order in
the official script). No indicator, no early stopping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasbench.spaces import CELL_SPACES
from nasbench.methods.darts import Darts, DartsConfig
from nasbench.supernet.mixed import AuxiliarySkipEdge, set_beta


@dataclass
class DartsMinusConfig(DartsConfig):
    order: int = 1                     # src/search/args.py: --unrolled off
    skip_beta: float = 1.0             # beta0 (--skip_beta), decayed linearly (--decay linear)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "C": 4, "layers": 5, "arch_lr": 3e-2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Chu et al. 2021, run_darts_minus.sh: DARTS' settings (50 epochs, batch 64, "
                 "first order), auxiliary skip with beta 1 -> 0 linearly",
        "cpu": "DARTS' CPU preset: epochs=10, layers=5, C=4, arch_lr=3e-2; beta still 1 -> 0",
    }

    NON_NEGATIVE: ClassVar[tuple[str, ...]] = ("skip_beta",)


class DartsMinus(Darts):
    """DARTS with a decaying auxiliary skip on every edge."""

    name = "darts-minus"
    spaces = CELL_SPACES
    Config = DartsMinusConfig
    default_space = "darts"

    def supernet_options(self):
        return {"edge": AuxiliarySkipEdge}

    def beta(self, epoch: int) -> float:
        """DecayScheduler 'linear': beta0 * (T_max - epoch) / T_max."""
        return self.config.skip_beta * (self.config.epochs - epoch) / self.config.epochs

    def train_epoch(self, epoch):
        set_beta(self.supernet, self.beta(epoch))
        self.log_metric("skip_beta", self.beta(epoch))
        super().train_epoch(epoch)
