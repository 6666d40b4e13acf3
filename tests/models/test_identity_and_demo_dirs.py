"""What plain transformers makes of the shipped demo directories, and the model identity in the run fingerprint."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub.errors import StrictDataclassFieldValidationError
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertForSequenceClassification,
)

from protxai_ray.models import load_model
from protxai_ray.models.bert import MEAN_POOL_GUARD, BertMeanPoolClassifier
from protxai_ray.models.random_init import write_random_model
from protxai_ray.models.registry import quiet_transformers
from protxai_ray.pipeline.config import RunConfig
from protxai_ray.pipeline.provenance import manifest_header
from protxai_ray.training.model import ModelSpec, build_classifier, save_model_dir

DEMO_MODELS = Path(__file__).resolve().parents[2] / "protxai_ray" / "demo_models"
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUZOB"]  # fmt: skip
# sha256 of the shipped weights: regenerating the directories must not touch them (runs and docs cite them)
SHIPPED_WEIGHTS = {
    "ec": "f34f177d8cb69a33372041c3ce9867129818733eaf64c8141a062230af3f0c1c",
    "membrane": "49afc1275324e548a39a8638ed4300d6586aa2d22bdd1b7b7c5be6a398e501c6",
    "membrane_shuffled": "4227c06643ccbd80ef5b32402de2c2ab5c271a6e5b3f87a5258e7b32ac140e21",
}


def _protbert_text(sequence: str) -> str:
    """What ProtBert-style tokenizers expect: rare residues as X, residues separated by spaces."""
    return " ".join(re.sub(r"[UZOB]", "X", sequence.upper()))


@pytest.mark.parametrize("name", sorted(SHIPPED_WEIGHTS))
def test_shipped_weights_unchanged(name):
    assert load_model(DEMO_MODELS / name, device="cpu").weights_sha256 == SHIPPED_WEIGHTS[name]


@pytest.mark.parametrize("name", ["membrane", "membrane_shuffled"])
def test_mean_pooled_demo_refused_by_plain_transformers(name):
    directory = DEMO_MODELS / name
    for load in (
        AutoModelForSequenceClassification.from_pretrained,
        BertForSequenceClassification.from_pretrained,
        AutoTokenizer.from_pretrained,
        AutoConfig.from_pretrained,
    ):
        with quiet_transformers(), pytest.raises(StrictDataclassFieldValidationError) as info:
            load(directory)
        assert "classifier_dropout" in str(info.value) and "protxai_ray.models.load_model" in str(info.value)
    # our class reads it (the snippet in MODEL_CARD.md), with the same logits as load_model
    adapter = load_model(directory, device="cpu")
    with quiet_transformers():
        model = BertMeanPoolClassifier.from_pretrained(directory).eval()
    assert model.config.classifier_dropout is None and model.dropout.p == model.config.hidden_dropout_prob
    ids, mask = adapter.encode(SEQUENCES)
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids, attention_mask=mask).logits, adapter.logits(ids, mask)
        )
    card = (directory / "MODEL_CARD.md").read_text()
    assert "load_model" in card and "refuse" in card


def test_cls_pooled_ec_demo_reproduced_by_plain_transformers():
    directory = DEMO_MODELS / "ec"
    adapter = load_model(directory, device="cpu")
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    encoded = tokenizer([_protbert_text(s) for s in SEQUENCES], return_tensors="pt")
    ids, mask = adapter.encode(SEQUENCES)
    assert encoded["input_ids"].tolist() == ids.tolist()  # no lower-casing, no [UNK]
    with torch.no_grad():
        torch.testing.assert_close(model(**encoded).logits, adapter.logits(ids, mask), atol=1e-5, rtol=1e-5)
    assert "AutoModelForSequenceClassification" in (directory / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_save_model_dir_writes_what_the_cards_promise(tmp_path, pooling):
    spec = ModelSpec(layers=1, heads=2, hidden=16, intermediate=32, max_residues=64, pooling=pooling)
    model = build_classifier(spec, ["other", "membrane"], seed=0).eval()
    out = save_model_dir(model, tmp_path / pooling, ["other", "membrane"], "# card\n", {})
    config = json.loads((out / "config.json").read_text())
    adapter = load_model(out, device="cpu")
    ids, mask = adapter.encode(["MKTAYIAKQR"])
    with torch.no_grad():
        torch.testing.assert_close(
            adapter.logits(ids, mask), model(input_ids=ids, attention_mask=mask).logits
        )
    assert model.config.classifier_dropout is None  # the in-memory model is not changed by saving
    if pooling == "mean":
        assert (
            config["classifier_dropout"] == MEAN_POOL_GUARD and config["mean_pool_classifier_dropout"] is None
        )
        assert not (out / "tokenizer_config.json").exists()
        with quiet_transformers(), pytest.raises(StrictDataclassFieldValidationError):
            AutoModelForSequenceClassification.from_pretrained(out)
    else:
        assert config["classifier_dropout"] is None
        assert json.loads((out / "tokenizer_config.json").read_text())["do_lower_case"] is False
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(out)
        assert tokenizer(_protbert_text("MKTAYIAKQR"))["input_ids"] == ids[0].tolist()


# ---- the model identity in the run fingerprint -------------------------------------------------------


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return write_random_model(
        tmp_path_factory.mktemp("bert"),
        "bert",
        1,
        2,
        16,
        intermediate=32,
        max_positions=40,
        label_names=["a", "b"],
    )


def _fingerprint(directory: Path) -> str:
    model = load_model(directory, device="cpu")
    plan = SimpleNamespace(total_proteins=3, shard_ids=["s0"], digest="plan-digest")
    config = RunConfig(store="unused", release="2024_01", model=str(directory), run_id="r")
    header = manifest_header(config, model, plan, "2024-01-01T00:00:00Z")
    assert header.model.sha256 == model.weights_sha256  # the manifest still records the weights' sha256
    return header.fingerprint


def _edit_config(directory: Path, **changes) -> None:
    config = json.loads((directory / "config.json").read_text())
    config.update(changes)
    (directory / "config.json").write_text(json.dumps(config, indent=4))


def test_fingerprint_covers_config_labels_and_vocabulary(bert_dir, tmp_path):
    reference = _fingerprint(bert_dir)
    assert _fingerprint(bert_dir) == reference

    changed = shutil.copytree(bert_dir, tmp_path / "config")
    _edit_config(changed, layer_norm_eps=1e-5)  # same weights, different model
    assert (
        load_model(changed, device="cpu").weights_sha256 == load_model(bert_dir, device="cpu").weights_sha256
    )
    assert _fingerprint(changed) != reference

    relabelled = shutil.copytree(bert_dir, tmp_path / "labels")
    _edit_config(relabelled, id2label={"0": "b", "1": "a"}, label2id={"a": 1, "b": 0})
    assert _fingerprint(relabelled) != reference

    sidecar = shutil.copytree(bert_dir, tmp_path / "sidecar")
    (sidecar / "label_map.json").write_text(json.dumps({"label_names": ["x", "y"]}))
    assert _fingerprint(sidecar) != reference

    revocab = shutil.copytree(bert_dir, tmp_path / "vocab")
    tokens = (revocab / "vocab.txt").read_text().splitlines()
    tokens[5], tokens[6] = tokens[6], tokens[5]  # L <-> A: a valid vocabulary, a different model
    (revocab / "vocab.txt").write_text("\n".join(tokens) + "\n")
    assert _fingerprint(revocab) != reference

    # what only records the writer (layout, transformers_version) is not the model's identity
    rewritten = shutil.copytree(bert_dir, tmp_path / "rewritten")
    _edit_config(rewritten, transformers_version="9.9.9")
    assert _fingerprint(rewritten) == reference
