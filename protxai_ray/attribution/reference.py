"""The seed paper's reference method, computed with captum: one attribution per quantity, batch size 1.

Embedding IG: captum ``IntegratedGradients`` on the embedding module's output (the same integral as
``LayerIntegratedGradients`` on that module; it takes the adapter-corrected baseline, see
``ModelAdapter.baseline_embeddings``). Head relevance of layer l: captum ``LayerConductance(forward_from_embeddings, hook module
of layer l)`` where the interpolated input is the embedding output (docs/method.md "Attribution"), summed per head
block of the ``[B, T, H·Dh]`` context. L + 1 separate captum runs per protein, ``internal_batch_size=1``
(LayerConductance then evaluates pairs of consecutive nodes) — the baseline the engine must match
(``derivative="finite"``) and beat. Used by tests and ``benchmarks/attribution.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerConductance

from protxai_ray.models.adapter import ModelAdapter


class _Forward:
    """Forward functions of the model taking token ids, or the embedding output directly (via a hook)."""

    def __init__(self, model: ModelAdapter) -> None:
        self.model = model
        self.replacement: torch.Tensor | None = None

    def __enter__(self) -> _Forward:
        hook = self.model.embedding_module().register_forward_hook(lambda m, a, out: self.replacement)
        self.handle = hook
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()

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


def _path_ends(model: ModelAdapter, sequence: str) -> tuple[torch.Tensor, ...]:
    """Token ids, mask, and the embedding outputs x and b ``[1, T, D]`` (b corrected by the adapter)."""
    input_ids, mask = model.encode([sequence])
    base_ids = model.baseline_ids(input_ids, mask)
    with torch.no_grad():
        embedded: list[torch.Tensor] = []
        handle = model.embedding_module().register_forward_hook(lambda m, a, out: embedded.append(out))
        try:
            model.logits(torch.cat([input_ids, base_ids]), torch.cat([mask, mask]))
        finally:
            handle.remove()
    x, b = embedded[0][:1], embedded[0][1:]
    return input_ids, mask, x, model.baseline_embeddings(x, b, mask)


def reference_embedding_ig(
    model: ModelAdapter,
    sequence: str,
    target: int,
    steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = 1,
) -> np.ndarray:
    """captum ``IntegratedGradients`` on the embedding module's output (what ``LayerIntegratedGradients``
    on that module computes), summed over its width: ``float64[L + 2]``."""
    input_ids, mask, x, b = _path_ends(model, sequence)
    with _Forward(model) as forward:
        ig = IntegratedGradients(forward.from_embeddings).attribute(
            inputs=x,
            baselines=b,
            target=target,
            additional_forward_args=(input_ids, mask),
            n_steps=steps,
            method=method,
            internal_batch_size=internal_batch_size,
        )
    return ig.sum(-1)[0].detach().double().cpu().numpy()


def reference_head_conductance(
    model: ModelAdapter,
    sequence: str,
    target: int,
    layer: int,
    steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = 1,
) -> np.ndarray:
    """captum ``LayerConductance`` of one layer's head context, per head: ``float64[heads, L + 2]``."""
    input_ids, mask, x, b = _path_ends(model, sequence)
    point = model.head_hook_points()[layer]
    with _Forward(model) as forward:
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
    attr = attr[0] if isinstance(attr, tuple) else attr  # BERT's module also returns attention weights
    per_head = attr[0].detach().double().unflatten(-1, (point.num_heads, point.head_size)).sum(-1)
    return per_head.T.cpu().numpy()


def reference_attribution(
    model: ModelAdapter,
    sequence: str,
    target: int,
    steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = 1,
    layers: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embedding IG ``float64[L + 2]`` and head conductance ``float64[len(layers), heads, L + 2]``
    (all layers by default): L + 1 separate captum runs."""
    residues = reference_embedding_ig(model, sequence, target, steps, method, internal_batch_size)
    chosen = range(model.num_layers) if layers is None else layers
    heads = [
        reference_head_conductance(model, sequence, target, layer, steps, method, internal_batch_size)
        for layer in chosen
    ]
    return residues, np.stack(heads)
