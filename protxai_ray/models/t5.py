"""ProtT5-style encoder-only classifiers: ``T5EncoderClassifier`` and its adapter.

transformers has no encoder-only T5 sequence classifier (``T5ForSequenceClassification`` runs the
decoder), while ProtT5 classifiers are the encoder plus a pooled head. ``T5EncoderClassifier`` is that:
``T5EncoderModel`` → mean over attended tokens → dropout → ``Linear(d_model, num_labels)``.

Directory format: ``config.json`` is a ``T5Config`` (``model_type: "t5"``) with
``architectures: ["T5EncoderClassifier"]``, ``id2label``/``label2id``, ``n_positions`` and
``max_residues``; weights ``model.safetensors`` with keys ``transformer.shared.weight``,
``transformer.encoder.block.N...``, ``classifier.weight``/``classifier.bias``; the vocabulary as a
transformers-5 ``tokenizer.json`` (Unigram), ``vocab.txt`` one token per line (``<pad> </s> <unk> ▁A ▁L ...``,
ProtT5's sentencepiece ids) or a SentencePiece ``spiece.model``; the built-in ProtT5 table is used when
none is present. Residues are the ``▁A`` pieces (what space-separated residues encode to). A T5 directory whose ``architectures`` is not ``T5EncoderClassifier`` is refused.

Positions. ProtT5 feeds residues + ``</s>`` and has no start token, but the engine's contract is
T = L + 2 tokens with position 0 = start and L + 1 = end. We therefore **prepend ``<pad>`` (id 0, T5's
decoder-start token) as the start token, attended like every other token**: token t = 1..L is residue t,
L + 1 is ``</s>``. Our random and trained T5 classifiers are built with this layout; a converted
pretrained ProtT5 encoder sees one extra leading ``<pad>`` it did not see in pretraining (T5 positions
are relative, so the residues' mutual positions are unchanged). Baseline: ``<pad>`` + ``<pad>``·L +
``</s>`` (ProtT5 has no mask token). The interpolated input is ``transformer.encoder.embed_tokens``'s
output (T5 has no position embeddings or embedding LayerNorm). Head context: the **input** of
``transformer.encoder.block[l].layer[0].SelfAttention.o`` (T5Attention applies ``o`` inside its forward).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import T5Config, T5EncoderModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.t5.modeling_t5 import T5PreTrainedModel

from protxai_ray.errors import ModelLoadError
from protxai_ray.models.adapter import HeadHookPoint
from protxai_ray.models.base import ResidueVocabAdapter, directory_vocab, mean_pool_classify

VOCAB_FILE = "vocab.txt"
ARCHITECTURE = "T5EncoderClassifier"
# ProtT5 (Rostlab prot_t5_xl_uniref50) sentencepiece ids; 28..127 are <extra_id_*> sentinels.
PROTT5_TOKENS = ["<pad>", "</s>", "<unk>", *(f"\u2581{a}" for a in "ALGVSREDTIPKFQNYMHWCXBOUZ")]
PROTT5_VOCAB_SIZE = 128

if TYPE_CHECKING:
    from protxai_ray.models.random_init import RandomShape


class T5EncoderClassifier(T5PreTrainedModel):
    """T5 encoder + masked mean pooling + linear head: logits ``float32[B, C]``."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = T5EncoderModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            nn.init.normal_(
                module.weight, mean=0.0, std=self.config.initializer_factor * self.config.d_model**-0.5
            )
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        hidden = self.transformer(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
        ).last_hidden_state  # [B, T, D]
        return mean_pool_classify(hidden, attention_mask, self.dropout, self.classifier, labels)


def _residue_of_piece(token: str) -> str | None:
    """Residue pieces are ``▁A`` (sentencepiece word start: what space-separated residues encode to)."""
    return token[1] if len(token) == 2 and token[0] == "\u2581" else None


class T5Adapter(ResidueVocabAdapter):
    model_type = "t5"

    def __init__(self, model: T5EncoderClassifier, path: str, weights_sha256: str) -> None:
        self._attach(model, path, weights_sha256)
        config = model.config
        vocab = directory_vocab(path, sentencepiece=True, builtin=PROTT5_TOKENS, builtin_name="ProtT5 table")
        self.bind_vocab(
            vocab,
            start="<pad>",
            end="</s>",
            pad="<pad>",
            unk="<unk>",
            fill="<pad>",
            residue_of=_residue_of_piece,
            vocab_size=config.vocab_size,
        )
        limit = getattr(config, "max_residues", None)
        self._max_residues = int(limit) if limit is not None else int(config.n_positions) - 2

    def embedding_module(self) -> nn.Module:
        return self.model.transformer.encoder.embed_tokens

    def head_hook_points(self) -> list[HeadHookPoint]:
        config = self.model.config
        return [
            HeadHookPoint(
                module=block.layer[0].SelfAttention.o,
                use_input=True,
                num_heads=config.num_heads,
                head_size=config.d_kv,
            )
            for block in self.model.transformer.encoder.block
        ]

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def check_t5_architecture(path: str, config: dict) -> None:
    architectures = config.get("architectures") or []
    if ARCHITECTURE not in architectures:
        raise ModelLoadError(
            f"{path}: T5 model with architectures {architectures}; only encoder-only {ARCHITECTURE} "
            "classifiers are supported (see protxai_ray/models/t5.py for the directory format)"
        )


def build_random_t5(
    shape: RandomShape,
) -> tuple[nn.Module, list[tuple[str, str]]]:
    """A ProtT5-shaped random encoder classifier (relu FFN, relative position buckets)."""
    from protxai_ray.models.random_init import label_maps

    id2label, label2id = label_maps(shape.num_labels, shape.label_names)
    config = T5Config(
        vocab_size=PROTT5_VOCAB_SIZE,
        d_model=shape.hidden,
        d_kv=shape.hidden // shape.num_heads,
        d_ff=shape.intermediate,
        num_layers=shape.num_layers,
        num_heads=shape.num_heads,
        feed_forward_proj="relu",
        n_positions=shape.max_positions,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        num_labels=shape.num_labels,
        id2label=id2label,
        label2id=label2id,
        # T5 scales its own init by initializer_factor; 0.02 (BERT's std) maps to factor 1.
        initializer_factor=shape.initializer_range / 0.02,
        is_encoder_decoder=False,
        use_cache=False,
        attn_implementation="eager",
    )
    config.max_residues = shape.max_positions - 2
    config.architectures = [ARCHITECTURE]
    return T5EncoderClassifier(config), [("\n".join(PROTT5_TOKENS) + "\n", VOCAB_FILE)]
