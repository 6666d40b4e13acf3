"""Pickle checkpoint (``pytorch_model.bin`` / ``*.pt``) → safetensors classifier directory.

The checkpoint is read with ``torch.load(weights_only=True)``: only tensors and plain containers are
unpickled, never arbitrary objects, so a malicious file fails instead of running code. Its tensors are
copied by name into the classifier of the config's ``model_type`` (``BertForSequenceClassification``,
``EsmForSequenceClassification``, ``T5EncoderClassifier``); masked-LM / pretraining heads are dropped.
Every parameter of the target must come from the checkpoint except the classification head (and BERT's
pooler when the checkpoint has none), which is either taken from a checkpoint head (``head_prefix``,
e.g. AntiBERTy's ``cls.chain``) or initialised from ``seed``. A ``conversion.json`` beside the weights
records the source file's sha256 and which tensors were taken, dropped and initialised.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from protxai_ray.errors import ModelLoadError

# Target parameters that may legitimately be absent from a pretraining checkpoint.
HEAD_PREFIXES = {"bert": ("classifier.", "bert.pooler."), "esm": ("classifier.",), "t5": ("classifier.",)}
_CHUNK = 1 << 20


@dataclass
class ConversionReport:
    source: str
    source_sha256: str
    model_type: str
    taken: int = 0
    dropped: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)
    head_from: str | None = None
    seed: int = 0


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_pickle_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a torch checkpoint, unpickled with ``weights_only=True`` (no code execution)."""
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for refused/corrupt files
        raise ModelLoadError(f"{path}: not a weights-only torch checkpoint: {exc}") from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(f"{path}: checkpoint is not a state dict of tensors")
    return {_modern_name(str(k)): v for k, v in obj.items()}


def _modern_name(key: str) -> str:
    # TF-era BERT checkpoints name LayerNorm parameters gamma/beta.
    if key.endswith(".gamma"):
        return key[: -len(".gamma")] + ".weight"
    if key.endswith(".beta"):
        return key[: -len(".beta")] + ".bias"
    return key


def _target_model(config: dict, num_labels: int, label_names: list[str] | None) -> torch.nn.Module:
    from protxai_ray.models.random_init import label_maps

    id2label, label2id = label_maps(num_labels, label_names)
    ignored = ("architectures", "id2label", "label2id", "num_labels", "_name_or_path", "transformers_version")
    settings = {k: v for k, v in config.items() if k not in ignored}
    settings.update(num_labels=num_labels, id2label=id2label, label2id=label2id, attn_implementation="eager")
    model_type = config.get("model_type")
    if model_type == "bert":
        from transformers import BertConfig, BertForSequenceClassification

        return BertForSequenceClassification(BertConfig(**settings))
    if model_type == "esm":
        from transformers import EsmConfig, EsmForSequenceClassification

        return EsmForSequenceClassification(EsmConfig(**settings))
    if model_type == "t5":
        from transformers import T5Config

        from protxai_ray.models.t5 import ARCHITECTURE, T5EncoderClassifier

        t5_config = T5Config(**settings)
        t5_config.architectures = [ARCHITECTURE]
        return T5EncoderClassifier(t5_config)
    raise ModelLoadError(f"config model_type {model_type!r} is not convertible; supported: bert, esm, t5")


