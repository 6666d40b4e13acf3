"""Completeness check of the embedding IG and the step schedule of adaptive (``steps="auto"``) runs."""

from __future__ import annotations

import numpy as np

# Below this |F(x) − F(b)| the relative gap is measured against eps instead (a flat path has no scale).
DELTA_EPS = 1e-6
AUTO_FIRST_STEPS = 16


def convergence_delta(ig_sum: np.ndarray, logit: np.ndarray, baseline_logit: np.ndarray) -> np.ndarray:
    """Relative completeness gap ``|ΣIG − (F(x) − F(b))| / max(|F(x) − F(b)|, eps)``, per protein."""
    gap = np.asarray(logit, dtype=np.float64) - np.asarray(baseline_logit, dtype=np.float64)
    return np.abs(np.asarray(ig_sum, dtype=np.float64) - gap) / np.maximum(np.abs(gap), DELTA_EPS)


def step_schedule(steps: int | str, max_steps: int) -> list[int]:
    """Step counts to try in order: ``[steps]``, or 16, 32, 64, … ≤ ``max_steps`` for ``"auto"``."""
    if steps == "auto":
        if max_steps < AUTO_FIRST_STEPS:
            raise ValueError(f"max_steps must be at least {AUTO_FIRST_STEPS} for steps='auto'")
        schedule = [AUTO_FIRST_STEPS]
        while schedule[-1] * 2 <= max_steps:
            schedule.append(schedule[-1] * 2)
        return schedule
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer or 'auto', got {steps!r}")
    return [int(steps)]
