"""A short real training run: the loss goes down, runs are reproducible, the directory loads."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from protxai_ray.models import load_model
from protxai_ray.training.data import LabeledProtein
from protxai_ray.training.membrane import load_membrane_split
from protxai_ray.training.model import PAD_ID, ModelSpec, save_model_dir
from protxai_ray.training.train import (
    TrainConfig,
    crop_window,
    mean_loss,
    permuted_labels,
    plan_epoch,
    train_classifier,
)
from tests.conftest import SHARED_DATA

TINY = ModelSpec(layers=2, heads=2, hidden=32, intermediate=64, max_residues=256, dropout=0.0)
CONFIG = TrainConfig(epochs=16, seed=3, crop=64, batch_tokens=1024, lr=3e-3)


@pytest.fixture(scope="module")
def subset() -> tuple[list[LabeledProtein], list[str]]:
    """64-residue windows (TM-covering for membrane proteins) of 48 membrane + 48 other real TMbed proteins."""
    split = load_membrane_split(SHARED_DATA, use_uniprot=False)
    pos = [p for p in split.train if p.label == 1][:48]
    neg = [p for p in split.train if p.label == 0][:48]
    rng = np.random.default_rng(0)
    windows = []
    for p in pos + neg:
        start, end = crop_window(p, 64, rng)
        windows.append(replace(p, sequence=p.sequence[start:end], tm_regions=()))
    return windows, split.label_names


@pytest.fixture(scope="module")
def trained(subset):
    proteins, names = subset
    return train_classifier(proteins, names, TINY, CONFIG, log=lambda _: None)


def test_training_reduces_the_loss(subset, trained):
    proteins, names = subset
    untrained = train_classifier(proteins, names, TINY, TrainConfig(epochs=0, seed=3), log=lambda _: None)
    before = mean_loss(untrained.model, proteins, TINY.max_residues)
    after = mean_loss(trained.model, proteins, TINY.max_residues)
    assert after < before - 0.05, (before, after)
    assert trained.epoch_losses[-1] < trained.epoch_losses[0]


def test_same_seed_same_weights(subset, trained):
    proteins, names = subset
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 2})
    a = train_classifier(proteins, names, TINY, config, log=lambda _: None).model.state_dict()
    b = train_classifier(proteins, names, TINY, config, log=lambda _: None).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_saved_directory_loads_with_the_bert_adapter(tmp_path, subset, trained):
    proteins, names = subset
    out = save_model_dir(trained.model, tmp_path / "m", names, "# card\n", {"note": "test"})
    assert sorted(p.name for p in out.iterdir()) == [
        "MODEL_CARD.md",
        "config.json",
        "label_map.json",
        "model.safetensors",
        "vocab.txt",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == 30 and config["pad_token_id"] == 0
    assert json.loads((out / "label_map.json").read_text())["label_names"] == names
    adapter = load_model(str(out))
    assert adapter.label_names == names and adapter.max_residues == TINY.max_residues
    ids, mask = adapter.encode([p.sequence[:200] for p in proteins[:3]])
    with torch.no_grad():
        expected = trained.model(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(adapter.logits(ids, mask), expected, atol=1e-5)


def test_crop_window_covers_a_tm_region():
    protein = LabeledProtein("P", "A" * 1000, 1, "x", tm_regions=((700, 721),))
    rng = np.random.default_rng(0)
    for _ in range(50):
        start, end = crop_window(protein, 128, rng)
        assert end - start == 128 and start <= 700 and end >= 721


def test_shuffled_labels_keep_class_counts():
    labels = [0] * 90 + [1] * 10
    shuffled = permuted_labels(labels, seed=0)
    assert sorted(shuffled) == labels and shuffled != labels
    assert shuffled == permuted_labels(labels, seed=0)


def test_baseline_rows_join_the_epoch_as_labelled_padding(subset):
    proteins, _ = subset
    labels = [p.label for p in proteins]
    plain = plan_epoch(proteins, labels, CONFIG, epoch=0)
    config = replace(CONFIG, baseline_fraction=0.25, baseline_label=0)
    mixed = plan_epoch(proteins, labels, config, epoch=0)
    rows = [(tuple(r), y) for batch, ys in mixed for r, y in zip(batch, ys, strict=True)]
    baseline = [(r, y) for r, y in rows if set(r) == {PAD_ID}]
    assert len(baseline) == round(0.25 * len(proteins)) and all(y == 0 for _, y in baseline)
    window_lengths = {len(r) for batch, _ in plain for r in batch}
    assert {len(r) for r, _ in baseline} <= window_lengths  # lengths drawn from the epoch's windows
    # the protein rows are the same windows with the same labels as without baseline rows
    protein_rows = sorted((r, y) for r, y in rows if set(r) != {PAD_ID})
    assert protein_rows == sorted(
        (tuple(r), y) for batch, ys in plain for r, y in zip(batch, ys, strict=True)
    )
