"""ProtBert-style BERT classifiers: ``BertForSequenceClassification`` and ``BertMeanPoolClassifier``.

``BertForSequenceClassification`` pools the ``[CLS]`` token (dense + tanh pooler). ``BertMeanPoolClassifier``
(``architectures: ["BertMeanPoolClassifier"]`` in config.json; weights ``bert.*`` + ``classifier.*``, no
pooler) averages the last hidden states of all attended tokens, as protein classifiers built on per-residue
embeddings usually do; every residue then reaches the logit directly, not only through ``[CLS]``.

Tokens: ``[CLS]`` + one vocabulary token per residue (ProtBert's space-separated letters) + ``[SEP]``,
padded with ``[PAD]``. Baseline: ``[CLS]`` + ``[PAD]``·L + ``[SEP]`` (docs/method.md "Attribution"). The interpolated
input is the output of ``bert.embeddings`` (word + position + token-type embeddings after LayerNorm).
Head context: output[0] of ``bert.encoder.layer[l].attention.self`` — in transformers 5 ``BertSelfAttention``
returns ``(attn_output[B, T, H*Dh], attn_weights)`` with the heads merged before ``attention.output.dense``.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification, BertModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from protxai_ray.errors import ModelLoadError
from protxai_ray.models.adapter import HeadHookPoint
from protxai_ray.models.base import (
    ResidueVocabAdapter,
    mean_pool_classify,
    read_vocab_file,
    self_attention_hook_points,
)

VOCAB_FILE = "vocab.txt"
PROTBERT_VOCAB = os.path.join(os.path.dirname(__file__), "vocab", "protbert_vocab.txt")
MEAN_POOL_ARCHITECTURE = "BertMeanPoolClassifier"


class BertMeanPoolClassifier(BertPreTrainedModel):
    """BERT encoder + masked mean over attended tokens + dropout + linear head: logits ``float32[B, C]``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        hidden = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        ).last_hidden_state  # [B, T, D]
        return mean_pool_classify(hidden, attention_mask, self.dropout, self.classifier, labels)


def bert_class_for(config: dict) -> type[BertPreTrainedModel]:
    """The classifier class a BERT directory's ``architectures`` names (default: the ``[CLS]`` classifier)."""
    if MEAN_POOL_ARCHITECTURE in (config.get("architectures") or []):
        return BertMeanPoolClassifier
    return BertForSequenceClassification


class BertAdapter(ResidueVocabAdapter):
    model_type = "bert"

    def __init__(self, model: BertPreTrainedModel, path: str, weights_sha256: str) -> None:
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
