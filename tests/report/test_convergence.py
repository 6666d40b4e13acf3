"""The head-relevance convergence check against a rough random-weight BERT: coarse quadrature is flagged,
converged quadrature is not."""

from __future__ import annotations

import numpy as np

from protxai_ray.attribution.engine import attribute_batch
from protxai_ray.report.analyses import ConvergenceProtein, head_convergence

SEQUENCE = "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF"  # HBA_HUMAN 1-47


def _stored(adapter, steps: int) -> ConvergenceProtein:
    heads = attribute_batch(adapter, [SEQUENCE], [0], steps=steps)[0].heads
    mask = np.zeros(len(SEQUENCE) + 2)
    mask[20:35] = 1.0
    return ConvergenceProtein("P69905", SEQUENCE, 0, mask, heads, steps)


def test_converged_run_matches_its_finer_rerun(rough_bert):
    table = head_convergence(rough_bert, [_stored(rough_bert, 64)])
    row = table.iloc[0]
    assert row.fine_steps == 128 and row.r_corr > 0.9999 and row.relative_change < 1e-4


def test_coarse_run_is_flagged(rough_bert):
    coarse = head_convergence(rough_bert, [_stored(rough_bert, 4)]).iloc[0]
    converged = head_convergence(rough_bert, [_stored(rough_bert, 64)]).iloc[0]
    assert coarse.relative_change > 100 * converged.relative_change
    assert coarse.max_r_change > 100 * converged.max_r_change
