"""FLOP model: counts worked by hand for a tiny shape; MFU arithmetic; GPU peak table lookup."""

from __future__ import annotations

import pytest

from protxai_ray.attribution.flops import attribution_flops, gpu_peak, mfu, pass_flops, reference_flops
from protxai_ray.attribution.memory import ModelShape

SHAPE = ModelShape(layers=2, heads=2, head_size=3, width=6, intermediate=8, element_bytes=4)


def test_pass_flops_by_hand():
    t = 5
    projections = 2 * t * 6 * 18 + 2 * t * 6 * 6 + 2 * t * 6 * 8 * 2  # QKV, output, feed-forward
    attention = 2 * 2 * t * t * 3 * 2  # scores + weighted values, 2 heads of size 3
    flops = pass_flops(SHAPE, t)
    assert flops.forward == 2 * (projections + attention)
    assert flops.backward == 2 * (projections + 2 * attention)


def test_attribution_flops_count_nodes():
    per = pass_flops(SHAPE, 12)
    assert attribution_flops(SHAPE, 10, 4, "finite") == 9 * (per.forward + per.backward) + 2 * per.forward
    exact = 4 * (2 * per.forward + per.backward + per.tangent) + 2 * per.forward
    assert attribution_flops(SHAPE, 10, 4, "exact") == exact
    # the reference: n LIG nodes + 2n conductance evaluations per layer (batch-1 pairs)
    assert reference_flops(SHAPE, 10, 4) == (4 + 2 * 2 * 4) * (per.forward + per.backward)


def test_mfu_and_peaks():
    assert mfu(1e12, 2.0, 1e12) == pytest.approx(0.5)
    assert gpu_peak("NVIDIA H100 80GB HBM3", "tf32") == pytest.approx(494.7e12)
    assert gpu_peak("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4e12)
    assert gpu_peak("Some Unknown Card", "fp32") is None
