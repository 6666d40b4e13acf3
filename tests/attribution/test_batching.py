"""A protein's numbers do not depend on what it is batched with, nor on how its nodes are chunked."""

from __future__ import annotations

import numpy as np
import pytest

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.memory import bytes_per_row, group_proteins, model_shape
from tests.attribution.conftest import PROTEINS, random_adapter


@pytest.fixture(scope="module")
def fp32_bert(tmp_path_factory):
    return random_adapter(
        tmp_path_factory,
        "bert",
        double=False,
        num_layers=2,
        num_heads=3,
        hidden=30,
        intermediate=40,
        seed=11,
        initializer_range=0.2,
    )


def assert_close(a, b, rtol):
    assert np.abs(a - b).max() <= rtol * np.abs(b).max()


@pytest.mark.parametrize("derivative", ["exact", "spectral", "finite"])
def test_batched_equals_alone(fp32_bert, derivative):
    targets = [0, 1, 1, 0]
    together = attribute_batch(fp32_bert, PROTEINS, targets, steps=12, derivative=derivative)
    for sequence, target, batched in zip(PROTEINS, targets, together, strict=True):
        alone = attribute_batch(fp32_bert, [sequence], [target], steps=12, derivative=derivative)[0]
        assert batched.heads.shape == alone.heads.shape == (2, 3, len(sequence) + 2)
        assert_close(batched.residues, alone.residues, 1e-5)
        assert_close(batched.heads, alone.heads, 1e-5)
        assert batched.logit == pytest.approx(alone.logit, rel=1e-5)


@pytest.mark.parametrize("derivative", ["exact", "finite"])
def test_node_chunking_does_not_change_results(fp32_bert, derivative):
    """A zero budget forces one node per pass (the finite scheme then carries gradients across chunks)."""
    whole = attribute_batch(fp32_bert, PROTEINS[:2], [0, 1], steps=9, derivative=derivative)
    chunked = attribute_batch(
        fp32_bert, PROTEINS[:2], [0, 1], steps=9, derivative=derivative, memory_budget_mb=0
    )
    for a, b in zip(whole, chunked, strict=True):
        assert_close(b.residues, a.residues, 1e-5)
        assert_close(b.heads, a.heads, 1e-5)


def test_memory_model_groups(fp32_bert):
    shape = model_shape(fp32_bert)
    assert bytes_per_row(shape, 1002) > 100 * bytes_per_row(shape, 52)  # attention is quadratic in T
    budget = 40 * bytes_per_row(shape, 102)
    groups = group_proteins(
        [100, 10, 100, 20, 100], nodes=10, shape=shape, budget_bytes=budget, device=fp32_bert.device
    )
    assert sorted(i for members, _ in groups for i in members) == [0, 1, 2, 3, 4]
    for members, chunk in groups:
        assert len(members) * chunk <= 64
    # A budget below one protein's nodes splits its nodes into chunks and runs it alone.
    alone = group_proteins([100], nodes=50, shape=shape, budget_bytes=budget, device=fp32_bert.device)
    assert alone == [([0], 40)]
