"""``derivative="seed"``: the xai-proteins reference code's discretisation (Gauss–Legendre nodes and weights,
∂h/∂α from ``torch.gradient`` over the alphas with ``edge_order=1``), checked against an independent
implementation of the seed's formula with plain autograd and its own hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.dense import dense_reference, layer_errors, relative_error
from protxai_ray.attribution.quadrature import rule, seed_differentiation_matrix
from tests.attribution.conftest import PROTEINS, random_adapter


@pytest.mark.parametrize("n", [2, 3, 4, 7, 50, 500])
def test_matrix_is_torch_gradient_on_gauss_legendre_nodes(n):
    alphas = rule("gausslegendre", n).alphas
    matrix = torch.as_tensor(seed_differentiation_matrix(alphas))
    spacing = (torch.as_tensor(alphas),)
    generator = torch.Generator().manual_seed(n)
    for shape in ((n,), (n, 3, 5)):
        f = torch.randn(shape, dtype=torch.float64, generator=generator)
        (expected,) = torch.gradient(f, spacing=spacing, dim=0, edge_order=1)
        ours = torch.einsum("ij,j...->i...", matrix, f)
        # entries grow like 1 / (node spacing) ~ n² near the ends: compare relative to the largest term
        scale = (matrix.abs() @ f.abs().flatten(1)).max() if f.dim() > 1 else (matrix.abs() @ f.abs()).max()
        assert torch.allclose(ours, expected, rtol=0, atol=1e-13 * float(scale)), n


def test_matrix_needs_two_nodes():
    with pytest.raises(ValueError):
        seed_differentiation_matrix(rule("gausslegendre", 1).alphas)


@pytest.fixture(scope="module")
def seed_bert(tmp_path_factory):
    """float64 random BERT (3 layers × 4 heads) curved enough that the seed's differences are far from exact."""
    return random_adapter(
        tmp_path_factory,
        "bert",
        num_layers=3,
        num_heads=4,
        hidden=32,
        intermediate=48,
        seed=11,
        initializer_range=0.3,
    )


def seed_conductance(adapter, sequence: str, target: int, n: int) -> np.ndarray:
    """The seed's head conductance ``float64[layers, heads, L + 2]``, written out from its formula.

    For every Gauss–Legendre node α_i (captum's nodes and weights): path input b + α_i (x − b) at the output
    of ``bert.embeddings``; h_l = output[0] of ``encoder.layer[l].attention.self`` (the per-head context);
    g_l = ∂logit_target/∂h_l by autograd. Then ḣ = ``torch.gradient(h, spacing=(alphas,), dim=0,
    edge_order=1)`` over the stacked nodes and C_{l,k,t} = Σ_i w_i Σ_{d ∈ head k} g_{l,i,t,d} ḣ_{l,i,t,d}.
    """
    bert = adapter.model.bert
    input_ids, mask = adapter.encode([sequence])
    base_ids = adapter.baseline_ids(input_ids, mask)
    quadrature = rule("gausslegendre", n)
    alphas = torch.as_tensor(quadrature.alphas, dtype=torch.float64)
    weights = torch.as_tensor(quadrature.weights, dtype=torch.float64)

    with torch.no_grad():
        x = bert.embeddings(input_ids=input_ids)
        b = bert.embeddings(input_ids=base_ids)
    path = (b + alphas[:, None, None] * (x - b)).detach()  # [n, T, D]: one row per node

    captured: list[torch.Tensor | None] = [None] * len(bert.encoder.layer)
    handles = [bert.embeddings.register_forward_hook(lambda module, args, out: path)]
    for index, layer in enumerate(bert.encoder.layer):

        def keep(module, args, out, index=index):
            captured[index] = out[0] if isinstance(out, tuple) else out

        handles.append(layer.attention.self.register_forward_hook(keep))
    try:
        logits = adapter.model(input_ids=input_ids.expand(n, -1), attention_mask=mask.expand(n, -1)).logits
        heads = list(captured)
        grads = torch.autograd.grad(logits[:, target].sum(), heads)
    finally:
        for handle in handles:
            handle.remove()

    out = []
    num_heads = adapter.model.config.num_attention_heads
    for g, h in zip(grads, heads, strict=True):  # [n, T, H·Dh]
        (h_dot,) = torch.gradient(h.detach(), spacing=(alphas,), dim=0, edge_order=1)
        per_node = (g * h_dot).unflatten(-1, (num_heads, -1)).sum(-1)  # [n, T, H]
        out.append(torch.einsum("n,nth->ht", weights, per_node))
    return torch.stack(out).numpy()


@pytest.mark.parametrize("n", [2, 3, 16, 50])
def test_seed_equals_its_formula(seed_bert, n):
    sequences, targets = PROTEINS[:2], [1, 0]  # two lengths in one batch: padding must not leak
    results = attribute_batch(seed_bert, sequences, targets, steps=n, derivative="seed")
    for sequence, target, result in zip(sequences, targets, results, strict=True):
        expected = seed_conductance(seed_bert, sequence, target, n)
        assert result.derivative == "seed" and result.n_steps == n and result.head_error is None
        assert result.heads.shape == expected.shape
        # the engine computes in float64 here and returns float32: agreement up to that rounding
        # (measured: 2e-8 to 3e-8 relative Frobenius, the float32 rounding of the result)
        assert relative_error(result.heads.astype(np.float64), expected) < 1e-7, n
        assert np.abs(result.heads - expected).max() <= 2e-7 * np.abs(expected).max()


def test_seed_differs_from_spectral_at_few_steps(seed_bert):
    """Not the same scheme under another name: at 16 nodes the seed's differences are far from exact."""
    seed = attribute_batch(seed_bert, PROTEINS[:1], [1], steps=16, derivative="seed")[0]
    spectral = attribute_batch(seed_bert, PROTEINS[:1], [1], steps=16, derivative="spectral")[0]
    assert relative_error(seed.heads, spectral.heads) > 1e-3  # measured 3.3e-3


def test_seed_at_500_steps_is_close_to_the_dense_reference(tmp_path_factory):
    """On a smooth path the seed's scheme converges at second order: 500 steps are close to the reference."""
    smooth = random_adapter(
        tmp_path_factory, "bert", num_layers=2, num_heads=4, hidden=32, intermediate=48, seed=7
    )  # initializer range 0.02: a smooth path
    sequence = PROTEINS[3]
    _, reference = dense_reference(smooth, sequence, 1, intervals=512)
    errors = {}
    for steps in (50, 500):
        seed = attribute_batch(smooth, [sequence], [1], steps=steps, derivative="seed")[0]
        errors[steps] = layer_errors(seed.heads.astype(np.float64), reference).max()
    # measured: 1.6e-4 at 50 steps, 1.6e-6 at 500 (10x the steps, 100x less error)
    assert errors[500] < 1e-4, errors
    assert errors[500] < errors[50] / 30, errors
