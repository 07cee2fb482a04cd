"""Symmetric KL divergence between two predictive distributions (Bender et al., ICML 2018).

Bender et al. score a candidate by how far its predictions are from the full one-shot model's
(every path on) on training examples; no labels are needed:

    D(p, q) = KL(p || q) + KL(q || p) = sum_c (p_c - q_c) (log p_c - log q_c)

averaged over the examples. It is 0 when the two predict alike and grows as they disagree.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def symmetric_kl(logits_p: torch.Tensor, logits_q: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """KL(p || q) + KL(q || p) for p = softmax(logits_p), q = softmax(logits_q), over the last
    dimension (classes). `reduction`: "mean" over examples, "sum", or "none" (one per example)."""
    if logits_p.shape != logits_q.shape:
        raise ValueError(f"logits of different shapes: {tuple(logits_p.shape)} and {tuple(logits_q.shape)}")
    log_p = F.log_softmax(logits_p.double(), dim=-1)   # (B, classes), in float64: small KLs matter
    log_q = F.log_softmax(logits_q.double(), dim=-1)
    per_example = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1)   # (B,)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    if reduction == "mean":
        return per_example.mean()
    raise ValueError(f"reduction must be mean, sum or none, got {reduction!r}")
