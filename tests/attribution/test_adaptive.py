"""Error-controlled integration (``steps="auto"``): estimates against the dense reference, budgets, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.adaptive import ProteinIntegral
from protxai_ray.attribution.dense import dense_reference, layer_errors
from tests.attribution.conftest import PROTEINS, random_adapter

TARGETS = [0, 1, 0, 1]


@pytest.fixture(scope="module")
def rougher_bert(tmp_path_factory):
    """4 layers × 4 heads with weights drawn wide (std 0.45): a path that needs a few hundred nodes."""
    return random_adapter(
        tmp_path_factory,
        "bert",
        double=False,
        num_layers=4,
        num_heads=4,
        hidden=32,
        intermediate=48,
        seed=5,
        initializer_range=0.45,
    )


@pytest.fixture(scope="module")
def references(rougher_bert):
    return [
        dense_reference(rougher_bert, s, t, intervals=2048)[1] for s, t in zip(PROTEINS, TARGETS, strict=True)
    ]


@pytest.mark.parametrize("derivative", ["spectral", "exact"])
def test_estimate_is_conservative_and_under_tolerance(rougher_bert, references, derivative):
    results = attribute_batch(rougher_bert, PROTEINS, TARGETS, steps="auto", derivative=derivative)
    for result, reference in zip(results, references, strict=True):
        true = layer_errors(result.heads.astype(np.float64), reference).max()
        assert result.head_error <= 0.01
        assert true <= max(result.head_error, 1e-4), (
            true,
            result.head_error,
        )  # 1e-4: the reference's own error
        assert result.n_steps >= 48 and result.derivative == derivative


def test_tighter_tolerance_costs_nodes_and_buys_accuracy(rougher_bert, references):
    loose = attribute_batch(rougher_bert, PROTEINS, TARGETS, steps="auto", tolerance=0.05)
    tight = attribute_batch(rougher_bert, PROTEINS, TARGETS, steps="auto", tolerance=0.0025)
    for a, b, reference in zip(loose, tight, references, strict=True):
        assert b.n_steps >= a.n_steps
        assert b.head_error <= 0.0025 < 0.05
        assert layer_errors(b.heads.astype(np.float64), reference).max() <= 0.0025 + 1e-4


def test_rough_trained_path_is_integrated_to_tolerance():
    """The shipped membrane classifier's path is rough (flat to α ≈ 0.4, narrow features after): auto keeps
    refining there until the head error is under 1 %, and the estimate is not below the truth."""
    from protxai_ray.demo import DEMO_MODELS
    from protxai_ray.models import load_model

    model = load_model(str(DEMO_MODELS / "membrane"))
    sequence = "MSTNLLLAIVLLIVLALVAYFAGKRRSLEEKPSLWDTLLGIVAALFIILLAVLLLFK"  # two hydrophobic stretches
    reference = dense_reference(model, sequence, 1, intervals=2048)[1]
    result = attribute_batch(model, [sequence], [1])[0]
    fixed = attribute_batch(model, [sequence], [1], steps=32)[0]
    true = layer_errors(result.heads.astype(np.float64), reference).max()
    assert result.head_error <= 0.01 and true <= result.head_error
    assert result.n_steps > 48  # one pass was not enough on this path
    assert layer_errors(fixed.heads.astype(np.float64), reference).max() > 0.05  # 32 fixed steps are far off


def test_node_budget_stops_refinement_and_reports_the_error(rougher_bert):
    result = attribute_batch(rougher_bert, PROTEINS[:1], [0], steps="auto", max_nodes=80)[0]
    assert result.n_steps <= 80
    assert result.head_error > 0.01  # not converged, and it says so


def test_a_protein_does_not_depend_on_its_batch(rougher_bert):
    alone = attribute_batch(rougher_bert, PROTEINS[2:3], [0], steps="auto")[0]
    together = attribute_batch(rougher_bert, PROTEINS, TARGETS, steps="auto")[2]
    assert alone.n_steps == together.n_steps
    np.testing.assert_allclose(alone.heads, together.heads, rtol=1e-4, atol=1e-6 * np.abs(alone.heads).max())


def test_smooth_path_needs_few_nodes(tmp_path_factory):
    smooth = random_adapter(tmp_path_factory, "bert", double=False, num_layers=2, num_heads=2, hidden=16,
                            intermediate=24, seed=3, initializer_range=0.02)  # fmt: skip
    result = attribute_batch(smooth, PROTEINS[:1], [0])[0]
    assert result.n_steps == 48 and result.head_error <= 0.01  # the first pass already resolves it


def test_halving_ratio_is_measured_against_the_true_sibling():
    """A right child's ρ pairs it with its own left sibling, not with the neighbour to its right."""
    import torch

    from protxai_ray.attribution.adaptive import ProteinIntegral, SegmentValue

    def value(a, c, k):  # a segment whose error is k·w⁴ (a resolved, 4th-order integrand)
        return SegmentValue(torch.zeros(3), torch.full((1, 1, 3), k * (c - a) ** 4, dtype=torch.float64))

    state = ProteinIntegral()
    roughness = {0.0: 100.0, 0.5: 1.0}
    for a, c in state.start(2):
        state.segments[(a, c)] = value(a, c, roughness[0.0 if a < 0.5 else 0.5])
    for a, c in state.refine(1e-12, 10_000, 8):
        state.segments[(a, c)] = value(a, c, roughness[0.0 if a < 0.5 else 0.5])
    state.assess()
    for panel in state.panels:  # fine − coarse scales as w⁴·(1 − 2⁻³): each halving pair sums to 2⁻³
        assert state.ratio[panel] == pytest.approx(0.125, rel=1e-6), panel


def test_select_bisects_the_fewest_worst_panels_that_leave_the_rest_within_tolerance() -> None:
    shares = torch.tensor([0.004, 0.5, 0.003, 0.002], dtype=torch.float64)
    worst_first = [1, 0, 2, 3]
    assert ProteinIntegral.select(worst_first, shares, 0.01) == [1]  # the others sum to 0.009
    even = torch.tensor([0.006, 0.006, 0.006], dtype=torch.float64)
    assert ProteinIntegral.select([0, 1, 2], even, 0.01) == [0, 1]  # one bisection leaves 0.012
    tiny = torch.tensor([0.001, 0.001], dtype=torch.float64)
    assert ProteinIntegral.select([0, 1], tiny, 0.01) == [0]  # asked to refine: at least one panel
    assert ProteinIntegral.select([], tiny, 0.01) == []  # every panel at the minimum width
