"""ProtBert-style BERT classifiers: ``BertForSequenceClassification`` and ``BertMeanPoolClassifier``.

``BertForSequenceClassification`` pools the ``[CLS]`` token (dense + tanh pooler). ``BertMeanPoolClassifier``
(``architectures: ["BertMeanPoolClassifier"]`` in config.json; weights ``bert.*`` + ``classifier.*``, no
pooler) averages the last hidden states of all attended tokens, as protein classifiers built on per-residue
embeddings usually do; every residue then reaches the logit directly, not only through ``[CLS]``.

A mean-pooled directory must not load as ``BertForSequenceClassification``: plain transformers would
silently add a random ``[CLS]`` pooler and give unrelated logits. ``BertMeanPoolClassifier.save_pretrained``
therefore writes a config.json that transformers' ``BertConfig`` refuses: ``classifier_dropout`` holds the
string ``MEAN_POOL_GUARD`` (which says how to load the model; the field is a float or null for transformers,
whose strict config validation fails loudly on it, naming the field and quoting the string) and the real
value moves to ``mean_pool_classifier_dropout``. So ``AutoConfig``, ``AutoTokenizer``,
``AutoModel*`` and ``Bert*.from_pretrained`` on such a directory raise instead of loading it wrongly, while
``load_model`` and ``BertMeanPoolClassifier.from_pretrained`` read it through ``bert_config_from_dict``.

Tokens: ``[CLS]`` + one vocabulary token per residue (ProtBert's space-separated letters) + ``[SEP]``,
padded with ``[PAD]``. Baseline: ``[CLS]`` + ``[PAD]``·L + ``[SEP]`` (docs/method.md "Attribution"). The interpolated
input is the output of ``bert.embeddings`` (word + position + token-type embeddings after LayerNorm).
Head context: output[0] of ``bert.encoder.layer[l].attention.self`` — in transformers 5 ``BertSelfAttention``
returns ``(attn_output[B, T, H*Dh], attn_weights)`` with the heads merged before ``attention.output.dense``.
"""

from __future__ import annotations

import json
import os

import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification, BertModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from protxai_ray.models.adapter import HeadHookPoint
from protxai_ray.models.base import (
    ResidueVocabAdapter,
    directory_vocab,
    mean_pool_classify,
    self_attention_hook_points,
)

VOCAB_FILE = "vocab.txt"
PROTBERT_VOCAB = os.path.join(os.path.dirname(__file__), "vocab", "protbert_vocab.txt")
MEAN_POOL_ARCHITECTURE = "BertMeanPoolClassifier"


MEAN_POOL_GUARD = (
    "BertMeanPoolClassifier: mean-pooled head, no [CLS] pooler; transformers' Auto/Bert classes would load it "
    "wrongly, load it with protxai_ray.models.load_model"
)
SAVED_DROPOUT_KEY = "mean_pool_classifier_dropout"
CONFIG_FILE = "config.json"


def is_mean_pooled(config: dict) -> bool:
    return MEAN_POOL_ARCHITECTURE in (config.get("architectures") or [])


def guard_mean_pool_config(config: dict) -> dict:
    """The config.json content of a mean-pooled classifier, made unloadable by transformers' ``BertConfig``
    (module docstring); other configs, and already guarded ones, are returned unchanged."""
    if not is_mean_pooled(config) or config.get("classifier_dropout") == MEAN_POOL_GUARD:
        return config
    guarded = dict(config)
    guarded[SAVED_DROPOUT_KEY] = config.get("classifier_dropout")
    guarded["classifier_dropout"] = MEAN_POOL_GUARD
    return guarded


def guard_config_file(directory: str | os.PathLike) -> None:
    """Rewrite ``directory/config.json`` with ``guard_mean_pool_config`` (transformers' own JSON layout)."""
    file = os.path.join(os.fspath(directory), CONFIG_FILE)
    with open(file, encoding="utf-8") as handle:
        config = json.load(handle)
    guarded = guard_mean_pool_config(config)
    if guarded is not config:
        with open(file, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(guarded, indent=2, sort_keys=True) + "\n")


TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


def write_tokenizer_config(directory: str | os.PathLike, max_position_embeddings: int) -> None:
    """A ``tokenizer_config.json`` with which ``AutoTokenizer`` reads the directory's ``vocab.txt`` as ProtBert's
    tokenizer does: ``BertTokenizer`` with ``do_lower_case: false`` (the default, true, maps every residue to
    ``[UNK]``). Residues must still be space-separated and U Z O B replaced by X before tokenizing."""
    settings = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": False,
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "mask_token": "[MASK]",
        "model_max_length": int(max_position_embeddings),
    }
    file = os.path.join(os.fspath(directory), TOKENIZER_CONFIG_FILE)
    with open(file, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def bert_config_from_dict(config: dict) -> BertConfig:
    """The ``BertConfig`` of a config.json dict, undoing ``guard_mean_pool_config``."""
    settings = dict(config)
    if is_mean_pooled(settings) and settings.get("classifier_dropout") == MEAN_POOL_GUARD:
        settings["classifier_dropout"] = settings.get(SAVED_DROPOUT_KEY)
    settings.pop(SAVED_DROPOUT_KEY, None)
    return BertConfig.from_dict(settings)


class BertMeanPoolClassifier(BertPreTrainedModel):
    """BERT encoder + masked mean over attended tokens + dropout + linear head: logits ``float32[B, C]``.

    ``save_pretrained`` writes the guarded config.json and ``from_pretrained`` reads it (module docstring).
    """

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

    def save_pretrained(self, save_directory, *args, **kwargs):
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if os.path.isfile(os.path.join(os.fspath(save_directory), CONFIG_FILE)):
            guard_config_file(save_directory)
        return result

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, **kwargs):
        directory = os.fspath(pretrained_model_name_or_path)
        if config is None and os.path.isfile(os.path.join(directory, CONFIG_FILE)):
            with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as handle:
                config = bert_config_from_dict(json.load(handle))
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, config=config, **kwargs)


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
        # tokenizer.json (transformers-5 save_pretrained) or vocab.txt; no built-in: a BERT vocabulary varies.
        self.bind_vocab(
            directory_vocab(path),
            start="[CLS]",
            end="[SEP]",
            pad="[PAD]",
            unk="[UNK]",
            fill="[PAD]",
            residue_of=lambda token: token,  # single upper-case letters are residues ([CLS] etc. are not)
            vocab_size=config.vocab_size,
        )
        # Absolute positions 0..T-1 must exist for T = L + 2 tokens.
        self._max_residues = int(config.max_position_embeddings) - 2

    def embedding_module(self) -> nn.Module:
        return self.model.bert.embeddings

    def head_hook_points(self) -> list[HeadHookPoint]:
        return self_attention_hook_points(self.model.bert.encoder.layer)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
