"""The demo classifier: a small ProtBert-shaped BERT built from scratch, its tokens, and its saved directory.

Tokens follow ProtBert's vocabulary exactly as the bert adapter encodes them: [CLS] + one token per residue
(upper-case; U Z O B become X) + [SEP], [PAD] = 0. Position embeddings are fixed sinusoids (frozen), so a
model trained on cropped windows still sees sensible positions on longer proteins at attribution time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from protxai_ray.errors import InvalidSequence
from protxai_ray.models.bert import (
    MEAN_POOL_ARCHITECTURE,
    TOKENIZER_CONFIG_FILE,
    BertMeanPoolClassifier,
    write_tokenizer_config,
)

VOCAB_PATH = Path(__file__).resolve().parents[1] / "models" / "vocab" / "protbert_vocab.txt"
RARE_TO_X = str.maketrans({"U": "X", "Z": "X", "O": "X", "B": "X"})


def load_vocab() -> dict[str, int]:
    """ProtBert's 30-token vocabulary, token -> id."""
    tokens = [line.strip() for line in VOCAB_PATH.read_text().splitlines() if line.strip()]
    return {token: i for i, token in enumerate(tokens)}


VOCAB = load_vocab()
PAD_ID, CLS_ID, SEP_ID = VOCAB["[PAD]"], VOCAB["[CLS]"], VOCAB["[SEP]"]


def encode_residues(sequence: str, accession: str = "?") -> list[int]:
    """Token ids of the residues only (no [CLS]/[SEP]): one id per residue."""
    residues = sequence.upper().translate(RARE_TO_X)
    try:
        return [VOCAB[r] for r in residues]
    except KeyError as exc:
        raise InvalidSequence(accession, f"non-protein letter {exc.args[0]!r}") from None


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of the demo classifier."""

    layers: int = 4
    heads: int = 8
    hidden: int = 128
    intermediate: int = 256
    max_residues: int = 1024
    dropout: float = 0.1
    # N(0, 1) (torch's nn.Embedding default) instead of BERT's N(0, 0.02): residue identity then dominates the
    # first LayerNorm and training leaves the constant-prediction plateau far sooner (measured: ~80 vs >300 steps).
    word_init_std: float = 1.0
    # "mean": average of the last hidden states (BertMeanPoolClassifier), so every residue reaches the logit
    # directly; "cls": BertForSequenceClassification's [CLS] pooler. With "cls" the demo model put all of its
    # last-layer relevance on [CLS] and no head's relevance was enriched in TM segments (see MODEL_CARD).
    pooling: str = "mean"
    # amplitude of the fixed sinusoidal position codes added to the word embeddings before LayerNorm
    position_scale: float = 0.1


def sinusoid_table(positions: int, width: int, amplitude: float = 0.1) -> torch.Tensor:
    """``float32[positions, width]`` fixed sinusoidal position codes (Vaswani et al.) × ``amplitude``."""
    pos = torch.arange(positions, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float32) / width)
    table = torch.zeros(positions, width)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table * amplitude


def build_classifier(spec: ModelSpec, label_names: list[str], seed: int) -> BertPreTrainedModel:
    """A freshly initialised (seeded) BERT sequence classifier with frozen sinusoidal positions."""
    if spec.pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', not {spec.pooling!r}")
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        intermediate_size=spec.intermediate,
        max_position_embeddings=spec.max_residues + 2,
        hidden_dropout_prob=spec.dropout,
        attention_probs_dropout_prob=spec.dropout,
        pad_token_id=PAD_ID,
        type_vocab_size=2,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    torch.manual_seed(seed)
    if spec.pooling == "mean":
        config.architectures = [MEAN_POOL_ARCHITECTURE]
        model = BertMeanPoolClassifier(config)
    else:
        model = BertForSequenceClassification(config)
    positions = model.bert.embeddings.position_embeddings
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        model.bert.embeddings.word_embeddings.weight.normal_(0.0, spec.word_init_std, generator=generator)
        model.bert.embeddings.word_embeddings.weight[PAD_ID].zero_()
        positions.weight.copy_(sinusoid_table(*positions.weight.shape, amplitude=spec.position_scale))
    positions.weight.requires_grad_(False)
    return model


def batch_tensors(token_rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``long[B, T]`` input ids ([CLS] residues [SEP], right-padded) and attention mask from residue ids."""
    width = max(len(row) for row in token_rows) + 2
    ids = torch.full((len(token_rows), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(token_rows), width), dtype=torch.long)
    for i, row in enumerate(token_rows):
        ids[i, : len(row) + 2] = torch.tensor([CLS_ID, *row, SEP_ID])
        mask[i, : len(row) + 2] = 1
    return ids, mask


