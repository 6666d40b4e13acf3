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
DERIVATIVES = ("exact", "finite")


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


def node_plan(method: str, steps: int, derivative: str) -> NodePlan:
    """The nodes for ``steps`` integration steps of ``method`` with the ``derivative`` scheme."""
    if derivative not in DERIVATIVES:
        raise ValueError(f"unknown derivative {derivative!r}; choose one of {', '.join(DERIVATIVES)}")
    base = rule(method, steps)
    if derivative == "exact":
        return NodePlan(method, derivative, steps, base.alphas, base.weights, base.weights, cond_start=-1)
    conductance = rule(method, steps + 1)
    alphas = np.concatenate([base.alphas, conductance.alphas])
    ig_weights = np.concatenate([base.weights, np.zeros(steps + 1)])
    return NodePlan(method, derivative, steps, alphas, ig_weights, np.zeros_like(alphas), cond_start=steps)
