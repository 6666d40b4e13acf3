"""Held-out metrics of a binary or multi-class classifier: AUROC, accuracy, balanced accuracy."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``labels`` (0/1), ties counted half (Mann–Whitney U)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(predicted)))


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``labels``."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    recalls = [float(np.mean(predicted[labels == c] == c)) for c in np.unique(labels)]
    return float(np.mean(recalls))


def binary_report(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """AUROC of the scores, and accuracy / balanced accuracy of ``scores > threshold``."""
    predicted = (np.asarray(scores) > threshold).astype(int)
    return {
        "auroc": auroc(labels, scores),
        "accuracy": accuracy(labels, predicted),
        "balanced_accuracy": balanced_accuracy(labels, predicted),
        "n": int(len(labels)),
        "n_positive": int(np.sum(labels)),
    }
