"""Dense reference integrals: the yardstick the error estimates and ``benchmarks/accuracy.py`` are judged by.

Trapezoid over N equal intervals of α with exact differences of the head outputs:

``C_{l,k,t} ≈ Σ_{j<N} Σ_{d ∈ head k} ½ (g_j + g_{j+1})_{t,d} · (h_{j+1} − h_j)_{t,d}``

where g = ∂F/∂h and h are evaluated at α_j = j / N, Richardson-extrapolated with the N/2 trapezoid. Summed over j, the differences telescope to the exact
total change of every head output (h(1) − h(0)), so the only approximation is the gradient's average on
each interval; this keeps the reference honest on rough paths (narrow features of h are differenced, not
sampled). Embedding IG: the trapezoid ``Σ_j ½ (∂F/∂x_j + ∂F/∂x_{j+1}) · (x − b) / N``. Independent of the
engine's quadrature code: it shares only the hooks (``PathProbe``). Cost: N + 1 forward + backward passes
per protein (N = 4096 by default), so it is for tests and benchmarks, not production.
"""

from __future__ import annotations

import numpy as np
import torch

from protxai_ray.attribution.path import PathProbe
from protxai_ray.models.adapter import ModelAdapter


def _per_head(a: torch.Tensor, b: torch.Tensor, heads: int) -> torch.Tensor:
    """``[R, T, H·Dh] × [R, T, H·Dh] → float64[H, T]`` summed over the rows R."""
    return (a.double() * b.double()).unflatten(-1, (heads, -1)).sum(-1).sum(0).T


def dense_reference(
    model: ModelAdapter, sequence: str, target: int, intervals: int = 4096, chunk: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Reference embedding IG ``float64[L + 2]`` and head conductance ``float64[layers, heads, L + 2]``.

    ``target`` is a class index (−1: the argmax class at x); ``intervals`` must be even. The head result is
    Richardson-extrapolated from the trapezoids over ``intervals`` and ``intervals / 2`` (the same nodes,
    every other one): ``C = C_N + (C_N − C_{N/2}) / 3``, removing the second-order error term (measured on
    the shipped trained model: the plain trapezoid at 4,096 intervals is ~2e-4 from this, relative).
    Runs in the model's own dtype; ``chunk`` consecutive nodes per forward + backward.
    """
    if intervals < 2 or intervals % 2:
        raise ValueError("intervals must be an even number >= 2")
    input_ids, mask = model.encode([sequence])
    with PathProbe(model) as probe:
        x, b, logit_x, _ = probe.path_ends(input_ids, mask)
        if target < 0:
            target = int(logit_x[0].argmax())
        delta = x - b
        heads = [p.num_heads for p in probe.points]
        shape = (len(heads), max(heads), x.shape[1])
        fine = torch.zeros(shape, dtype=torch.float64, device=x.device)
        coarse = torch.zeros(shape, dtype=torch.float64, device=x.device)
        grad_x_sum = torch.zeros(
            x.shape[1:], dtype=torch.float64, device=x.device
        )  # trapezoid-weighted Σ ∂F/∂x
        previous: tuple[int, list[torch.Tensor], list[torch.Tensor]] | None = None  # last node (index, g, h)
        previous_even: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None  # last even-index node
        alphas = torch.linspace(0, 1, intervals + 1, dtype=torch.float64)
        for start in range(0, intervals + 1, chunk):
            a = alphas[start : start + chunk].to(x.dtype)
            k = a.shape[0]
            rows = b + a[:, None, None] * delta
            ids, row_mask = input_ids.expand(k, -1), mask.expand(k, -1)
            gx, gh, h = probe.gradients(rows, ids, row_mask, torch.full((k,), target, device=x.device))
            weights = torch.ones(k, dtype=torch.float64, device=x.device)
            if start == 0:
                weights[0] = 0.5
            if start + k == intervals + 1:
                weights[-1] = 0.5
            grad_x_sum += torch.einsum("ktd,k->td", gx.double(), weights)
            if previous is not None:  # close the interval between the previous chunk and this one
                gh = [torch.cat([p[None], g]) for p, g in zip(previous[1], gh, strict=True)]
                h = [torch.cat([p[None], v]) for p, v in zip(previous[2], h, strict=True)]
            first = start - 1 if previous is not None else start  # global index of gh[*][0]
            evens = [i for i in range(gh[0].shape[0]) if (first + i) % 2 == 0 and first + i >= start]
            for layer, count in enumerate(heads):
                g, v = gh[layer], h[layer]
                fine[layer, :count] += _per_head(0.5 * (g[:-1] + g[1:]), v[1:] - v[:-1], count)
                g_even, h_even = g[evens], v[evens]
                if previous_even is not None:
                    g_even = torch.cat([previous_even[0][layer][None], g_even])
                    h_even = torch.cat([previous_even[1][layer][None], h_even])
                if g_even.shape[0] > 1:
                    pair_g, pair_h = 0.5 * (g_even[:-1] + g_even[1:]), h_even[1:] - h_even[:-1]
                    coarse[layer, :count] += _per_head(pair_g, pair_h, count)
            if evens:
                previous_even = ([g[evens[-1]] for g in gh], [v[evens[-1]] for v in h])
            previous = (start + k - 1, [g[-1] for g in gh], [v[-1] for v in h])
        ig = (grad_x_sum * delta[0].double()).sum(-1) / intervals
        total = fine + (fine - coarse) / 3
    length = int(mask.sum()) - 2
    return ig[: length + 2].cpu().numpy(), total[:, :, : length + 2].cpu().numpy()


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Relative Frobenius error ``‖estimate − reference‖ / ‖reference‖`` of a whole tensor."""
    return float(np.linalg.norm(estimate - reference) / max(np.linalg.norm(reference), 1e-300))


def layer_errors(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``float64[layers]``: relative Frobenius error of each layer's ``[heads, tokens]`` slice."""
    diff = np.linalg.norm((estimate - reference).reshape(reference.shape[0], -1), axis=1)
    return diff / np.maximum(np.linalg.norm(reference.reshape(reference.shape[0], -1), axis=1), 1e-300)
