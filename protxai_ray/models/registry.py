"""``load_model``: model directory -> ``ModelAdapter``, with the adapter chosen by ``config.model_type``.

Refusals (all ``ModelLoadError``, one line naming the directory): missing directory or ``config.json``;
weights present only as pickle files (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) — they are never
opened, ``protxai convert-weights`` turns them into safetensors; no weights at all; a ``model_type``
without an adapter. Weights are loaded with ``use_safetensors=True`` in float32, eval mode, with eager
attention whatever the config says: the hooked self-attention modules return the same context tensor
under ``sdpa`` (checked: logits and layer contexts agree to ~2e-6 on random BERT/ESM), but eager is the
exact softmax·V that captum parity and forward-mode JVP are validated on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from protxai_ray.errors import ModelLoadError
from protxai_ray.models.adapter import ModelAdapter

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_CHUNK = 1 << 20


def _load_bert(path: str, sha: str) -> ModelAdapter:
    from protxai_ray.models.bert import BertAdapter, bert_class_for

    return BertAdapter(_from_pretrained(bert_class_for(read_model_config(path)), path), path, sha)


def _load_esm(path: str, sha: str) -> ModelAdapter:
    from transformers import EsmForSequenceClassification

    from protxai_ray.models.esm import EsmAdapter

    return EsmAdapter(_from_pretrained(EsmForSequenceClassification, path), path, sha)


def _load_t5(path: str, sha: str) -> ModelAdapter:
    from protxai_ray.models.t5 import T5Adapter, T5EncoderClassifier, check_t5_architecture

    check_t5_architecture(path, read_model_config(path))
    return T5Adapter(_from_pretrained(T5EncoderClassifier, path), path, sha)


LOADERS: dict[str, Callable[[str, str], ModelAdapter]] = {
    "bert": _load_bert,
    "esm": _load_esm,
    "t5": _load_t5,
}


def supported_model_types() -> list[str]:
    return sorted(LOADERS)


def _from_pretrained(model_class, path: str) -> torch.nn.Module:
    with quiet_transformers():
        try:
            model = model_class.from_pretrained(
                path,
                use_safetensors=True,
                dtype=torch.float32,
                attn_implementation="eager",
                local_files_only=True,
            )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelLoadError(
                f"{path}: cannot load {model_class.__name__} from safetensors: {exc}"
            ) from exc
    return model.eval()


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No per-tensor progress bars from transformers while loading/saving (restored afterwards)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def safetensors_files(path: str) -> list[Path]:
    return sorted(Path(path).glob("*.safetensors"), key=lambda p: p.name)


def weights_sha256(path: str) -> str:
    """sha256 over the bytes of the directory's ``*.safetensors`` files, in sorted name order, streamed."""
    digest = hashlib.sha256()
    for file in safetensors_files(path):
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def read_model_config(path: str) -> dict:
    """The checked ``config.json`` of a model directory (raises ``ModelLoadError``)."""
    if not os.path.isdir(path):
        raise ModelLoadError(f"{path}: model directory does not exist")
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise ModelLoadError(f"{path}: no config.json (not a transformers model directory)")
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: config.json is not readable JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: config.json is not a JSON object")
    return config


def check_weights(path: str) -> None:
    """Refuse a directory whose weights are not safetensors (pickle files are never opened)."""
    if safetensors_files(path):
        return
    pickles = sorted(p.name for p in Path(path).iterdir() if p.name.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise ModelLoadError(
            f"{path}: only pickle weights ({', '.join(pickles)}); protxai refuses pickle weights; "
            "run `protxai convert-weights` to write model.safetensors"
        )
    raise ModelLoadError(f"{path}: no *.safetensors weight file")


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(path: str | os.PathLike, device: str | None = None) -> ModelAdapter:
    """Load a safetensors classifier directory as the adapter of its ``config.model_type``.

    ``device``: ``None`` → ``"cuda"`` when available, else ``"cpu"``.
    """
    path = os.fspath(path)
    config = read_model_config(path)
    model_type = config.get("model_type")
    if model_type not in LOADERS:
        raise ModelLoadError(
            f"{path}: unsupported model_type {model_type!r}; supported: {', '.join(supported_model_types())}"
        )
    check_weights(path)
    adapter = LOADERS[model_type](path, weights_sha256(path))
    adapter.model.to(device or default_device())
    return adapter
