"""Completeness check of the embedding IG (reported; it does not bound the heads' error: adaptive.py does)."""

from __future__ import annotations

import numpy as np

# Below this |F(x) − F(b)| the relative gap is measured against eps instead (a flat path has no scale).
DELTA_EPS = 1e-6


def convergence_delta(ig_sum: np.ndarray, logit: np.ndarray, baseline_logit: np.ndarray) -> np.ndarray:
    """Relative completeness gap ``|ΣIG − (F(x) − F(b))| / max(|F(x) − F(b)|, eps)``, per protein."""
    gap = np.asarray(logit, dtype=np.float64) - np.asarray(baseline_logit, dtype=np.float64)
    return np.abs(np.asarray(ig_sum, dtype=np.float64) - gap) / np.maximum(np.abs(gap), DELTA_EPS)
