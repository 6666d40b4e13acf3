"""Targets, argmax resolution, probability, adaptive steps, precision modes and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protxai_ray.attribution import attribute_batch
from protxai_ray.errors import InvalidSequence, UnknownTarget
from tests.attribution.conftest import PROTEINS, random_adapter


@pytest.fixture(scope="module")
def bert3(tmp_path_factory):
    return random_adapter(
        tmp_path_factory,
        "bert",
        double=False,
        num_layers=2,
        num_heads=3,
        hidden=30,
        intermediate=40,
        num_labels=3,
        seed=12,
        initializer_range=0.3,
    )


def test_argmax_target_and_probability(bert3):
    results = attribute_batch(bert3, PROTEINS[:2], [-1, 2], steps=8)
    ids, mask = bert3.encode(PROTEINS[:2])
    with torch.no_grad():
        logits = bert3.logits(ids, mask)
    assert results[0].target == int(logits[0].argmax())
    assert results[1].target == 2
    for row, result in enumerate(results):
        t = result.target
        assert result.logit == pytest.approx(float(logits[row, t]), rel=1e-5)
        assert result.probability == pytest.approx(float(torch.softmax(logits[row], 0)[t]), rel=1e-5)


@pytest.mark.parametrize("bad", ["", "MKT1AY", "MK TA"])
def test_invalid_sequence_names_the_entry(bert3, bad):
    with pytest.raises(InvalidSequence, match="P12345"):
        attribute_batch(bert3, [PROTEINS[0], bad], [0, 0], names=["P00001", "P12345"])


@pytest.mark.parametrize("target", [3, -2, "membrane"])
def test_unknown_target(bert3, target):
    with pytest.raises(UnknownTarget, match="P00001"):
        attribute_batch(bert3, [PROTEINS[0]], [target], names=["P00001"])


def test_rare_residues_and_lower_case(bert3):
    a = attribute_batch(bert3, ["mkuzaob"], [0], steps=8)[0]
    b = attribute_batch(bert3, ["MKXXAXX"], [0], steps=8)[0]
    np.testing.assert_array_equal(a.heads, b.heads)


def test_bf16_is_close_to_fp32(tmp_path_factory):
    model = random_adapter(
        tmp_path_factory, "bert", double=False, num_layers=2, num_heads=3, hidden=30, intermediate=40, seed=13
    )
    fp32 = attribute_batch(model, PROTEINS[:1], [0], steps=16)[0]
    bf16 = attribute_batch(model, PROTEINS[:1], [0], steps=16, precision="bf16")[0]
    assert bf16.heads.dtype == np.float32
    error = np.abs(bf16.heads - fp32.heads).max() / np.abs(fp32.heads).max()
    assert 0 < error < 0.1  # bf16 keeps 8 mantissa bits; accumulation stays float64
    with pytest.raises(ValueError):
        attribute_batch(model, PROTEINS[:1], [0], precision="fp8")
