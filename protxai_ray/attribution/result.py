"""The per-protein result of one attribution: ``Attribution``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Attribution:
    """Relevance of one protein for one target class.

    Positions are token positions: 0 = start token, 1..L = residues (UniProt positions), L + 1 = end.

    residues: ``float32[L + 2]`` embedding IG per token (summed over the embedding dimension).
    heads: ``float32[layers, heads, L + 2]`` head conductance per token.
    logit / baseline_logit: target logit F(x) and F(b). probability: softmax of the target at x.
    convergence_delta: ``|Σ residues − (F(x) − F(b))| / max(|F(x) − F(b)|, eps)``.
    n_steps: integration steps used; with ``steps="auto"`` the path points evaluated (all segments).
    head_error: estimated relative error of the head tensor, max over layers (``steps="auto"``; None for
    a fixed step count, whose error is not estimated).
    target: the class index attributed (argmax resolved when −1 was asked).
    derivative: how ∂h/∂α was computed for this protein (``spectral`` falls back to ``exact`` for groups
    whose held tensors would exceed the memory budget); the FLOP count follows it.
    """

    residues: np.ndarray
    heads: np.ndarray
    logit: float
    baseline_logit: float
    probability: float
    convergence_delta: float
    n_steps: int
    target: int
    derivative: str = "exact"
    head_error: float | None = None

    @property
    def ig_sum(self) -> float:
        """Σ of the embedding IG over all tokens (≈ logit − baseline_logit by completeness)."""
        return float(self.residues.astype(np.float64).sum())
