"""AntiBERTy (PyPI ``antiberty==0.1.3``, MIT) as a real pretrained protein BERT classifier for tests.

The 0.1.3 wheel ships ``antiberty/trained_models/AntiBERTy_md_smooth/pytorch_model.bin`` (8 layers × 8
heads, hidden 512, 512 positions), its ``config.json`` and the 25-token ``trained_models/vocab.txt``
(``[PAD] [UNK] [CLS] [SEP] [MASK]`` + the 20 amino acids; no X, so X becomes ``[UNK]`` as in AntiBERTy's
own tokenizer). Later versions download weights from a hub, hence the exact pin.

The checkpoint is BERT + pooler + AntiBERTy's heads; ``cls.chain`` is a pooled-output ``Linear(512, 2)``
trained to tell heavy (0) from light (1) antibody chains (``CHAIN_TO_LABEL`` in the package), which is
exactly ``BertForSequenceClassification``'s head. So the converted directory is a genuinely pretrained
classifier with labels ``["heavy", "light"]``, attention that is far from uniform, and weights read
with ``torch.load(weights_only=True)`` only. We locate the files without importing the package (its
``__init__`` builds a runner).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from protxai_ray.models.convert import convert_weights

ANTIBERTY_PIN = "antiberty==0.1.3"
CHAIN_LABELS = ["heavy", "light"]


def antiberty_files() -> tuple[Path, Path, Path] | None:
    """(pytorch_model.bin, config.json, vocab.txt) of the installed package, or None if not installed."""
    spec = importlib.util.find_spec("antiberty")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "trained_models"
    checkpoint = root / "AntiBERTy_md_smooth" / "pytorch_model.bin"
    config = root / "AntiBERTy_md_smooth" / "config.json"
    vocab = root / "vocab.txt"
    if not (checkpoint.is_file() and config.is_file() and vocab.is_file()):
        return None
    return checkpoint, config, vocab


def write_antiberty_classifier(out_dir: str | Path, head: str = "chain", seed: int = 0) -> Path:
    """Convert the installed AntiBERTy checkpoint into a safetensors ``BertForSequenceClassification``.

    ``head="chain"``: the pretrained heavy/light chain head (labels ``heavy``, ``light``);
    ``head="random"``: a seeded random 2-class head (labels ``class_0``, ``class_1``).
    Raises ``FileNotFoundError`` naming the pin when the package is not installed.
    """
    files = antiberty_files()
    if files is None:
        raise FileNotFoundError(f"AntiBERTy weights not installed: pip install {ANTIBERTY_PIN} --no-deps")
    checkpoint, config, vocab = files
    if head not in ("chain", "random"):
        raise ValueError("head must be 'chain' or 'random'")
    return convert_weights(
        checkpoint,
        out_dir,
        config_path=config,
        vocab_path=vocab,
        label_names=CHAIN_LABELS if head == "chain" else None,
        head_prefix="cls.chain" if head == "chain" else None,
        seed=seed,
    )
