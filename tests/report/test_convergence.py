"""The head-relevance convergence check against a rough random-weight BERT: coarse quadrature is flagged,
converged quadrature is not."""

from __future__ import annotations

import numpy as np
import pytest

from protxai_ray.attribution.engine import attribute_batch
from protxai_ray.models import load_model
from protxai_ray.models.random_init import write_random_model
from protxai_ray.report.analyses import ConvergenceProtein, head_convergence

SEQUENCE = "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF"  # HBA_HUMAN 1-47


@pytest.fixture(scope="module")
def rough(tmp_path_factory):
    path = write_random_model(
        tmp_path_factory.mktemp("rough"),
        model_type="bert",
        num_layers=3,
        num_heads=5,
        hidden=60,
        intermediate=80,
        seed=2,
        initializer_range=0.3,
    )
    return load_model(str(path))


def _stored(adapter, steps: int) -> ConvergenceProtein:
    heads = attribute_batch(adapter, [SEQUENCE], [0], steps=steps)[0].heads
    mask = np.zeros(len(SEQUENCE) + 2)
    mask[20:35] = 1.0
    return ConvergenceProtein("P69905", SEQUENCE, 0, mask, heads, steps)


def test_converged_run_matches_its_finer_rerun(rough):
    table = head_convergence(rough, [_stored(rough, 64)])
    row = table.iloc[0]
    assert row.fine_steps == 128 and row.r_corr > 0.9999 and row.relative_change < 1e-4


def test_coarse_run_is_flagged(rough):
    coarse = head_convergence(rough, [_stored(rough, 4)]).iloc[0]
    converged = head_convergence(rough, [_stored(rough, 64)]).iloc[0]
    assert coarse.relative_change > 100 * converged.relative_change
    assert coarse.max_r_change > 100 * converged.max_r_change
