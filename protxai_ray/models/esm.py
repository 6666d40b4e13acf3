"""ESM-2 classifiers (``EsmForSequenceClassification``).

Vocabulary: the ESM-2 alphabet (fair-esm ``Alphabet`` for ESM-1b/ESM-2, same order as the hub's
``vocab.txt``): ``<cls>``=0 ``<pad>``=1 ``<eos>``=2 ``<unk>``=3, ``L A G V S E R T I D P K Q N F Y M H W C X
B U Z O . -`` = 4..30, ``<null_1>``=31, ``<mask>``=32. A directory's own ``tokenizer.json`` or ``vocab.txt``
is used when present (``base.directory_vocab``).
Rare residues U Z O B are mapped to X like for every architecture here (ESM's own tokenizer would keep
them; they are vanishingly rare in UniProt and X keeps one convention across models).

Tokens: ``<cls>`` + residues + ``<eos>``, padded with ``<pad>``. Baseline: ``<cls>`` + ``<mask>``·L +
``<eos>`` (docs/method.md "Attribution"). The interpolated input is the output of ``esm.embeddings``.

token_dropout (ESM-2 checkpoints have ``token_dropout=True``): ``EsmEmbeddings`` zeroes the embedding of
every ``<mask>`` token and multiplies the whole row by ``(1 − 0.15·0.8) / (1 − masked share)``: 0.88 for
an input without ``<mask>``, but ``0.88 · (L + 2) / 2`` for the all-mask baseline (×133 at L = 300), so the
module's own baseline puts ``<cls>``/``<eos>`` far from anything the model saw and x − b is huge at exactly
those two tokens. ``baseline_embeddings`` therefore fixes the baseline per position:

* residues 1..L: the zero vector — what token dropout makes of a ``<mask>`` in training and inference;
* ``<cls>`` (0) and ``<eos>`` (L + 1): the input's own embeddings (scaled 0.88 like the rest of x), so
  x − b = 0 there and the start/end tokens carry no IG, as with BERT's ``[CLS]``/``[SEP]``.

F(b) is the model's output at that corrected embedding. Measured on a random ESM-2-shaped classifier
(tests/models/test_baselines.py): with the module's own baseline the start/end tokens took 38 % of
Σ|IG| at L = 34; with the corrected one they take 0. Without token_dropout the module's baseline is kept.

Head context: output[0] of ``esm.encoder.layer[l].attention.self`` (transformers 5 ``EsmSelfAttention``
returns ``(attn_output[B, T, H*Dh], attn_weights)`` before ``attention.output.dense``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import EsmConfig, EsmForSequenceClassification

from protxai_ray.errors import ModelLoadError
from protxai_ray.models.adapter import HeadHookPoint
from protxai_ray.models.base import ResidueVocabAdapter, directory_vocab, self_attention_hook_points

VOCAB_FILE = "vocab.txt"
ESM2_TOKENS = [
    "<cls>", "<pad>", "<eos>", "<unk>",
    *"LAGVSERTIDPKQNFYMHWCXBUZO.-",
    "<null_1>", "<mask>",
]  # fmt: skip

if TYPE_CHECKING:
    from protxai_ray.models.random_init import RandomShape


class EsmAdapter(ResidueVocabAdapter):
    model_type = "esm"

    def __init__(self, model: EsmForSequenceClassification, path: str, weights_sha256: str) -> None:
        self._attach(model, path, weights_sha256)
        config = model.config
        vocab = directory_vocab(path, builtin=ESM2_TOKENS, builtin_name="ESM-2 alphabet")
        self.bind_vocab(
            vocab,
            start="<cls>",
            end="<eos>",
            pad="<pad>",
            unk="<unk>",
            fill="<mask>",
            residue_of=lambda token: token,
            vocab_size=config.vocab_size,
        )
        if self.pad_id != config.pad_token_id:
            raise ModelLoadError(
                f"{path}: <pad> is {self.pad_id} in {vocab.source}, {config.pad_token_id} in config.json"
            )
        self.token_dropout = bool(config.token_dropout)
        max_positions = int(config.max_position_embeddings)
        if config.position_embedding_type == "absolute":
            # Absolute position ids run from pad_id + 1 to pad_id + T (fairseq convention).
            self._max_residues = max_positions - config.pad_token_id - 3
        else:
            # Rotary positions have no table; keep ESM-2's 1024-residue context (1026 tokens).
            self._max_residues = max_positions - 2

    def baseline_embeddings(
        self, x: torch.Tensor, b: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Residues at the zero vector (a token-dropped ``<mask>``), start/end as in x (module docstring)."""
        if not self.token_dropout:
            return b
        corrected = torch.zeros_like(b)
        ends = attention_mask.sum(dim=1) - 1  # position of <eos> per row
        rows = torch.arange(b.shape[0], device=b.device)
        corrected[rows, 0] = x[rows, 0]
        corrected[rows, ends] = x[rows, ends]
        return corrected

    def embedding_module(self) -> nn.Module:
        return self.model.esm.embeddings

    def head_hook_points(self) -> list[HeadHookPoint]:
        return self_attention_hook_points(self.model.esm.encoder.layer)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def build_random_esm(
    shape: RandomShape,
    token_dropout: bool = True,
) -> tuple[nn.Module, list[tuple[str, str]]]:
    """An ESM-2-shaped random classifier (rotary positions, no embedding LayerNorm, token_dropout on)."""
    from protxai_ray.models.random_init import label_maps

    id2label, label2id = label_maps(shape.num_labels, shape.label_names)
    config = EsmConfig(
        vocab_size=len(ESM2_TOKENS),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.intermediate,
        max_position_embeddings=shape.max_positions,
        position_embedding_type="rotary",
        emb_layer_norm_before=False,
        token_dropout=token_dropout,
        layer_norm_eps=1e-5,
        hidden_act="gelu",
        pad_token_id=ESM2_TOKENS.index("<pad>"),
        mask_token_id=ESM2_TOKENS.index("<mask>"),
        num_labels=shape.num_labels,
        id2label=id2label,
        label2id=label2id,
        initializer_range=shape.initializer_range,
        attn_implementation="eager",
    )
    return EsmForSequenceClassification(config), [("\n".join(ESM2_TOKENS) + "\n", VOCAB_FILE)]
