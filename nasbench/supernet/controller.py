"""The ENAS controller and its REINFORCE update (Pham et al., ICML 2018, Sec. 2.2-2.3;
melodyguan/enas src/cifar10/micro_controller.py).

An LSTM takes the decisions one after the other; each decision's distribution is read off its
hidden state h_t, and the sampled choice is fed back as the next input:

- an op decision: logits = W_soft h_t + b_soft; input next = the op's embedding;
- an input decision of node i (ENAS micro space): attention over the earlier nodes' anchors,
  logits_j = v^T tanh(W_1 h_j + W_2 h_t) for j < i (h_j: the LSTM state after node j was built,
  0 for the cell's two inputs); input next = the chosen node's anchor.

Logits are divided by the temperature (when set), then squashed: C * tanh(logits), with
C = tanh_constant for inputs and tanh_constant / op_tanh_reduce for ops (official micro values:
no temperature, 1.10, 2.5). On the ENAS space, per cell and node the order is x input, y input,
x op, y op, then one more LSTM step on the last op's embedding gives the node's anchor (as in
the official sampler); the reduction cell continues the normal cell's LSTM state. A space with
op decisions only (NB201: one op per edge) is a plain sequence of op decisions.

REINFORCE (eq. (1) of the paper, the official `build_trainer`):

    R = acc_valid(m) + entropy_weight * H(pi)       (one validation minibatch)
    b <- b - (1 - bl_dec) (b - R)                   (the baseline moves first, then)
    loss = -log pi(m) * (R - b)                     (minimised by Adam)

so that E[grad loss] = -grad E_{m~pi}[R(m)] for any b that does not depend on m.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from nasbench.optim import TFAdam
from nasbench.spaces.base import Choices, Space
from nasbench.spaces.enas import EnasSpace


@dataclass
class Decoded:
    """One pass of the controller over every decision."""
    choices: Choices
    log_prob: torch.Tensor          # () sum over decisions of log pi(choice_d | earlier choices)
    entropy: torch.Tensor           # () sum over decisions of the entropy of pi_d (no gradient)
    probs: list[np.ndarray]         # per decision (space order): pi_d as the LSTM saw it


def squash(logits: torch.Tensor, temperature: float | None, tanh_constant: float | None) -> torch.Tensor:
    """logits / temperature, then tanh_constant * tanh(.) (official micro_controller.py)."""
    if temperature is not None:
        logits = logits / temperature
    if tanh_constant is not None:
        logits = tanh_constant * torch.tanh(logits)
    return logits


class Controller(nn.Module):
    """LSTM controller over a space's decisions. `forward()` samples an architecture;
    `forward(choices)` scores the given one (log pi and entropy, teacher-forced);
    `forward(greedy=True)` takes the most likely choice at every decision."""

    def __init__(self, space: Space, lstm_size: int = 100, tanh_constant: float | None = 1.10,
                 op_tanh_reduce: float = 2.5, temperature: float | None = None):
        super().__init__()
        self.space = space
        self.enas = isinstance(space, EnasSpace)
        self.tanh_constant, self.op_tanh_reduce, self.temperature = tanh_constant, op_tanh_reduce, temperature
        self.lstm = nn.LSTMCell(lstm_size, lstm_size, bias=False)   # official: one layer, no bias
        self.g_emb = nn.Parameter(torch.empty(1, lstm_size))           # the "go" input
        # one softmax head and one embedding per distinct list of op options (ENAS: a single one)
        op_lists = [tuple(o) for d, o in enumerate(space.options) if not self._is_input(d)]
        self.groups = list(dict.fromkeys(op_lists))
        self.group_of = {d: self.groups.index(tuple(o)) for d, o in enumerate(space.options)
                         if not self._is_input(d)}
        self.w_soft = nn.ModuleList(nn.Linear(lstm_size, len(g)) for g in self.groups)
        self.w_emb = nn.ModuleList(nn.Embedding(len(g), lstm_size) for g in self.groups)
        self.w_attn_1 = nn.Linear(lstm_size, lstm_size, bias=False)
        self.w_attn_2 = nn.Linear(lstm_size, lstm_size, bias=False)
        self.v_attn = nn.Linear(lstm_size, 1, bias=False)
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)                              # official initializer
        self.register_buffer("b_no_learn", torch.zeros(len(self.groups[0]) if self.groups else 0))
        if self.enas and len(space.ops) >= 2:
            # official: b_soft starts at (10, 10, 0, ...), and the normal cell's op logits get
            # a fixed (0.25, 0.25, -0.25, ...): both favour the two separable convs at the start
            with torch.no_grad():
                self.w_soft[0].bias.zero_()[:2] = 10.0
            self.b_no_learn[:2], self.b_no_learn[2:] = 0.25, -0.25

    def _is_input(self, d: int) -> bool:
        return self.enas and self.space.is_input(d)

    # -- one decision ------------------------------------------------------------------------
    def _decide(self, logits, d, given, greedy, out):
        """Pick (or take `given`) the choice of decision d from its squashed logits (1, n)."""
        log_p = torch.log_softmax(logits, -1)[0]                         # (n,)
        p = log_p.exp()
        if given is not None:
            k = int(given[d])
        elif greedy:
            k = int(p.argmax())
        else:
            k = int(torch.multinomial(p.detach(), 1))                    # the seeded torch RNG
        out["choices"][d] = k
        out["log_prob"] = out["log_prob"] + log_p[k]
        out["entropy"] = out["entropy"] - (p * log_p).sum().detach()
        out["probs"][d] = p.detach().cpu().numpy()
        return k

    def _op(self, d, state, given, greedy, out, normal_cell=False):
        h, c = self.lstm(state["input"], (state["h"], state["c"]))
        state["h"], state["c"] = h, c
        g = self.group_of[d]
        tanh_c = None if self.tanh_constant is None else self.tanh_constant / self.op_tanh_reduce
        logits = squash(self.w_soft[g](h), self.temperature, tanh_c)     # (1, n_ops)
        if normal_cell:
            logits = logits + self.b_no_learn
        k = self._decide(logits, d, given, greedy, out)
        state["input"] = self.w_emb[g].weight[k:k + 1]                   # (1, lstm_size)

    def _index(self, d, state, anchors, keys, given, greedy, out):
        h, c = self.lstm(state["input"], (state["h"], state["c"]))
        state["h"], state["c"] = h, c
        query = torch.tanh(torch.cat(keys) + self.w_attn_2(h))           # (i, lstm): W1 h_j + W2 h_t
        logits = squash(self.v_attn(query).view(1, -1), self.temperature, self.tanh_constant)  # (1, i)
        k = self._decide(logits, d, given, greedy, out)
        state["input"] = anchors[k]                                      # (1, lstm_size)

    # -- a whole architecture ------------------------------------------------------------------
    def forward(self, choices: Sequence[int] | None = None, greedy: bool = False) -> Decoded:
        n = len(self.space.decisions)
        given = self.space.validate(choices) if choices is not None else None
        zero = self.g_emb.new_zeros(1, self.g_emb.size(1))
        state = {"input": self.g_emb, "h": zero, "c": zero}
        out = {"choices": [0] * n, "log_prob": self.g_emb.new_zeros(()),
               "entropy": self.g_emb.new_zeros(()), "probs": [None] * n}
        if not self.enas:
            for d in range(n):
                self._op(d, state, given, greedy, out)
        else:
            space = self.space
            for cell in range(2):
                anchors, keys = [], []
                state["input"] = self.g_emb
                for _ in range(2):                                       # the cell's two inputs
                    state["h"], state["c"] = self.lstm(state["input"], (state["h"], state["c"]))
                    anchors.append(zero)
                    keys.append(self.w_attn_1(state["h"]))
                for i in range(2, space.nodes + 2):
                    for slot in range(2):
                        self._index(space.decision(cell, i, slot, "in"), state, anchors, keys, given, greedy, out)
                    for slot in range(2):
                        self._op(space.decision(cell, i, slot, "op"), state, given, greedy, out,
                                 normal_cell=cell == 0)
                    state["h"], state["c"] = self.lstm(state["input"], (state["h"], state["c"]))
                    anchors.append(state["h"])                           # node i's anchor h_i
                    keys.append(self.w_attn_1(state["h"]))
                    state["input"] = self.g_emb
        return Decoded(tuple(out["choices"]), out["log_prob"], out["entropy"], out["probs"])


# -- REINFORCE ------------------------------------------------------------------------------------
def reinforce_loss(log_prob: torch.Tensor, reward: float, baseline: float) -> torch.Tensor:
    """-log pi(m) * (R - b): its gradient is an unbiased estimate of -grad E_pi[R]."""
    return -log_prob * (reward - baseline)


def update_baseline(baseline: float, reward: float, bl_dec: float) -> float:
    """b <- b - (1 - bl_dec)(b - R): an exponential moving average of the rewards."""
    return baseline - (1.0 - bl_dec) * (baseline - reward)


class Reinforce:
    """The controller's trainer: `step(reward_fn)` samples `num_aggregate` architectures,
    averages their REINFORCE gradients and takes one Adam step (official: 30 steps of 10)."""

    def __init__(self, controller: Controller, lr: float = 0.0035, bl_dec: float = 0.99,
                 entropy_weight: float | None = 1e-4, num_aggregate: int = 10):
        self.controller = controller
        # official get_train_ops: Adam(beta1=0, epsilon=1e-3), no L2, no clipping
        self.optimizer = TFAdam(controller.parameters(), lr, betas=(0.0, 0.999), eps=1e-3)
        self.bl_dec, self.entropy_weight, self.num_aggregate = bl_dec, entropy_weight, num_aggregate
        self.baseline = 0.0

    def step(self, reward_fn: Callable[[Choices], float]) -> dict:
        """One controller update. Returns the means over its samples (reward, acc, baseline,
        advantage, entropy, loss) and the mean per-decision probabilities (`probs`)."""
        self.optimizer.zero_grad(set_to_none=True)
        rows = []
        for _ in range(self.num_aggregate):
            sample = self.controller()
            acc = float(reward_fn(sample.choices))
            reward = acc + (self.entropy_weight or 0.0) * float(sample.entropy)
            self.baseline = update_baseline(self.baseline, reward, self.bl_dec)
            loss = reinforce_loss(sample.log_prob, reward, self.baseline)
            (loss / self.num_aggregate).backward()                      # gradients averaged
            rows.append((reward, acc, self.baseline, reward - self.baseline, float(sample.entropy),
                         float(loss.detach()), sample.probs))
        self.optimizer.step()
        stats = {k: float(np.mean([r[i] for r in rows])) for i, k in
                 enumerate(("reward", "acc", "baseline", "advantage", "entropy", "loss"))}
        stats["baseline"] = self.baseline                               # the value after the step
        stats["probs"] = [np.mean([r[-1][d] for r in rows], axis=0) for d in range(len(rows[0][-1]))]
        return stats
