"""The seed paper's reference method, computed with captum: one attribution per quantity, batch size 1.

Embedding IG: captum ``LayerIntegratedGradients(forward, embedding module)`` on the token ids with the
baseline ids. Head relevance of layer l: captum ``LayerConductance(forward_from_embeddings, hook module
of layer l)`` where the interpolated input is the embedding output (DESIGN "Method"), summed per head
block of the ``[B, T, H·Dh]`` context. L + 1 separate captum runs per protein, ``internal_batch_size=1``
(LayerConductance then evaluates pairs of consecutive nodes) — the baseline the engine must match
(``derivative="finite"``) and beat. Used by tests and ``benchmarks/attribution.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerConductance, LayerIntegratedGradients

from protxai_ray.models.adapter import ModelAdapter


class _EmbeddingInput:
    """Forward functions of the model taking token ids, or the embedding output directly."""

    def __init__(self, model: ModelAdapter) -> None:
        self.model = model
        self.replacement: torch.Tensor | None = None
        module = model.embedding_module()
        self.handle = module.register_forward_hook(lambda m, a, out: self.replacement)

    def from_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.logits(input_ids, attention_mask)

    def from_embeddings(
        self, embeddings: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        self.replacement = embeddings
        try:
            return self.model.logits(input_ids, attention_mask)
        finally:
            self.replacement = None


def reference_attribution(
    model: ModelAdapter,
    sequence: str,
    target: int,
    steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Captum's embedding IG ``float64[L + 2]`` and per-layer head conductance ``float64[layers, heads, L + 2]``."""
    input_ids, mask = model.encode([sequence])
    base_ids = model.baseline_ids(input_ids, mask)
    forward = _EmbeddingInput(model)
    try:
        lig = LayerIntegratedGradients(forward.from_ids, model.embedding_module())
        ig = lig.attribute(
            inputs=input_ids,
            baselines=base_ids,
            target=target,
            additional_forward_args=(mask,),
            n_steps=steps,
            method=method,
            internal_batch_size=internal_batch_size,
        )
        residues = ig.sum(-1)[0].detach().double().cpu().numpy()
        with torch.no_grad():
            embedded = []
            handle = model.embedding_module().register_forward_hook(lambda m, a, out: embedded.append(out))
            try:
                model.logits(torch.cat([input_ids, base_ids]), torch.cat([mask, mask]))
            finally:
                handle.remove()
            x, b = embedded[0][:1], embedded[0][1:]
        heads = []
        for point in model.head_hook_points():
            conductance = LayerConductance(forward.from_embeddings, point.module)
            attr = conductance.attribute(
                inputs=x,
                baselines=b,
                target=target,
                additional_forward_args=(input_ids, mask),
                n_steps=steps,
                method=method,
                # captum's minimum for conductance: pairs of consecutive nodes
                internal_batch_size=None if internal_batch_size is None else max(2, internal_batch_size),
                attribute_to_layer_input=point.use_input,
            )
            attr = (
                attr[0] if isinstance(attr, tuple) else attr
            )  # BERT's module also returns attention weights
            per_head = attr[0].detach().double().unflatten(-1, (point.num_heads, point.head_size)).sum(-1)
            heads.append(per_head.T.cpu().numpy())
        return residues, np.stack(heads)
    finally:
        forward.handle.remove()
