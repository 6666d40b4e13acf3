"""Shared machinery of the per-residue-vocabulary adapters: sequence checks, tokenization, baselines.

Every supported architecture tokenizes a protein one token per residue (ProtBert's space-separated
letters, ESM-2's alphabet, ProtT5's sentencepiece pieces ``▁A``…), framed by a start and an end token.
So tokenization here is a dictionary lookup, not a ``transformers`` tokenizer call: it is exact, fast and
immune to the transformers-5 pitfall where ``BertTokenizer(vocab_file=...)`` silently maps every residue
to ``[UNK]`` (tests check equality with ``BertTokenizer(vocab=...)``).

Accepted letters: the 20 standard amino acids, ``X``, and the rare/ambiguous ``U Z O B J`` which become
``X`` (ProtBert's and ProtT5's convention; J — Leu/Ile — is treated like the others). Input is upper-cased
first. Anything else (digits, ``*``, ``-``, whitespace, an empty string) raises ``InvalidSequence``.
A residue letter absent from a model's vocabulary (e.g. ``X`` in a 25-token antibody vocabulary) becomes
that model's unknown token, which is what its own tokenizer would do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from protxai_ray.errors import InvalidSequence
from protxai_ray.models.adapter import HeadHookPoint, ModelAdapter

STANDARD_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWY")
RARE_TO_X = {"U": "X", "Z": "X", "O": "X", "B": "X", "J": "X"}
ACCEPTED_LETTERS = STANDARD_RESIDUES | frozenset("X") | frozenset(RARE_TO_X)


def normalise_sequence(sequence: str, name: str) -> str:
    """Upper-case ``sequence`` and map rare residues to X; ``InvalidSequence(name, …)`` if not protein."""
    if not isinstance(sequence, str) or not sequence:
        raise InvalidSequence(name, "empty sequence")
    upper = sequence.upper()
    for position, letter in enumerate(upper, start=1):
        if letter not in ACCEPTED_LETTERS:
            raise InvalidSequence(
                name,
                f"non-protein character {letter!r} at position {position} (accepted: amino-acid letters)",
            )
    return "".join(RARE_TO_X.get(letter, letter) for letter in upper)


def self_attention_hook_points(layers) -> list[HeadHookPoint]:
    """Hook points of BERT-style layers: ``layer.attention.self`` returns the per-head context first."""
    return [
        HeadHookPoint(
            module=layer.attention.self,
            use_input=False,
            num_heads=layer.attention.self.num_attention_heads,
            head_size=layer.attention.self.attention_head_size,
        )
        for layer in layers
    ]


def read_vocab_file(path: str) -> dict[str, int]:
    """A one-token-per-line vocabulary (BERT ``vocab.txt`` style) as token -> id."""
    with open(path, encoding="utf-8") as handle:
        tokens = [line.rstrip("\n") for line in handle]
    while tokens and tokens[-1] == "":
        tokens.pop()
    return {token: index for index, token in enumerate(tokens)}


class ResidueVocabAdapter(ModelAdapter):
    """An adapter whose tokens are [start] + one token per residue + [end], padded with ``pad_id``.

    Subclasses set ``residue_ids`` (residue letter -> token id), ``unk_id``, ``start_id``, ``end_id``,
    ``pad_id``, ``baseline_fill_id`` (the token that replaces every residue in the baseline) and
    ``_max_residues``.
    """

    residue_ids: dict[str, int]
    unk_id: int
    start_id: int
    end_id: int
    pad_id: int
    baseline_fill_id: int
    _max_residues: int

    def _attach(self, model, path: str, weights_sha256: str) -> None:
        """Bind the loaded model and take the class names from its config (``id2label``)."""
        self.model = model
        self.path = path
        self.weights_sha256 = weights_sha256
        self.label_names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]

    @property
    def max_residues(self) -> int:
        return self._max_residues

    def residue_token_ids(self, sequence: str, name: str) -> list[int]:
        """Token ids of the residues only (no start/end) for one already-checked sequence."""
        residues = normalise_sequence(sequence, name)
        if len(residues) > self._max_residues:
            raise InvalidSequence(
                name,
                f"sequence of {len(residues)} residues exceeds the model's limit of {self._max_residues} "
                "residues (max_position_embeddings - 2); it is not truncated",
            )
        return [self.residue_ids.get(letter, self.unk_id) for letter in residues]

    def encode(
        self, sequences: Sequence[str], names: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``long[B, T]`` and attention mask ``long[B, T]``; T = longest length + 2.

        ``names`` (accessions) label the ``InvalidSequence`` error; default: the index in the batch.
        """
        if names is not None and len(names) != len(sequences):
            raise ValueError("names must have one entry per sequence")
        if len(sequences) == 0:
            raise ValueError("encode needs at least one sequence")
        rows = []
        for index, sequence in enumerate(sequences):
            name = names[index] if names is not None else f"sequence[{index}]"
            rows.append([self.start_id, *self.residue_token_ids(sequence, name), self.end_id])
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[index, : len(row)] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def baseline_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """start + fill·L + end per row (fill = [PAD] for BERT, <mask> for ESM); padding stays padding."""
        baseline = torch.full_like(input_ids, self.pad_id)
        lengths = attention_mask.sum(dim=1)  # L + 2 per row
        for row, length in enumerate(lengths.tolist()):
            baseline[row, 0] = self.start_id
            baseline[row, 1 : length - 1] = self.baseline_fill_id
            baseline[row, length - 1] = self.end_id
        return baseline


def mean_pool_classify(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: nn.Module,
    classifier: nn.Module,
    labels: torch.Tensor | None = None,
) -> SequenceClassifierOutput:
    """Mean of ``hidden [B, T, D]`` over attended tokens → dropout → ``classifier`` → logits ``[B, C]``
    (cross-entropy loss when ``labels`` are given): the head of the mean-pooled BERT and T5 classifiers."""
    if attention_mask is None:
        pooled = hidden.mean(dim=1)
    else:
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # [B, T, 1]
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    logits = classifier(dropout(pooled))
    loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
    return SequenceClassifierOutput(loss=loss, logits=logits)
