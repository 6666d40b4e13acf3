"""Attribution engine: embedding IG and every layer's head conductance in one batched pass per step.

``attribute_batch(model, sequences, targets, settings=AttributionSettings(), ...) -> list[Attribution]``
(engine.py; settings.py: steps="auto" by default, head error ≤ 1 %); error-controlled adaptive
integration (adaptive.py); the dense reference it is validated against (dense.py); quadrature
rules and node plans (quadrature.py); the per-quantity accumulators (embedding_ig.py, conductance.py);
hooks and passes (path.py); completeness delta (convergence.py); memory model (memory.py);
FLOP model and MFU (flops.py); the captum per-layer reference method (reference.py). Never imports Ray.
"""

from protxai_ray.attribution.engine import attribute_batch
from protxai_ray.attribution.result import Attribution
from protxai_ray.attribution.settings import AttributionSettings

__all__ = ["Attribution", "AttributionSettings", "attribute_batch"]