def convert_weights(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    config_path: str | os.PathLike | None = None,
    vocab_path: str | os.PathLike | None = None,
    num_labels: int = 2,
    label_names: list[str] | None = None,
    head_prefix: str | None = None,
    seed: int = 0,
) -> Path:
    """Write ``out_dir`` (config.json, model.safetensors, vocab.txt, conversion.json) from ``source``.

    ``config_path`` defaults to ``config.json`` beside ``source``; ``vocab_path`` to the first
    ``vocab.txt`` beside it or in its parent directory (required for BERT, optional for ESM/T5 which have
    built-in alphabets). ``head_prefix``: checkpoint keys ``<prefix>.weight``/``<prefix>.bias`` become the
    classification head (``[num_labels, hidden]``); without it the head is initialised from ``seed``.
    """
    source = Path(source)
    if not source.is_file():
        raise ModelLoadError(f"{source}: checkpoint file does not exist")
    config_file = Path(config_path) if config_path else source.parent / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{config_file}: no model config (pass --config CONFIG.json)")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if label_names is not None:
        num_labels = len(label_names)
    state = load_pickle_state_dict(source)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _target_model(config, num_labels, label_names)
    model_type = config["model_type"]
    report = ConversionReport(
        str(source.name), file_sha256(source), model_type, seed=seed, head_from=head_prefix
    )
    if head_prefix is not None:
        head = {
            "weight": state.pop(f"{head_prefix}.weight", None),
            "bias": state.pop(f"{head_prefix}.bias", None),
        }
        if head["weight"] is None:
            raise ModelLoadError(f"{source}: no tensor {head_prefix}.weight for the classification head")
        classifier = _classifier_linear(model)
        for name, tensor in head.items():
            if tensor is not None:
                target = getattr(classifier, name)
                if tuple(tensor.shape) != tuple(target.shape):
                    raise ModelLoadError(
                        f"{source}: {head_prefix}.{name} has shape {tuple(tensor.shape)}, the head needs "
                        f"{tuple(target.shape)} (num_labels={num_labels})"
                    )
                with torch.no_grad():
                    target.copy_(tensor)
    target_state = model.state_dict()
    taken = {}
    for key, tensor in state.items():
        if key in target_state and tuple(target_state[key].shape) == tuple(tensor.shape):
            taken[key] = tensor.to(torch.float32) if tensor.is_floating_point() else tensor
        else:
            report.dropped.append(key)
    missing = [k for k in target_state if k not in taken]
    head_keys = HEAD_PREFIXES[model_type]
    if head_prefix is not None:
        head_keys = tuple(p for p in head_keys if p != "classifier.")
        missing = [k for k in missing if not k.startswith("classifier.")]
    tied_or_buffers = _non_checkpoint_keys(model)
    unexplained = [k for k in missing if not k.startswith(head_keys) and k not in tied_or_buffers]
    if unexplained:
        shown = ", ".join(unexplained[:5]) + (" ..." if len(unexplained) > 5 else "")
        raise ModelLoadError(
            f"{source}: checkpoint lacks {len(unexplained)} tensors of the {model_type} classifier "
            f"described by {config_file.name} (e.g. {shown}); wrong --config?"
        )
    model.load_state_dict(taken, strict=False)
    report.taken = len(taken)
    report.initialised = sorted(k for k in missing if k not in tied_or_buffers)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from protxai_ray.models.registry import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(out)
    vocab = Path(vocab_path) if vocab_path else _find_vocab(source)
    if vocab is not None:
        shutil.copyfile(vocab, out / "vocab.txt")
    elif model_type == "bert":
        raise ModelLoadError(f"{source}: no vocab.txt beside the checkpoint or its parent; pass --vocab")
    (out / "conversion.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return out


def _classifier_linear(model: torch.nn.Module) -> torch.nn.Linear:
    classifier = model.classifier
    # ESM's head is dense → tanh → out_proj; the checkpoint head replaces the final projection.
    return classifier.out_proj if hasattr(classifier, "out_proj") else classifier


def _non_checkpoint_keys(model: torch.nn.Module) -> set[str]:
    """State-dict keys that are tied copies or buffers, filled without a checkpoint tensor."""
    keys = {name for name, _ in model.named_buffers()}
    state = model.state_dict(keep_vars=True)
    seen: dict[int, str] = {}
    for name, tensor in state.items():
        pointer = tensor.data_ptr()
        if pointer in seen:
            keys.add(name)
        else:
            seen[pointer] = name
    return keys


def _find_vocab(source: Path) -> Path | None:
    for directory in (source.parent, source.parent.parent):
        candidate = directory / "vocab.txt"
        if candidate.is_file():
            return candidate
    return None
