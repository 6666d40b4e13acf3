"""Parity with captum: embedding IG = ``LayerIntegratedGradients``, head relevance = ``LayerConductance``
run separately on every layer, for BERT, ESM-2 and T5 random-weight models (odd head counts), in float64."""

from __future__ import annotations

import numpy as np
import pytest

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.reference import reference_attribution
from tests.attribution.conftest import PROTEINS, random_adapter

RTOL = 1e-5

SHAPES = [
    ("bert", dict(num_layers=2, num_heads=3, hidden=30, intermediate=40, seed=1, initializer_range=0.2)),
    ("bert", dict(num_layers=3, num_heads=5, hidden=60, intermediate=70, seed=3, initializer_range=0.2)),
    ("esm", dict(num_layers=2, num_heads=5, hidden=30, intermediate=50, seed=4, initializer_range=0.2)),
    ("t5", dict(num_layers=2, num_heads=3, hidden=30, intermediate=40, seed=5, initializer_range=0.2)),
]


def _max_relative(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.fixture(
    scope="module", params=SHAPES, ids=lambda s: f"{s[0]}-{s[1]['num_layers']}x{s[1]['num_heads']}"
)
def adapter(request, tmp_path_factory):
    model_type, shape = request.param
    return random_adapter(tmp_path_factory, model_type, **shape)


@pytest.mark.parametrize("method,steps", [("gausslegendre", 8), ("riemann_trapezoid", 6)])
def test_matches_captum_every_layer_and_head(adapter, method, steps):
    sequences = PROTEINS[:2]
    targets = [0, 1]
    ours = attribute_batch(adapter, sequences, targets, steps=steps, method=method, derivative="finite")
    for sequence, target, result in zip(sequences, targets, ours, strict=True):
        residues, heads = reference_attribution(
            adapter, sequence, target, steps=steps, method=method, internal_batch_size=None
        )
        assert result.residues.shape == (len(sequence) + 2,)
        assert result.heads.shape == (adapter.num_layers, adapter.num_heads, len(sequence) + 2)
        assert _max_relative(result.residues, residues) <= RTOL
        for layer in range(adapter.num_layers):
            for head in range(adapter.num_heads):
                assert _max_relative(result.heads[layer, head], heads[layer, head]) <= RTOL, (layer, head)


def test_reference_with_batch_one_equals_unbatched(tmp_path_factory):
    """The benchmark's reference runs captum with internal_batch_size=1 (overlapping node pairs)."""
    model = random_adapter(tmp_path_factory, "bert", **SHAPES[0][1])
    a_res, a_heads = reference_attribution(model, PROTEINS[3], 1, steps=5, internal_batch_size=1)
    b_res, b_heads = reference_attribution(model, PROTEINS[3], 1, steps=5, internal_batch_size=None)
    assert _max_relative(a_res, b_res) < 1e-10 and _max_relative(a_heads, b_heads) < 1e-10
