"""Random-weight model directories of every supported architecture, for tests and benchmarks.

``write_random_model`` writes exactly what ``load_model`` reads from a real finetuned model: a
``config.json`` with ``id2label``/``label2id`` and ``attn_implementation="eager"``, the weights as
``model.safetensors`` only, and the tokenizer vocabulary. Weights are seeded, so the same arguments give
byte-identical weights (and the same ``weights_sha256``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from protxai_ray.models.bert import PROTBERT_VOCAB, VOCAB_FILE
from protxai_ray.models.registry import quiet_transformers

SUPPORTED_RANDOM_TYPES = ("bert", "esm", "t5")


@dataclass(frozen=True)
class RandomShape:
    """The architecture of a random-weight classifier (what every ``build_random_*`` takes)."""

    num_layers: int
    num_heads: int
    hidden: int  # a multiple of num_heads (head size = hidden / num_heads)
    num_labels: int
    intermediate: int
    max_positions: int
    label_names: list[str] | None = None
    initializer_range: float = 0.02


def default_label_names(num_labels: int) -> list[str]:
    return [f"class_{i}" for i in range(num_labels)]


def label_maps(num_labels: int, label_names: list[str] | None) -> tuple[dict[int, str], dict[str, int]]:
    names = list(label_names) if label_names is not None else default_label_names(num_labels)
    if len(names) != num_labels:
        raise ValueError(f"label_names has {len(names)} names for num_labels={num_labels}")
    if len(set(names)) != len(names):
        raise ValueError("label_names must be unique")
    return dict(enumerate(names)), {name: i for i, name in enumerate(names)}


def _bert(
    shape: RandomShape,
) -> tuple[torch.nn.Module, list[tuple[str, str]]]:
    id2label, label2id = label_maps(shape.num_labels, shape.label_names)
    config = BertConfig(
        vocab_size=30,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.intermediate,
        max_position_embeddings=shape.max_positions,
        pad_token_id=0,
        num_labels=shape.num_labels,
        id2label=id2label,
        label2id=label2id,
        initializer_range=shape.initializer_range,
        attn_implementation="eager",
    )
    model = BertForSequenceClassification(config)
    return model, [(Path(PROTBERT_VOCAB).read_text(encoding="utf-8"), VOCAB_FILE)]


def write_random_model(
    directory: str | Path,
    model_type: str = "bert",
    num_layers: int = 2,
    num_heads: int = 4,
    hidden: int = 64,
    num_labels: int = 2,
    intermediate: int | None = None,
    max_positions: int = 1026,
    seed: int = 0,
    label_names: list[str] | None = None,
    initializer_range: float = 0.02,
) -> Path:
    """Write a seeded random-weight ``model_type`` classifier directory and return its path.

    ``hidden`` must be a multiple of ``num_heads`` (head size = hidden / num_heads); ``intermediate``
    defaults to 4 × hidden. ``initializer_range`` is the std of the weight init (0.02 as in BERT; raise it
    for less uniform attention in tests). For t5 it becomes T5's ``initializer_factor = range / 0.02``;
    T5's own init is already ~1/sqrt(d) scaled and its attention is unscaled, so factors above ~2 give
    near-discontinuous attention that IG cannot integrate (0.1 → factor 5: delta > 100 % even at 256
    steps); keep t5 at the default. ``attn_implementation`` is not persisted by transformers 5 in
    config.json; ``load_model`` forces eager attention. The global torch RNG state is left untouched.
    """
    if model_type not in SUPPORTED_RANDOM_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(SUPPORTED_RANDOM_TYPES)}, got {model_type!r}")
    if hidden % num_heads != 0:
        raise ValueError(f"hidden={hidden} is not a multiple of num_heads={num_heads}")
    intermediate = intermediate if intermediate is not None else 4 * hidden
    builders = {"bert": _bert}
    if model_type == "esm":
        from protxai_ray.models.esm import build_random_esm as builder
    elif model_type == "t5":
        from protxai_ray.models.t5 import build_random_t5 as builder
    else:
        builder = builders[model_type]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        shape = RandomShape(
            num_layers,
            num_heads,
            hidden,
            num_labels,
            intermediate,
            max_positions,
            label_names,
            initializer_range,
        )
        model, extra_files = builder(shape)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        model.save_pretrained(out)  # transformers 5 writes safetensors only
    for text, name in extra_files:
        (out / name).write_text(text, encoding="utf-8")
    return out
