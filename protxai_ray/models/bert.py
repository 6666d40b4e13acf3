"""ProtBert-style BERT classifiers (``BertForSequenceClassification``).

Tokens: ``[CLS]`` + one vocabulary token per residue (ProtBert's space-separated letters) + ``[SEP]``,
padded with ``[PAD]``. Baseline: ``[CLS]`` + ``[PAD]``·L + ``[SEP]`` (DESIGN "Method"). The interpolated
input is the output of ``bert.embeddings`` (word + position + token-type embeddings after LayerNorm).
Head context: output[0] of ``bert.encoder.layer[l].attention.self`` — in transformers 5 ``BertSelfAttention``
returns ``(attn_output[B, T, H*Dh], attn_weights)`` with the heads merged before ``attention.output.dense``.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers import BertForSequenceClassification

from protxai_ray.errors import ModelLoadError
from protxai_ray.models.adapter import HeadHookPoint
from protxai_ray.models.base import ResidueVocabAdapter, read_vocab_file, self_attention_hook_points

VOCAB_FILE = "vocab.txt"
PROTBERT_VOCAB = os.path.join(os.path.dirname(__file__), "vocab", "protbert_vocab.txt")


class BertAdapter(ResidueVocabAdapter):
    model_type = "bert"

    def __init__(self, model: BertForSequenceClassification, path: str, weights_sha256: str) -> None:
        self._attach(model, path, weights_sha256)
        config = model.config
        vocab_path = os.path.join(path, VOCAB_FILE)
        if not os.path.isfile(vocab_path):
            raise ModelLoadError(f"{path}: BERT model directory has no {VOCAB_FILE}")
        vocab = read_vocab_file(vocab_path)
        for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if special not in vocab:
                raise ModelLoadError(f"{path}: {VOCAB_FILE} lacks the special token {special}")
        if len(vocab) > config.vocab_size:
            raise ModelLoadError(
                f"{path}: {VOCAB_FILE} has {len(vocab)} tokens but the model's vocab_size is {config.vocab_size}"
            )
        self.vocab = vocab
        # Single upper-case letters are residues; everything else ([CLS], ...) is special.
        self.residue_ids = {t: i for t, i in vocab.items() if len(t) == 1 and t.isalpha() and t.isupper()}
        self.unk_id = vocab["[UNK]"]
        self.start_id = vocab["[CLS]"]
        self.end_id = vocab["[SEP]"]
        self.pad_id = vocab["[PAD]"]
        self.baseline_fill_id = self.pad_id
        # Absolute positions 0..T-1 must exist for T = L + 2 tokens.
        self._max_residues = int(config.max_position_embeddings) - 2

    def embedding_module(self) -> nn.Module:
        return self.model.bert.embeddings

    def head_hook_points(self) -> list[HeadHookPoint]:
        return self_attention_hook_points(self.model.bert.encoder.layer)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
