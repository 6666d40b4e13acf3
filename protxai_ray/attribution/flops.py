"""FLOP model of one attribution and model-FLOP utilisation (MFU).

Per path point (one protein at one node) and encoder layer, with T tokens, width D, H heads of size Dh
(HD = H·Dh) and intermediate width I, a forward pass costs (multiply-add = 2 FLOPs):

* projections: Q, K, V ``2·T·D·3HD`` + output ``2·T·HD·D``; feed-forward ``2·T·D·I·m`` (m = 2, or 3 for
  gated T5 feed-forwards);
* attention: scores ``2·H·T²·Dh`` + weighted values ``2·H·T²·Dh`` (the N² terms).

Gradients are taken for the input path only (no weight gradients), so the backward pass costs the
projections once more and the attention twice more (both matmul operands are activations). A
forward-mode tangent pass (``derivative="exact"``) costs the same as that backward, on top of a second
forward of the primal; ``spectral`` needs no tangent pass (forward + backward per node, like ``finite``
but at n instead of 2n + 1 nodes). MFU = model FLOPs / wall time / peak FLOP/s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from protxai_ray.attribution.memory import ModelShape, model_shape
from protxai_ray.attribution.quadrature import node_plan
from protxai_ray.models.adapter import ModelAdapter

# Dense peak FLOP/s of common cards (vendor datasheets, no sparsity): (tf32 or fp32 tensor, bf16).
GPU_PEAKS = {
    "H200": (494.7e12, 989.4e12),
    "H100": (494.7e12, 989.4e12),  # SXM; PCIe is lower (378 / 756)
    "A100": (156e12, 312e12),
    "L40S": (183e12, 362e12),
    "L4": (60e12, 121e12),
    "A10": (62.5e12, 125e12),
}


@dataclass(frozen=True)
class PassFlops:
    forward: float
    backward: float  # input gradients only
    tangent: float  # forward-mode ∂h/∂α, on top of its own primal forward


def pass_flops(shape: ModelShape, tokens: int, gated_feed_forward: bool = False) -> PassFlops:
    t, d, hd, i = tokens, shape.width, shape.heads * shape.head_size, shape.intermediate
    projections = 2 * t * d * 3 * hd + 2 * t * hd * d + 2 * t * d * i * (3 if gated_feed_forward else 2)
    attention = 4 * shape.heads * t * t * shape.head_size
    forward = shape.layers * (projections + attention)
    backward = shape.layers * (projections + 2 * attention)
    return PassFlops(forward=forward, backward=backward, tangent=backward)


def attribution_flops(
    shape: ModelShape | ModelAdapter,
    residues: int,
    steps: int,
    derivative: str = "exact",
    method: str = "gausslegendre",
) -> float:
    """Model FLOPs of attributing one protein of ``residues`` residues (endpoint forwards included).

    ``shape``: a ``ModelShape`` or a loaded adapter; ``derivative``/``method`` as in ``attribute_batch``.
    """
    if isinstance(shape, ModelAdapter):
        shape = model_shape(shape)
    per = pass_flops(shape, residues + 2)
    nodes = node_plan(method, steps, derivative).num_nodes
    per_node = per.forward + per.backward
    if derivative == "exact":
        per_node += per.forward + per.tangent
    return nodes * per_node + 2 * per.forward


def reference_flops(shape: ModelShape, residues: int, steps: int) -> float:
    """FLOPs of the captum reference: LIG (n nodes) + per layer LayerConductance with batch-1 pairs (2n)."""
    per = pass_flops(shape, residues + 2)
    per_node = per.forward + per.backward
    return steps * per_node + shape.layers * 2 * steps * per_node


def measure_cpu_peak(size: int = 2048, repeats: int = 5, cpu_time: bool = False) -> float:
    """Practical fp32 peak of this CPU: best FLOP/s of a ``size``² matmul at the current thread count.

    ``cpu_time=True`` divides by the process CPU seconds instead of wall time: FLOPs per CPU-second, the
    per-core peak that stays meaningful when neighbours share the cores (compare with FLOPs / CPU-s).
    """
    clock = time.process_time if cpu_time else time.perf_counter
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        torch.mm(a, b)
        best = min(best, clock() - start)
    return 2 * size**3 / best


def gpu_peak(device_name: str, precision: str) -> float | None:
    """Datasheet dense peak for ``device_name`` (TF32 for fp32/tf32 runs, bf16 for bf16), if known."""
    for key, (tf32, bf16) in GPU_PEAKS.items():
        if key in device_name:
            return bf16 if precision == "bf16" else tf32
    return None


def mfu(flops: float, seconds: float, peak: float) -> float:
    return flops / seconds / peak
