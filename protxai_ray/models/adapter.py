"""The contract between a transformers classifier and the attribution engine.

One ``ModelAdapter`` subclass per architecture (bert, esm, t5), registered by ``model_type``. The engine
only talks to this interface, so a new architecture is one small adapter.

Shapes: B = batch, T = tokens (start + residues + end, padded to the longest in the batch),
D = embedding width, H = heads, Dh = head size, C = classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class HeadHookPoint:
    """Where one layer's per-head context (before the attention output projection) can be read.

    ``module``'s forward **output** (``use_input=False``; first element when it returns a tuple) or its
    forward **input** (``use_input=True``, e.g. T5's ``SelfAttention.o``) is the context
    ``float32[B, T, H * Dh]`` with heads contiguous in blocks of ``head_size``.
    """

    module: nn.Module
    use_input: bool
    num_heads: int
    head_size: int


class ModelAdapter(ABC):
    """A loaded sequence classifier plus everything the engine needs to attribute it."""

    model_type: str  # registry key: "bert", "esm", "t5"
    model: nn.Module  # in eval mode, on ``device``
    label_names: list[str]  # class index -> name (from config.id2label)
    weights_sha256: str  # sha256 over the model's safetensors files (sorted by name)
    identity_sha256: str  # weights + config.json + label names + vocabulary (registry.model_identity_sha256)
    path: str  # the model directory

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    @abstractmethod
    def max_residues(self) -> int:
        """Longest sequence (residues, without start/end tokens) the model accepts."""

    @abstractmethod
    def encode(
        self, sequences: Sequence[str], names: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``long[B, T]`` and attention mask ``long[B, T]`` (on ``device``) for protein sequences.

        Input is upper-cased; rare residues U Z O B (and J) become X. Raises ``InvalidSequence(name, …)``
        for an empty, non-protein or too long sequence (no silent truncation), naming ``names[i]`` (the
        accession) or ``sequence[i]``. Token t = 1..L is residue t (UniProt position t); 0 is start, L + 1
        is end; T = longest L + 2, shorter rows padded with the pad token and attention mask 0.
        """

    @abstractmethod
    def baseline_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Baseline token ids ``long[B, T]``: start + (pad or mask)·L + end, padding kept as padding."""

    def baseline_embeddings(
        self, x: torch.Tensor, b: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The baseline b ``[B, T, D]`` the path starts from, given the embedding module's outputs for the
        input (x) and for ``baseline_ids`` (b). Default: b as computed. An architecture whose embedding
        module treats the baseline tokens specially (ESM-2's token dropout) corrects it here."""
        return b

    @abstractmethod
    def embedding_module(self) -> nn.Module:
        """The module whose output ``float32[B, T, D]`` is the interpolated input x."""

    @abstractmethod
    def head_hook_points(self) -> list[HeadHookPoint]:
        """One hook point per layer, layer 0 first."""

    @abstractmethod
    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Classifier logits ``float32[B, C]`` (a plain forward; hooks on ``embedding_module`` apply)."""

    @property
    def num_layers(self) -> int:
        return len(self.head_hook_points())

    @property
    def num_heads(self) -> int:
        return self.head_hook_points()[0].num_heads
