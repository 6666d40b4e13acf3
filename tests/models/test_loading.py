"""load_model refusals, weights_sha256, and pickle checkpoints converted without unpickling objects."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from protxai_ray.cli import main as protxai
from protxai_ray.errors import ModelLoadError
from protxai_ray.models import load_model, weights_sha256
from protxai_ray.models.convert import convert_weights
from protxai_ray.models.random_init import write_random_model


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return write_random_model(
        tmp_path_factory.mktemp("bert"), "bert", 2, 2, 16, intermediate=32, max_positions=40
    )


def _copy_without_weights(src, dst):
    shutil.copytree(src, dst)
    (dst / "model.safetensors").unlink()
    return dst


def test_refuses_pickle_only_directory_without_opening_it(bert_dir, tmp_path):
    target = _copy_without_weights(bert_dir, tmp_path / "pickled")
    # A pickle that would run code if unpickled: loading must refuse before touching it.
    marker = tmp_path / "unpickled"
    (target / "pytorch_model.bin").write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin.*refuses pickle weights.*convert-weights"):
        load_model(str(target))
    assert not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: shutil.rmtree(d), "does not exist"),
        (lambda d: (d / "config.json").unlink(), "no config.json"),
        (lambda d: (d / "model.safetensors").unlink(), r"no \*\.safetensors"),
        (lambda d: (d / "config.json").write_text("{not json"), "not readable JSON"),
        (lambda d: _set_type(d, "gpt2"), "unsupported model_type 'gpt2'; supported: bert, esm, t5"),
        (lambda d: (d / "vocab.txt").unlink(), r"no tokenizer vocabulary \(tokenizer\.json, vocab\.txt\)"),
    ],
)
def test_bad_directories(bert_dir, tmp_path, mutate, message):
    target = tmp_path / "model"
    shutil.copytree(bert_dir, target)
    mutate(target)
    with pytest.raises(ModelLoadError, match=message):
        load_model(str(target), device="cpu")


def _set_type(directory, model_type):
    config = json.loads((directory / "config.json").read_text())
    config["model_type"] = model_type
    (directory / "config.json").write_text(json.dumps(config))


def test_t5_decoder_classifier_refused(tmp_path):
    target = write_random_model(tmp_path / "t5", "t5", 1, 2, 8)
    config = json.loads((target / "config.json").read_text())
    config["architectures"] = ["T5ForSequenceClassification"]
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="only encoder-only T5EncoderClassifier"):
        load_model(str(target))


def test_weights_sha256_stable_and_seed_sensitive(bert_dir, tmp_path):
    again = write_random_model(tmp_path / "again", "bert", 2, 2, 16, intermediate=32, max_positions=40)
    other = write_random_model(
        tmp_path / "other", "bert", 2, 2, 16, intermediate=32, max_positions=40, seed=1
    )
    assert weights_sha256(str(again)) == weights_sha256(str(bert_dir))
    assert weights_sha256(str(other)) != weights_sha256(str(bert_dir))
    adapter = load_model(str(bert_dir), device="cpu")
    assert adapter.weights_sha256 == weights_sha256(str(bert_dir)) and len(adapter.weights_sha256) == 64
    assert adapter.path == str(bert_dir) and adapter.device.type == "cpu"
    assert not adapter.model.training


def test_convert_weights_command_round_trip(bert_dir, tmp_path):
    """A torch.save'd state dict → convert-weights → the same logits; the head comes along."""
    reference = load_model(str(bert_dir), device="cpu")
    src = tmp_path / "ckpt"
    src.mkdir()
    torch.save(reference.model.state_dict(), src / "pytorch_model.bin")
    shutil.copy(bert_dir / "config.json", src / "config.json")
    shutil.copy(bert_dir / "vocab.txt", src / "vocab.txt")
    out = tmp_path / "converted"
    assert (
        protxai(["convert-weights", str(src / "pytorch_model.bin"), str(out), "--head-from", "classifier"])
        == 0
    )
    converted = load_model(str(out), device="cpu")
    ids, mask = reference.encode(["MKTAYIAKQR"])
    with torch.no_grad():
        torch.testing.assert_close(converted.logits(ids, mask), reference.logits(ids, mask))
    report = json.loads((out / "conversion.json").read_text())
    assert report["initialised"] == [] and report["head_from"] == "classifier"


def test_convert_weights_refuses_code_and_wrong_config(bert_dir, tmp_path):
    evil = tmp_path / "evil.bin"
    marker = tmp_path / "ran"
    torch.save({"w": _Exploit(str(marker))}, evil)
    with pytest.raises(ModelLoadError, match="not a weights-only torch checkpoint"):
        convert_weights(evil, tmp_path / "out", config_path=bert_dir / "config.json")
    assert not marker.exists()
    tiny = tmp_path / "tiny.pt"
    torch.save({"bert.embeddings.word_embeddings.weight": torch.zeros(30, 16)}, tiny)
    with pytest.raises(ModelLoadError, match="checkpoint lacks .* tensors of the bert classifier"):
        convert_weights(tiny, tmp_path / "out2", config_path=bert_dir / "config.json")
