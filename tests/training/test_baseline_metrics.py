"""Hydrophobicity-window baseline and AUROC against hand-worked values and scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from protxai_ray.training.baseline import KYTE_DOOLITTLE, max_window_hydropathy
from protxai_ray.training.metrics import auroc, balanced_accuracy, binary_report


def test_max_window_finds_the_hydrophobic_stretch():
    helix = "L" * 19
    seq = "DDDDKKKK" + helix + "EEEERRRR"
    assert np.isclose(max_window_hydropathy(seq), KYTE_DOOLITTLE["L"])
    # one polar residue inside the best window lowers the mean by (3.8 + 3.5) / 19
    assert np.isclose(max_window_hydropathy("DDDD" + "L" * 9 + "D" + "L" * 9 + "DDDD"), 3.8 - 7.3 / 19)
    # shorter than the window: the whole-sequence mean
    assert np.isclose(max_window_hydropathy("IK"), (4.5 - 3.9) / 2)


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # rounding makes ties
    assert np.isclose(auroc(labels, scores), roc_auc_score(labels, scores))
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0


def test_binary_report_counts_and_balanced_accuracy():
    labels = np.array([0, 0, 0, 1])
    report = binary_report(labels, np.array([0.1, 0.9, 0.2, 0.8]), 0.5)
    assert report["accuracy"] == 0.75 and report["n_positive"] == 1
    assert balanced_accuracy(labels, np.array([0, 1, 0, 1])) == (2 / 3 + 1) / 2
