"""Quadrature rules: identical to captum's nodes/weights; Gauss–Legendre exact on polynomials."""

from __future__ import annotations

import numpy as np
import pytest
from captum.attr._utils.approximation_methods import approximation_parameters

from protxai_ray.attribution.quadrature import METHODS, node_plan, rule


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [2, 7, 50])
def test_rules_equal_captum(method, n):
    step_sizes, alphas = approximation_parameters(method)
    ours = rule(method, n)
    assert ours.alphas.tolist() == alphas(n)
    np.testing.assert_allclose(ours.weights, step_sizes(n), rtol=0, atol=1e-15)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_gauss_legendre_integrates_polynomials_exactly(n):
    r = rule("gausslegendre", n)
    for degree in range(2 * n):
        # ∫_0^1 α^k dα = 1 / (k + 1)
        assert abs(np.sum(r.weights * r.alphas**degree) - 1 / (degree + 1)) < 1e-13


def test_captum_trapezoid_quirk_is_kept():
    """captum's riemann_trapezoid puts n nodes 1/(n−1) apart but weights them 1/n (ends halved): the weights
    sum to 1 − 1/n, so it is first order. We keep that rule as is because parity needs it."""
    for n in (11, 21):
        r = rule("riemann_trapezoid", n)
        assert abs(r.weights.sum() - (1 - 1 / n)) < 1e-14
        assert r.alphas[0] == 0 and r.alphas[-1] == 1


def test_plans():
    exact = node_plan("gausslegendre", 10, "exact")
    assert exact.num_nodes == 10 and np.allclose(exact.ig_weights, exact.cond_weights)
    finite = node_plan("gausslegendre", 10, "finite")
    # captum: IG on the n-point rule, conductance on the (n + 1)-point rule, both in one pass
    assert finite.num_nodes == 21 and finite.cond_start == 10
    assert np.allclose(finite.alphas[10:], rule("gausslegendre", 11).alphas)
    assert finite.ig_weights[10:].sum() == 0
    with pytest.raises(ValueError):
        node_plan("simpson", 10, "exact")
    with pytest.raises(ValueError):
        node_plan("gausslegendre", 10, "symbolic")
