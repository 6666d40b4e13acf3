"""Attribution engine: embedding IG and every layer's head conductance in one batched pass per step.

``attribute_batch(model, sequences, targets, steps=32, ...) -> list[Attribution]`` (engine.py); quadrature
rules and node plans (quadrature.py); the per-quantity accumulators (embedding_ig.py, conductance.py);
hooks and passes (path.py); completeness and adaptive steps (convergence.py); memory model (memory.py);
FLOP model and MFU (flops.py); the captum per-layer reference method (reference.py). Never imports Ray.
"""

from protxai_ray.attribution.engine import attribute_batch
from protxai_ray.attribution.result import Attribution

__all__ = ["Attribution", "attribute_batch"]
