"""``load_model``: model directory -> ``ModelAdapter``, with the adapter chosen by ``config.model_type``.

Refusals (all ``ModelLoadError``, one line naming the directory): missing directory or ``config.json``;
weights present only as pickle files (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) — they are never
opened, ``protxai convert-weights`` turns them into safetensors; no weights at all; a ``*.safetensors``
file whose header cannot be read (corrupt or truncated); a ``model_type`` without an adapter; a
config.json that does not describe the weights (strict loading: any tensor the model needs that the files
lack, any tensor in the files the model has no place for, any shape mismatch — e.g. config says 6 layers,
the weights have 4 — is refused, naming the first few tensors and their count, instead of transformers'
silent re-initialisation or dropping; a change that leaves every tensor shape alone, such as BERT's head
count at a fixed hidden size, cannot be seen in the weights); a tokenizer vocabulary that does not fit
the residue alphabet (``base.directory_vocab``/``bind_vocab``).

Weights are loaded with ``use_safetensors=True`` in float32, eval mode, with eager attention whatever
the config says: the hooked self-attention modules return the same context tensor under ``sdpa``
(checked: logits and layer contexts agree to ~2e-6 on random BERT/ESM), but eager is the exact softmax·V
that captum parity and forward-mode JVP are validated on. The config object is built here from the
parsed config.json (so a mean-pooled BERT's guarded config, see ``bert.py``, loads).

Identity: ``adapter.weights_sha256`` is the sha256 of the safetensors bytes (recorded in manifests);
``adapter.identity_sha256`` (``model_identity_sha256``) also covers config.json, the label names and the
tokenizer vocabulary, so a run fingerprint built on it changes when any of them changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from protxai_ray.errors import ModelLoadError
from protxai_ray.models.adapter import ModelAdapter
from protxai_ray.models.base import read_json_sidecar

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
LABEL_MAP_FILE = "label_map.json"
SHOWN_TENSORS = 3  # tensor names quoted in a strict-loading refusal (the count covers the rest)
# config.json keys that record how the file was written, not what the model is
NON_IDENTITY_KEYS = ("transformers_version", "_name_or_path")
_CHUNK = 1 << 20


def _load_bert(path: str, config: dict, sha: str) -> ModelAdapter:
    from protxai_ray.models.bert import BertAdapter, bert_class_for, bert_config_from_dict

    model_config = _config_object(path, bert_config_from_dict, config)
    return BertAdapter(_from_pretrained(bert_class_for(config), path, model_config), path, sha)


def _load_esm(path: str, config: dict, sha: str) -> ModelAdapter:
    from transformers import EsmConfig, EsmForSequenceClassification

    from protxai_ray.models.esm import EsmAdapter

    model_config = _config_object(path, EsmConfig.from_dict, config)
    return EsmAdapter(_from_pretrained(EsmForSequenceClassification, path, model_config), path, sha)


def _load_t5(path: str, config: dict, sha: str) -> ModelAdapter:
    from transformers import T5Config

    from protxai_ray.models.t5 import T5Adapter, T5EncoderClassifier, check_t5_architecture

    check_t5_architecture(path, config)
    model_config = _config_object(path, T5Config.from_dict, config)
    return T5Adapter(_from_pretrained(T5EncoderClassifier, path, model_config), path, sha)


LOADERS: dict[str, Callable[[str, dict, str], ModelAdapter]] = {
    "bert": _load_bert,
    "esm": _load_esm,
    "t5": _load_t5,
}


def supported_model_types() -> list[str]:
    return sorted(LOADERS)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _config_object(path: str, build: Callable[[dict], object], config: dict):
    """The transformers config object of a parsed config.json; ``ModelLoadError`` when it is invalid."""
    try:
        with quiet_transformers():
            return build(config)
    except Exception as exc:  # strict dataclass validation raises its own (non-ValueError) errors
        raise ModelLoadError(f"{path}: config.json is not a valid model config: {_one_line(exc)}") from exc


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _listed(names: Iterable[str], what: str) -> str:
    """``"<count> tensors <what> (first, second, third, ...)"``, names in natural (layer) order."""
    names = sorted(names, key=_natural_key)
    shown = ", ".join(names[:SHOWN_TENSORS]) + (", ..." if len(names) > SHOWN_TENSORS else "")
    return f"{len(names)} tensor{'s' if len(names) != 1 else ''} {what} ({shown})"


def check_loading_info(path: str, info: dict) -> None:
    """Refuse a model whose weights did not fill it exactly (transformers' ``output_loading_info``)."""
    problems = []
    if missing := list(info.get("missing_keys") or []):
        problems.append(_listed(missing, "missing from the weights"))
    if unexpected := list(info.get("unexpected_keys") or []):
        problems.append(_listed(unexpected, "in the weights that the model has no place for"))
    if mismatched := list(info.get("mismatched_keys") or []):
        shapes = []
        for entry in mismatched:
            if isinstance(entry, (tuple, list)) and len(entry) == 3:
                name, found, wanted = entry
                shapes.append(f"{name} {tuple(found)} vs {tuple(wanted)}")
            else:
                shapes.append(str(entry))
        problems.append(_listed(shapes, "of another shape, weights vs config"))
    if problems:
        raise ModelLoadError(f"{path}: config.json does not match the weights: " + "; ".join(problems))


def _from_pretrained(model_class, path: str, config) -> torch.nn.Module:
    """``model_class`` with ``path``'s weights, strictly: every tensor present, none extra, shapes equal."""
    with quiet_transformers():
        try:
            model, info = model_class.from_pretrained(
                path,
                config=config,
                use_safetensors=True,
                dtype=torch.float32,
                attn_implementation="eager",
                local_files_only=True,
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported in info (and refused below), not a traceback
            )
        except Exception as exc:  # safetensors, torch and transformers raise many types; report one line
            raise ModelLoadError(
                f"{path}: cannot load {model_class.__name__} from safetensors: {_one_line(exc)}"
            ) from exc
    check_loading_info(path, info)
    return model.eval()


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No per-tensor progress bars and no load report from transformers while loading/saving (what the
    report says is checked and refused by ``check_loading_info``); restored afterwards."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
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
    """Refuse a directory whose weights are not safetensors (pickle files are never opened), or whose
    safetensors files have an unreadable header (corrupt, truncated, not safetensors)."""
    files = safetensors_files(path)
    if files:
        from safetensors import safe_open

        for file in files:
            try:
                with safe_open(str(file), framework="pt") as handle:
                    handle.keys()
            except Exception as exc:  # SafetensorError, OSError, ...
                raise ModelLoadError(
                    f"{path}: {file.name} is not a readable safetensors file: {_one_line(exc)}"
                ) from exc
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


def _label_map_names(path: str) -> list | None:
    """``label_names`` of a ``label_map.json`` beside the model (the demo models' sidecar), if any."""
    data = read_json_sidecar(path, LABEL_MAP_FILE)
    names = data.get("label_names") if isinstance(data, dict) else None
    return list(names) if isinstance(names, list) else None


def model_identity_sha256(
    weights_sha256: str,
    config: dict,
    label_names: list[str],
    vocab: dict[str, int],
    label_map_names: list | None = None,
) -> str:
    """sha256 of what makes a model directory the model it is: the weights' sha256, config.json (parsed,
    without the keys that only record the writer: ``NON_IDENTITY_KEYS``), the class names, the
    ``label_map.json`` label names when there is one, and the tokenizer vocabulary (token -> id)."""
    payload = {
        "weights_sha256": weights_sha256,
        "config": {k: v for k, v in config.items() if k not in NON_IDENTITY_KEYS},
        "label_names": list(label_names),
        "label_map_names": label_map_names,
        "vocab": sorted(vocab.items(), key=lambda item: (item[1], item[0])),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def load_model(path: str | os.PathLike, device: str | None = None) -> ModelAdapter:
    """Load a safetensors classifier directory as the adapter of its ``config.model_type``.

    ``device``: ``None`` → ``"cuda"`` when available, else ``"cpu"``. Raises ``ModelLoadError`` (one line).
    """
    path = os.fspath(path)
    config = read_model_config(path)
    model_type = config.get("model_type")
    if model_type not in LOADERS:
        raise ModelLoadError(
            f"{path}: unsupported model_type {model_type!r}; supported: {', '.join(supported_model_types())}"
        )
    check_weights(path)
    sha = weights_sha256(path)
    adapter = LOADERS[model_type](path, config, sha)
    adapter.identity_sha256 = model_identity_sha256(
        sha, config, adapter.label_names, getattr(adapter, "vocab", {}), _label_map_names(path)
    )
    adapter.model.to(device or default_device())
    return adapter
