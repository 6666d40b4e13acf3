"""p-values of the one-sided Wilcoxon signed-rank test (r > 0) from per-cell rank sums.

The ranking itself is done in SQL (``enrichment.sql`` ``signed_ranks``); this module turns each cell's
(n, n_nonzero, r_plus, tie_term, has_ties, ranks) into p exactly as
``scipy.stats.wilcoxon(x, alternative='greater')`` with its defaults (zero_method='wilcox',
correction=False, method='auto') does in scipy 1.17:

* n (values, zeros included) > 50 → normal approximation: z = (r_plus - c(c+1)/4) / se,
  se = sqrt((c(c+1)(2c+1) - tie_term/2) / 24), c = n_nonzero, p = Φ(-z) (no continuity correction).
* n <= 50, no zeros and no ties → exact null distribution of r_plus (2^n equally likely sign vectors),
  p = P(R+ >= floor(r_plus)), evaluated with scipy's own branch (upper tail summed when the statistic is
  at most the mean, else 1 - lower tail) so that tiny p agree to the last bits.
* n <= 13 with zeros or ties → scipy's exact permutation test over all 2^n sign flips: p = share of
  flips whose rank sum is >= r_plus (counted here by dynamic programming over the doubled ranks).
* 13 < n <= 50 with zeros or ties → normal approximation as above.

Not testable (p = NaN, method "none"): n < 2, or every value is zero.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

EXACT_MAX_N = 50
PERMUTATION_MAX_N = 13


@functools.cache
def null_distribution(n: int) -> np.ndarray:
    """P(R+ = k) for k = 0..n(n+1)/2 under H0, n values without ties: float64[n(n+1)/2 + 1].

    Built by adding one rank at a time (each sign equally likely): the same recurrence and float
    operations as scipy, hence the same bits.
    """
    pmf = np.ones(1, dtype=np.float64)
    for k in range(1, n + 1):
        previous = pmf
        pmf = np.zeros(k * (k + 1) // 2 + 1, dtype=np.float64)
        pmf[: len(previous)] = previous * 0.5
        pmf[-len(previous) :] += previous * 0.5
    return pmf


def exact_greater_p(n: int, r_plus: float) -> float:
    """P(R+ >= floor(r_plus)) for n values without ties or zeros."""
    pmf = null_distribution(n)
    k = int(np.floor(r_plus))
    if k <= n * (n + 1) / 4:
        return float(pmf[k:].sum())
    return float(1 - pmf[:k].sum())


def permutation_greater_p(ranks: np.ndarray, r_plus: float) -> float:
    """Share of the 2^len(ranks) sign flips with rank sum >= r_plus (ranks: non-zero values' ranks).

    Averaged ranks are multiples of 1/2, so doubled ranks are integers and the count is exact; zeros
    flip onto themselves and cancel out of the share.
    """
    doubled = np.rint(np.asarray(ranks, dtype=np.float64) * 2).astype(np.int64)
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    counts[0] = 1
    for rank in doubled:
        shifted = np.zeros_like(counts)
        shifted[rank:] = counts[: len(counts) - rank]
        counts = counts + shifted
    threshold = int(np.ceil(2 * r_plus - 1e-9))
    return float(counts[threshold:].sum() / 2 ** len(doubled))


def signed_rank_greater(
    n: np.ndarray,
    n_nonzero: np.ndarray,
    r_plus: np.ndarray,
    tie_term: np.ndarray,
    has_ties: np.ndarray,
    ranks: list[np.ndarray | None],
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: (p float64[cells] with NaN where not testable, method str[cells]).

    n, n_nonzero, r_plus, tie_term, has_ties: arrays [cells]; ranks[i]: the ranks of cell i's non-zero
    values (needed only where n <= 13).
    """
    n = np.asarray(n, dtype=np.int64)
    count = np.asarray(n_nonzero, dtype=np.float64)
    r_plus = np.asarray(r_plus, dtype=np.float64)
    tie_term = np.asarray(tie_term, dtype=np.float64)
    has_ties = np.asarray(has_ties, dtype=bool)
    p = np.full(n.shape, np.nan)
    method = np.full(n.shape, "none", dtype=object)

    testable = (n >= 2) & (count > 0)
    zeros_or_ties = has_ties | (count < n)
    exact = testable & (n <= EXACT_MAX_N) & ~zeros_or_ties
    permutation = testable & (n <= PERMUTATION_MAX_N) & zeros_or_ties
    asymptotic = testable & ~exact & ~permutation

    mean = count * (count + 1.0) * 0.25
    se = np.sqrt((count * (count + 1.0) * (2.0 * count + 1.0) - tie_term / 2) / 24)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (r_plus - mean) / se
    p[asymptotic] = special.ndtr(-z[asymptotic])
    method[asymptotic] = "asymptotic"

    for i in np.flatnonzero(exact):
        p[i] = exact_greater_p(int(n[i]), r_plus[i])
    method[exact] = "exact"

    for i in np.flatnonzero(permutation):
        p[i] = permutation_greater_p(np.asarray(ranks[i]), r_plus[i])
    method[permutation] = "permutation"
    return p, method
