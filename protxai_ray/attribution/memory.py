"""Memory model of one attribution pass: bytes per path point, the default budget, protein grouping.

A "row" is one protein at one integration node. Its activation memory (what autograd saves for the
backward) is estimated per layer from T tokens, width D, intermediate width I and H heads as
``T·D·c_d + T·I·c_i + H·T²·c_a`` elements (eager attention keeps scores and probabilities: the T² term
dominates long proteins), plus the per-layer h, ∂F/∂h (and ḣ) the engine holds for the chunk. The
constants were calibrated against measured peak RSS on CPU (benchmarks/attribution.py) and err high.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil
import torch

from protxai_ray.models.adapter import ModelAdapter

C_HIDDEN, C_INTERMEDIATE, C_ATTENTION, C_HELD = 14, 3, 3, 3
CPU_BUDGET_SHARE, CPU_BUDGET_CAP = 0.3, 6 << 30
GPU_BUDGET_SHARE = 0.7
MAX_ROWS_CPU, MAX_ROWS_GPU = 64, 4096  # beyond these the CPU gains nothing; GPUs need wide batches


@dataclass(frozen=True)
class ModelShape:
    layers: int
    heads: int
    head_size: int
    width: int
    intermediate: int
    element_bytes: int


def model_shape(model: ModelAdapter) -> ModelShape:
    points = model.head_hook_points()
    config = getattr(model.model, "config", None)
    width = int(getattr(config, "hidden_size", None) or getattr(config, "d_model", 0) or 0)
    if not width:
        width = points[0].num_heads * points[0].head_size
    intermediate = int(
        getattr(config, "intermediate_size", None) or getattr(config, "d_ff", None) or 4 * width
    )
    dtype = next(model.model.parameters()).dtype
    return ModelShape(
        layers=len(points),
        heads=max(p.num_heads for p in points),
        head_size=max(p.head_size for p in points),
        width=width,
        intermediate=intermediate,
        element_bytes=torch.finfo(dtype).bits // 8,
    )


def bytes_per_row(shape: ModelShape, tokens: int) -> int:
    """Estimated peak bytes of one path point of ``tokens`` tokens in a forward+backward pass."""
    t = tokens
    per_layer = (
        t * shape.width * C_HIDDEN
        + t * shape.intermediate * C_INTERMEDIATE
        + shape.heads * t * t * C_ATTENTION
        + t * shape.heads * shape.head_size * C_HELD
    )
    return shape.element_bytes * shape.layers * per_layer


def default_budget_bytes(device: torch.device) -> int:
    """A share of what is free now: 70 % of free GPU memory, or 30 % of available RAM (≤ 6 GiB)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * GPU_BUDGET_SHARE)
    return int(min(psutil.virtual_memory().available * CPU_BUDGET_SHARE, CPU_BUDGET_CAP))


def rows_per_pass(shape: ModelShape, tokens: int, budget_bytes: int, device: torch.device) -> int:
    """How many path points of ``tokens`` tokens one forward+backward may carry (at least 1)."""
    cap = MAX_ROWS_GPU if device.type == "cuda" else MAX_ROWS_CPU
    return max(1, min(cap, budget_bytes // max(1, bytes_per_row(shape, tokens))))


def group_proteins(
    lengths: list[int], nodes: int, shape: ModelShape, budget_bytes: int, device: torch.device
) -> list[tuple[list[int], int]]:
    """Pack proteins (by index) into groups run together, longest first, with each group's node chunk.

    A group of P proteins padded to its longest member runs its nodes in chunks of k, P·k rows per pass.
    Proteins share a pass only when all their nodes fit at once; otherwise a protein runs alone with its
    nodes chunked. Returns ``[(indices, k), ...]``.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[tuple[list[int], int]] = []
    current: list[int] = []
    capacity = 0
    for index in order:
        if current and (len(current) + 1) * nodes <= capacity:
            current.append(index)
            continue
        if current:
            groups.append((current, nodes))
        rows = rows_per_pass(shape, lengths[index] + 2, budget_bytes, device)
        if rows >= nodes:
            current, capacity = [index], rows
        else:
            groups.append(([index], rows))
            current, capacity = [], 0
    if current:
        groups.append((current, nodes))
    return groups
