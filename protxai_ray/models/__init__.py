"""Model adapters: load a protein classifier directory, tokenize, baseline, hook points.

``load_model(path, device=None) -> ModelAdapter`` picks the adapter by ``config.model_type``
(bert, esm, t5); see ``adapter.py`` for the contract the attribution engine codes against.
"""

from protxai_ray.models.adapter import HeadHookPoint, ModelAdapter
from protxai_ray.models.registry import load_model, supported_model_types, weights_sha256

__all__ = ["HeadHookPoint", "ModelAdapter", "load_model", "supported_model_types", "weights_sha256"]
