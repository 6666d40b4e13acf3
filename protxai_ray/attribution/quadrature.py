"""Quadrature rules on the straight path α ∈ [0, 1] and the node plans the engine evaluates.

Rules (names as captum's ``method`` argument, so the same string means the same nodes in both):
``gausslegendre`` (default; exact for polynomials of degree 2n − 1), ``riemann_left``, ``riemann_right``,
``riemann_middle``, ``riemann_trapezoid``. Nodes and weights are built exactly the way captum 0.9's
``approximation_methods`` builds them (float64 numpy for Gauss–Legendre, ``torch.linspace`` for Riemann),
so that the captum-compatible plan reproduces captum's numbers bit for bit in the nodes.

A ``NodePlan`` says, per node, with which weight the embedding gradient enters the embedding IG and how
the head gradient enters the head conductance:

* ``derivative="exact"``: one node set (the rule's n nodes); conductance ``Σ_i w_i ∂F/∂h(α_i)·ḣ(α_i)``
  with ḣ from forward-mode differentiation.
* ``derivative="spectral"`` (Gauss–Legendre only): the same nodes and weights as ``exact``, but ḣ(α_i) is
  the derivative of the degree n − 1 polynomial through h(α_1..α_n) (``differentiation_matrix``), so every
  node costs one forward + backward and no forward-mode pass. For an analytic path the error falls
  exponentially with n like the quadrature's own (measured in tests/attribution/test_spectral.py).
* ``derivative="seed"`` (Gauss–Legendre only): the xai-proteins reference code's discretisation: the same
  nodes and weights, ḣ(α_i) from ``torch.gradient`` of h over the alphas (second-order differences inside,
  first-order at the two ends, ``edge_order=1``): ``seed_differentiation_matrix``.
* ``derivative="finite"``: captum's discretization. The embedding IG uses the rule's n nodes with its
  weights (``LayerIntegratedGradients``); the conductance uses the rule's n + 1 nodes, gradient at node i
  times the change of h to node i + 1, unweighted (``LayerConductance``). Both node sets run in the same
  batched pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RIEMANN_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
METHODS = ("gausslegendre", *RIEMANN_METHODS)
DERIVATIVES = ("exact", "spectral", "finite", "seed")


@dataclass(frozen=True)
class Rule:
    """``alphas float64[n]`` in [0, 1] and ``weights float64[n]`` (Σ weights = 1 up to the rule)."""

    alphas: np.ndarray
    weights: np.ndarray


def rule(method: str, n: int) -> Rule:
    """The ``method`` rule with ``n`` nodes on [0, 1]."""
    if method == "gausslegendre":
        if n < 1:
            raise ValueError("gausslegendre needs at least 1 node")
        points, weights = np.polynomial.legendre.leggauss(n)
        return Rule(alphas=0.5 * (1 + points), weights=0.5 * weights)
    if method in RIEMANN_METHODS:
        if n < 2:
            raise ValueError(f"{method} needs at least 2 nodes")
        kind = method.split("_")[1]
        weights = np.full(n, 1.0 / n)
        if kind == "trapezoid":
            weights[0] /= 2
            weights[-1] /= 2
            alphas = torch.linspace(0, 1, n)
        elif kind == "left":
            alphas = torch.linspace(0, 1 - 1 / n, n)
        elif kind == "middle":
            alphas = torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n)
        else:
            alphas = torch.linspace(1 / n, 1, n)
        # captum builds Riemann nodes in float32 torch.linspace and converts with .tolist(); do the same.
        return Rule(alphas=np.asarray(alphas.tolist(), dtype=np.float64), weights=weights)
    raise ValueError(f"unknown quadrature method {method!r}; choose one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class NodePlan:
    """What the engine evaluates for one protein: every node, its IG weight, its conductance role.

    ``alphas float64[m]``: the nodes, in evaluation order. ``ig_weights float64[m]``: weight of the
    embedding gradient at each node (0 where the node serves the conductance only).
    ``cond_weights float64[m]`` (exact): weight of ``∂F/∂h·ḣ`` at each node.
    ``cond_start`` (finite): index of the first of the n + 1 consecutive conductance nodes, which occupy
    ``alphas[cond_start:]``; the conductance is ``Σ_i g_i·(h_{i+1} − h_i)`` over them.
    """

    method: str
    derivative: str
    steps: int
    alphas: np.ndarray
    ig_weights: np.ndarray
    cond_weights: np.ndarray
    cond_start: int

    @property
    def num_nodes(self) -> int:
        return int(self.alphas.shape[0])


def differentiation_matrix(alphas: np.ndarray) -> np.ndarray:
    """``float64[n, n]`` D with ``(D @ f)[i] = p'(α_i)``, p the polynomial interpolating f at distinct ``alphas``.

    Barycentric form: ``D_ij = (b_j / b_i) / (α_i − α_j)`` for i ≠ j, rows summing to zero (derivative
    of a constant), with barycentric weights ``b_j = 1 / Π_{k≠j} (α_j − α_k)`` (computed in log space).
    """
    a = np.asarray(alphas, dtype=np.float64)
    diff = a[:, None] - a[None, :]
    np.fill_diagonal(diff, 1.0)
    log_b = -np.log(np.abs(diff)).sum(axis=1)
    sign_b = np.prod(np.sign(diff), axis=1)
    ratio = sign_b[None, :] * sign_b[:, None] * np.exp(log_b[None, :] - log_b[:, None])  # b_j / b_i
    matrix = ratio / diff
    np.fill_diagonal(matrix, 0.0)
    np.fill_diagonal(matrix, -matrix.sum(axis=1))
    return matrix


def seed_differentiation_matrix(alphas: np.ndarray) -> np.ndarray:
    """``float64[n, n]``: the linear map of ``torch.gradient(f, spacing=(alphas,), edge_order=1)``.

    Interior rows (h₋ = α_i − α_{i−1}, h₊ = α_{i+1} − α_i):
    ``f'_i = (h₋² f_{i+1} − h₊² f_{i−1} + (h₊² − h₋²) f_i) / (h₋ h₊ (h₋ + h₊))``; first and last rows are
    one-sided first differences.
    """
    a = np.asarray(alphas, dtype=np.float64)
    n = a.shape[0]
    if n < 2:
        raise ValueError("the seed derivative needs at least 2 nodes")
    matrix = np.zeros((n, n))
    matrix[0, 0], matrix[0, 1] = -1 / (a[1] - a[0]), 1 / (a[1] - a[0])
    matrix[-1, -2], matrix[-1, -1] = -1 / (a[-1] - a[-2]), 1 / (a[-1] - a[-2])
    for i in range(1, n - 1):
        left, right = a[i] - a[i - 1], a[i + 1] - a[i]
        scale = left * right * (left + right)
        matrix[i, i - 1] = -(right**2) / scale
        matrix[i, i] = (right**2 - left**2) / scale
        matrix[i, i + 1] = left**2 / scale
    return matrix


def node_plan(method: str, steps: int, derivative: str) -> NodePlan:
    """The nodes for ``steps`` integration steps of ``method`` with the ``derivative`` scheme."""
    if derivative not in DERIVATIVES:
        raise ValueError(f"unknown derivative {derivative!r}; choose one of {', '.join(DERIVATIVES)}")
    if derivative in ("spectral", "seed") and method != "gausslegendre":
        raise ValueError(
            f"derivative {derivative!r} needs gausslegendre nodes (polynomial interpolation through {method} "
            "nodes is ill-conditioned); use derivative 'exact' or 'finite' with it"
        )
    base = rule(method, steps)
    if derivative in ("exact", "spectral", "seed"):
        return NodePlan(method, derivative, steps, base.alphas, base.weights, base.weights, cond_start=-1)
    conductance = rule(method, steps + 1)
    alphas = np.concatenate([base.alphas, conductance.alphas])
    ig_weights = np.concatenate([base.weights, np.zeros(steps + 1)])
    return NodePlan(method, derivative, steps, alphas, ig_weights, np.zeros_like(alphas), cond_start=steps)
