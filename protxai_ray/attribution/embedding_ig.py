"""Embedding integrated gradients, accumulated node chunk by node chunk.

``IG_t = Σ_d (x − b)_{t,d} · Σ_i w_i ∂F/∂x_{t,d}(x(α_i))`` — one value per token, start/end included.
"""

from __future__ import annotations

import torch


class EmbeddingIG:
    """Running ``float64[P, T]`` embedding IG of P proteins whose path inputs differ by ``delta [P, T, D]``."""

    def __init__(self, delta: torch.Tensor) -> None:
        self.delta = delta
        self.total = torch.zeros(delta.shape[:2], dtype=torch.float64, device=delta.device)

    def add(self, grad_x: torch.Tensor, weights: torch.Tensor) -> None:
        """Fold in ``grad_x [P, k, T, D]`` at k nodes with IG weights ``weights [k]``."""
        if not bool((weights != 0).any()):
            return
        per_node = torch.einsum("pktd,ptd->pkt", grad_x.to(self.delta.dtype), self.delta)
        self.total += torch.einsum("pkt,k->pt", per_node.double(), weights.double())