def save_model_dir(
    model: BertPreTrainedModel, out_dir: str | Path, label_names: list[str], card: str, extra: dict
) -> Path:
    """Write config.json, model.safetensors, vocab.txt, label_map.json, MODEL_CARD.md into ``out_dir``.

    What plain transformers makes of the directory (the card says it too):

    - mean-pooled (``BertMeanPoolClassifier``): config.json is guarded (``models/bert.py``), so
      ``AutoTokenizer``/``AutoModel*``/``Bert*.from_pretrained`` refuse it instead of building a
      ``[CLS]``-pooled model with a random pooler; only ``protxai_ray.models.load_model`` (or
      ``BertMeanPoolClassifier.from_pretrained``) reads it.
    - ``[CLS]``-pooled (``BertForSequenceClassification``): a standard transformers classifier; a
      ``tokenizer_config.json`` (``do_lower_case: false``) is written too, so ``AutoTokenizer`` +
      ``AutoModelForSequenceClassification`` reproduce ``load_model``'s logits.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("*.bin"), out / TOKENIZER_CONFIG_FILE):
        stale.unlink(missing_ok=True)
    model.config._attn_implementation = "eager"  # attribution hooks read per-head context; keep it plain
    model.save_pretrained(out, safe_serialization=True)  # BertMeanPoolClassifier guards its config.json
    for stale in out.glob("*.bin"):
        stale.unlink()
    (out / "vocab.txt").write_text(VOCAB_PATH.read_text())
    if not isinstance(model, BertMeanPoolClassifier):
        write_tokenizer_config(out, model.config.max_position_embeddings)
    label_map = {"label_names": list(label_names), **extra}
    (out / "label_map.json").write_text(json.dumps(label_map, indent=2) + "\n")
    section = loading_section(out, isinstance(model, BertMeanPoolClassifier), label_names)
    (out / "MODEL_CARD.md").write_text(card.rstrip("\n") + "\n\n" + section)
    return out


LOADING_HEADING = "## Loading"


def loading_section(out_dir: str | Path, mean_pooled: bool, label_names: list[str]) -> str:
    """The card's "Loading" section: ``load_model``, and what plain transformers does with the directory."""
    out = Path(out_dir)
    directory = f"protxai_ray/demo_models/{out.name}" if out.parent.name == "demo_models" else str(out)
    labels = ", ".join(f"{i} = {name}" for i, name in enumerate(label_names))
    ours = f"""```python
from protxai_ray.models import load_model

model = load_model("{directory}", device="cpu")  # what protxai attributes
ids, mask = model.encode(["MKTAYIAKQRQISFVKSHFSRQ"])  # [CLS] + one token per residue + [SEP]; U Z O B -> X
logits = model.logits(ids, mask)  # float32[1, {len(label_names)}]: {labels}
```
"""
    if mean_pooled:
        return f"""{LOADING_HEADING}

The classifier averages the last hidden states of all tokens (`BertMeanPoolClassifier`: mean → linear head,
no `[CLS]` pooler). Plain transformers has no such head, so this directory is saved for transformers to
**refuse** it: config.json's `classifier_dropout` holds a notice (the real value is
`mean_pool_classifier_dropout`), and `AutoConfig`, `AutoTokenizer`, `AutoModelForSequenceClassification` and
`BertForSequenceClassification.from_pretrained` raise `StrictDataclassFieldValidationError` quoting it,
instead of silently building a `[CLS]`-pooled model with a random pooler whose logits have nothing to do
with this model's. Load it with protxai:

{ours}
The bare torch module is `model.model`, or `BertMeanPoolClassifier.from_pretrained("{directory}")` from
`protxai_ray.models.bert`. The tokenizer is ProtBert's 30-token `vocab.txt`; with transformers use
`BertTokenizer.from_pretrained("{directory}", do_lower_case=False)` on space-separated residues (U Z O B
replaced by X first): the default lower-cases every residue to `[UNK]`.
"""
    return f"""{LOADING_HEADING}

A standard `BertForSequenceClassification` (`[CLS]` pooler → linear head), so plain transformers
reproduces protxai's logits: `tokenizer_config.json` sets `do_lower_case: false` (the `BertTokenizer`
default lower-cases every residue to `[UNK]`). With protxai:

{ours}
With plain transformers (residues space-separated, U Z O B replaced by X, as for ProtBert):

```python
import re

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{directory}")
model = AutoModelForSequenceClassification.from_pretrained("{directory}").eval()
inputs = tokenizer(" ".join(re.sub(r"[UZOB]", "X", "MKTAYIAKQRQISFVKSHFSRQ")), return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits  # the same ids and logits as load_model (float32 rounding)
```
"""


def spec_dict(spec: ModelSpec) -> dict:
    return asdict(spec)
