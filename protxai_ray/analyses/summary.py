"""Statistics of the faithfulness flips across proteins (numpy/scipy only: no model, no torch).

Each protein contributes one number per n and kind: the mean target-logit drop over its draws. Across
proteins the mean drop gets a two-sided t confidence interval (mean ± t_{1-α/2, P-1} · s / √P, s with
ddof = 1). The paired difference top − random is tested the same way, per protein first, so the
interval of the difference is not the difference of the intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95

SUMMARY_COLUMNS = [
    "n",
    "proteins",
    "draws",
    "top_mean",
    "top_ci_low",
    "top_ci_high",
    "random_mean",
    "random_ci_low",
    "random_ci_high",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
]


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of the t interval for the mean of ``values``; low/high NaN below 2 values."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def per_protein(drops: pd.DataFrame) -> pd.DataFrame:
    """Mean drop over draws per (accession, n) with columns ``top``, ``random``, ``draws`` (fewest draws
    of the two kinds); only (accession, n) pairs that have both kinds."""
    means = drops.groupby(["accession", "n", "kind"], sort=True)["drop"].agg(["mean", "size"]).reset_index()
    wide = means.pivot_table(index=["accession", "n"], columns="kind", values=["mean", "size"])
    out = pd.DataFrame(
        {
            "top": wide[("mean", "top")],
            "random": wide[("mean", "random")],
            "draws": wide[[("size", "top"), ("size", "random")]].min(axis=1),
        }
    ).dropna()
    return out.reset_index()


def summarize_drops(drops: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per n: proteins, draws per protein, and mean (CI) of the top, random and top − random drops.

    ``drops``: one row per variant with columns accession, n, kind ('top' | 'random'), draw, drop.
    """
    if drops.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    proteins = per_protein(drops)
    rows = []
    for n, group in proteins.groupby("n", sort=True):
        row = {"n": int(n), "proteins": len(group), "draws": int(group["draws"].min())}
        for name, values in (
            ("top", group["top"]),
            ("random", group["random"]),
            ("diff", group["top"] - group["random"]),
        ):
            row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = t_interval(
                values, confidence
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
