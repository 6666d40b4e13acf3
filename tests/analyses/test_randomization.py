"""Sanity checks (Adebayo et al. 2018): the cascade order, what a re-initialisation touches, the map
similarity, and the cascade end to end on a tiny random model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from protxai_ray.analyses.randomization import (
    cascade_steps,
    cascading_randomization,
    head_map_similarity,
    layer_means,
    reinitialize,
)
from protxai_ray.attribution import attribute_batch
from protxai_ray.models import load_model
from protxai_ray.models.random_init import write_random_model

SEQUENCES = ["MKTAYIAKQRQISFVKSH", "LLIVAGLLFVAAWLLG"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_random_model(
        tmp_path_factory.mktemp("rand") / "model", num_layers=2, num_heads=2, hidden=16, intermediate=32
    )


def _state(adapter) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in adapter.model.state_dict().items()}


def test_cascade_goes_from_the_classifier_down_to_the_embeddings(model_dir):
    adapter = load_model(model_dir, device="cpu")
    steps = cascade_steps(adapter)
    assert [name for name, _ in steps] == ["classifier", "layer 1", "layer 0", "embeddings"]
    assert adapter.model.bert.pooler in steps[0][1]  # a [CLS] classifier's pooler goes with the classifier
    assert [name for name, _ in cascade_steps(adapter, embeddings=False)][-1] == "layer 0"


def test_reinitialize_touches_only_its_module_and_spares_frozen_parameters(model_dir):
    adapter = load_model(model_dir, device="cpu")
    before = _state(adapter)
    layer = adapter.model.bert.encoder.layer[1]
    layer.output.LayerNorm.weight.data.mul_(3.0)
    reinitialize(layer, 0.02, torch.Generator().manual_seed(0))
    after = _state(adapter)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("bert.encoder.layer.1.") for k in changed)
    assert "bert.encoder.layer.1.attention.self.query.weight" in changed
    assert torch.equal(layer.output.LayerNorm.weight, torch.ones_like(layer.output.LayerNorm.weight))
    assert abs(float(layer.attention.self.query.weight.detach().std()) - 0.02) < 0.005
    assert not layer.attention.self.query.bias.any()
    positions = adapter.model.bert.embeddings.position_embeddings
    positions.weight.requires_grad_(False)  # as the demo models' fixed sinusoidal table
    kept = positions.weight.detach().clone()
    reinitialize(adapter.model.bert.embeddings, 0.02, torch.Generator().manual_seed(1))
    assert torch.equal(positions.weight, kept)


def test_head_map_similarity_is_spearman_per_protein_layer_and_head():
    rng = np.random.default_rng(0)
    maps = [SimpleNamespace(heads=rng.normal(size=(2, 3, n)), residues=rng.normal(size=n)) for n in (12, 20)]
    same = head_map_similarity(maps, maps)
    assert same["signed"].shape == (2, 2, 3) and np.allclose(same["signed"], 1.0)
    flipped = [SimpleNamespace(heads=-m.heads, residues=-m.residues) for m in maps]
    sim = head_map_similarity(maps, flipped)
    assert np.allclose(sim["signed"], -1.0) and np.allclose(sim["absolute"], 1.0)
    assert np.allclose(sim["residues_signed"], -1.0)
    constant = [SimpleNamespace(heads=np.ones_like(m.heads), residues=m.residues) for m in maps]
    assert np.isnan(head_map_similarity(maps, constant)["signed"]).all()
    monotone = [SimpleNamespace(heads=np.exp(m.heads), residues=m.residues) for m in maps]  # rank-preserving
    assert np.allclose(head_map_similarity(maps, monotone)["signed"], 1.0)
    means = layer_means(sim)
    assert means["signed"] == [-1.0, -1.0] and means["absolute"] == [1.0, 1.0]


def test_cascade_end_to_end_on_a_tiny_model(model_dir):
    steps = cascading_randomization(str(model_dir), SEQUENCES, [0, 1], steps=8, log=lambda _: None)
    assert [s.name for s in steps] == ["trained", "classifier", "layer 1", "layer 0", "embeddings"]
    assert steps[-1].randomized == ["classifier", "layer 1", "layer 0", "embeddings"]
    assert steps[0].similarity is None
    fresh = attribute_batch(load_model(model_dir, device="cpu"), SEQUENCES, [0, 1], steps=8)
    for a, b in zip(steps[0].results, fresh, strict=True):
        assert np.allclose(a.heads, b.heads)  # the first step is the unmodified model
    for step in steps[1:]:
        assert step.similarity["signed"].shape == (2, 2, 2)
        assert len(step.means["signed"]) == 2
        assert np.all(np.abs(step.similarity["signed"][~np.isnan(step.similarity["signed"])]) <= 1.0 + 1e-9)
    # once every layer is re-initialised the maps no longer follow the trained ones
    assert np.nanmean(steps[-1].similarity["signed"]) < 0.9
