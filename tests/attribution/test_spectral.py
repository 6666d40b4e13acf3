"""The spectral derivative: ∂h/∂α from the polynomial through h at the Gauss–Legendre nodes."""

from __future__ import annotations

import numpy as np
import pytest

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.quadrature import differentiation_matrix, node_plan, rule
from tests.attribution.conftest import PROTEINS


@pytest.mark.parametrize("n", [2, 5, 16, 50])
def test_differentiation_matrix_is_exact_for_polynomials(n):
    alphas = rule("gausslegendre", n).alphas
    matrix = differentiation_matrix(alphas)
    for degree in range(n):  # the interpolant of a degree < n polynomial is the polynomial itself
        values = alphas**degree
        expected = degree * alphas ** max(degree - 1, 0) if degree else np.zeros(n)
        np.testing.assert_allclose(matrix @ values, expected, atol=1e-7 * max(1.0, np.abs(expected).max()))


def test_spectral_needs_gauss_legendre_nodes():
    with pytest.raises(ValueError, match="gausslegendre"):
        node_plan("riemann_middle", 8, "spectral")
    plan = node_plan("gausslegendre", 8, "spectral")
    exact = node_plan("gausslegendre", 8, "exact")
    assert np.array_equal(plan.alphas, exact.alphas) and np.array_equal(plan.cond_weights, exact.cond_weights)


def test_spectral_converges_far_faster_than_finite(rough_bert):
    """Same nodes as the finite scheme's IG, one pass per node: errors vs a 2,048-step exact reference."""
    sequence = [PROTEINS[0]]
    reference = attribute_batch(rough_bert, sequence, [1], steps=2048, derivative="exact")[0]
    scale = np.abs(reference.heads).max()
    errors = {}
    for steps in (16, 32, 50):
        for derivative in ("spectral", "finite"):
            result = attribute_batch(rough_bert, sequence, [1], steps=steps, derivative=derivative)[0]
            errors[derivative, steps] = np.abs(result.heads - reference.heads).max() / scale
    # measured: spectral 2.9e-2 / 4.8e-4 / 1.6e-5, finite 1.9e-1 / 1.1e-1 / 7.0e-2
    assert errors["spectral", 50] < 1e-4, errors
    assert errors["spectral", 32] < 1e-2 * errors["finite", 32], errors
    assert errors["spectral", 16] > errors["spectral", 32] > errors["spectral", 50]


def test_chunked_spectral_equals_one_pass(rough_bert):
    """Nodes spread over passes are held until all are in (budget permitting): same numbers."""
    whole = attribute_batch(rough_bert, PROTEINS[:2], [0, 1], steps=16, derivative="spectral")
    chunked = attribute_batch(
        rough_bert, PROTEINS[:2], [0, 1], steps=16, derivative="spectral", memory_budget_mb=4
    )
    for a, b in zip(whole, chunked, strict=True):
        assert a.derivative == b.derivative == "spectral"
        assert np.abs(a.heads - b.heads).max() <= 1e-10 * np.abs(a.heads).max()
        assert np.abs(a.residues - b.residues).max() <= 1e-10 * np.abs(a.residues).max()


def test_spectral_falls_back_to_exact_when_held_nodes_exceed_the_budget(rough_bert):
    """With no room to hold every node's g and h (zero budget: one node per pass), the group runs the
    exact forward-mode derivative at the same nodes instead."""
    fallback = attribute_batch(
        rough_bert, [PROTEINS[3]], [0], steps=8, derivative="spectral", memory_budget_mb=0
    )
    exact = attribute_batch(rough_bert, [PROTEINS[3]], [0], steps=8, derivative="exact")
    assert np.abs(fallback[0].heads - exact[0].heads).max() <= 1e-10 * np.abs(exact[0].heads).max()
    assert fallback[0].derivative == "exact"  # recorded, so the shard's FLOP count follows it
