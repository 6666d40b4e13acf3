"""The IG baseline of each architecture, stated position by position (and why), and what the ESM-2
token-dropout correction does to the relevance of the start and end tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.path import PathProbe
from protxai_ray.models import load_model
from protxai_ray.models.random_init import write_random_model

SEQUENCE = "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMF"  # HBA_HUMAN 1-34
SHAPE = {
    "num_layers": 2,
    "num_heads": 2,
    "hidden": 16,
    "intermediate": 32,
    "seed": 4,
    "initializer_range": 0.2,
}


def _model(tmp_path, model_type):
    return load_model(str(write_random_model(tmp_path / model_type, model_type, **SHAPE)), device="cpu")


def _ends(model):
    ids, mask = model.encode([SEQUENCE])
    with PathProbe(model) as probe:
        x, b, logit_x, logit_b = probe.path_ends(ids, mask)
    return ids, mask, x[0], b[0], logit_b


def test_bert_baseline_is_pad_between_the_inputs_own_cls_and_sep(tmp_path):
    """[CLS] + [PAD]·L + [SEP] through the embedding module (word + position + type, LayerNorm): start
    and end are the same tokens at the same positions as in x, so x − b = 0 there."""
    model = _model(tmp_path, "bert")
    ids, mask, x, b, _ = _ends(model)
    base_ids = model.baseline_ids(ids, mask)[0]
    assert base_ids[0] == ids[0, 0] and base_ids[-1] == ids[0, -1]
    assert (base_ids[1:-1] == model.pad_id).all()
    torch.testing.assert_close(b[0], x[0])
    torch.testing.assert_close(b[-1], x[-1])
    assert not torch.allclose(b[1], b[2])  # position embeddings differ per residue slot


def test_esm_token_dropout_baseline_is_zero_residues_between_the_inputs_own_ends(tmp_path):
    """ESM-2's token dropout zeroes a <mask> and rescales the row by the masked share: the module's own
    all-mask baseline has start/end scaled by 0.88·(L + 2)/2. The corrected baseline: residues at the zero
    vector (a dropped <mask>), start/end equal to x's; F(b) is evaluated at that b."""
    model = _model(tmp_path, "esm")
    assert model.token_dropout
    ids, mask, x, b, logit_b = _ends(model)
    assert torch.count_nonzero(b[1:-1]) == 0
    torch.testing.assert_close(b[0], x[0])
    torch.testing.assert_close(b[-1], x[-1])
    with PathProbe(model) as probe:
        raw, _ = probe.endpoints(model.baseline_ids(ids, mask), mask)
    length = len(SEQUENCE)
    ratio = float(raw[0, 0].norm() / x[0].norm())
    assert ratio == pytest.approx((length + 2) / 2, rel=1e-4)  # what the uncorrected baseline did
    with PathProbe(model) as probe:
        direct = probe.forward_at(b[None], ids, mask)
    torch.testing.assert_close(logit_b, direct)


def test_esm_start_and_end_carry_no_relevance_with_the_corrected_baseline(tmp_path, monkeypatch):
    model = _model(tmp_path, "esm")
    corrected = attribute_batch(model, [SEQUENCE], [0])[0]
    ends = np.abs(corrected.residues[[0, -1]]).sum() / np.abs(corrected.residues).sum()
    assert ends == 0.0 and corrected.convergence_delta < 0.01 and corrected.head_error <= 0.01
    monkeypatch.setattr(type(model), "baseline_embeddings", lambda self, x, b, m: b)
    module_baseline = attribute_batch(model, [SEQUENCE], [0])[0]
    share = np.abs(module_baseline.residues[[0, -1]]).sum() / np.abs(module_baseline.residues).sum()
    print(f"start/end share of sum |IG| with the module's baseline: {share:.3f}")
    assert share > 0.1  # measured 0.38 at L = 34: x − b is ×17 larger at the two end tokens


def test_t5_baseline_is_pad_with_the_inputs_own_start_and_end(tmp_path):
    """ProtT5 has no mask token: <pad>·(L + 1) + </s>; the leading <pad> is the start slot (also <pad> in
    x), so x − b = 0 at start and end; T5 embeddings have no positions, so every residue slot of b is the
    same <pad> vector."""
    model = _model(tmp_path, "t5")
    ids, mask, x, b, _ = _ends(model)
    torch.testing.assert_close(b[0], x[0])
    torch.testing.assert_close(b[-1], x[-1])
    torch.testing.assert_close(b[1:-1], b[1:2].expand_as(b[1:-1]))
