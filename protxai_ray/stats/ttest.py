"""p-values of the one-sample t-test of r > 0 (the seed's overlay), from per-cell moments.

Matches ``scipy.stats.ttest_1samp(x, 0, alternative='greater')``: t = mean / (sd / sqrt(n)) with the
sample SD (ddof = 1), p = P(T_{n-1} >= t). Not testable (NaN): n < 2 or sd = 0 (t undefined).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def ttest_greater(n: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t float64[cells], p float64[cells]), NaN where not testable."""
    n = np.asarray(n, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    sd = np.asarray(sd, dtype=np.float64)
    testable = (n >= 2) & np.isfinite(sd) & (sd > 0)
    t = np.full(n.shape, np.nan)
    p = np.full(n.shape, np.nan)
    t[testable] = mean[testable] / (sd[testable] / np.sqrt(n[testable]))
    p[testable] = special.stdtr(n[testable] - 1, -t[testable])
    return t, p
