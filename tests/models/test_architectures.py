"""ESM-2 and T5-encoder adapters, and weights that survive the save/load round trip for every type."""

from __future__ import annotations

import pytest
import torch

from protxai_ray.errors import InvalidSequence
from protxai_ray.models import load_model
from protxai_ray.models.random_init import write_random_model

SHAPE = {"num_layers": 2, "num_heads": 3, "hidden": 24, "max_positions": 40}


@pytest.fixture(scope="module")
def esm(tmp_path_factory):
    return load_model(str(write_random_model(tmp_path_factory.mktemp("esm"), "esm", **SHAPE)), device="cpu")


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    return load_model(str(write_random_model(tmp_path_factory.mktemp("t5"), "t5", **SHAPE)), device="cpu")


def _context_shapes(adapter, ids, mask):
    captured = {}

    def hook(layer, use_input):
        def capture(module, inputs, output):
            captured[layer] = inputs[0] if use_input else output[0]

        return capture

    handles = [
        p.module.register_forward_hook(hook(layer, p.use_input))
        for layer, p in enumerate(adapter.head_hook_points())
    ]
    try:
        with torch.no_grad():
            logits = adapter.logits(ids, mask)
    finally:
        for handle in handles:
            handle.remove()
    return logits, [tuple(captured[layer].shape) for layer in sorted(captured)]


def test_esm_token_ids_follow_the_esm2_alphabet(esm):
    # <cls>=0 <pad>=1 <eos>=2, M=20 K=15 T=11 A=5 Y=19 I=12 Q=16 R=10 C=23 D=13 X=24
    ids, mask = esm.encode(["MKTAYIAKQR", "cdu"])
    assert ids.tolist() == [
        [0, 20, 15, 11, 5, 19, 12, 5, 15, 16, 10, 2],
        [0, 23, 13, 24, 2, 1, 1, 1, 1, 1, 1, 1],
    ]
    assert mask.sum(dim=1).tolist() == [12, 5]
    assert esm.unk_id not in ids.tolist()[0]


def test_esm_baseline_is_cls_mask_eos(esm):
    ids, mask = esm.encode(["MKT", "MK"])
    assert esm.baseline_ids(ids, mask).tolist() == [[0, 32, 32, 32, 2], [0, 32, 32, 2, 1]]


def test_esm_token_dropout_baseline_embedding(esm):
    """token_dropout zeroes <mask> embeddings and rescales the row by 0.88 (L+2)/2 (see esm.py)."""
    assert esm.token_dropout
    ids, mask = esm.encode(["MKTAYI"])
    base = esm.baseline_ids(ids, mask)
    with torch.no_grad():
        x = esm.embedding_module()(input_ids=ids, attention_mask=mask)
        b = esm.embedding_module()(input_ids=base, attention_mask=mask)
        raw_cls = esm.model.esm.embeddings.word_embeddings.weight[0]
    assert torch.all(b[0, 1:7] == 0)
    torch.testing.assert_close(x[0, 0], raw_cls * 0.88)
    torch.testing.assert_close(b[0, 0], raw_cls * 0.88 * 8 / 2)


def test_esm_hooks_and_logits(esm):
    ids, mask = esm.encode(["MKTAYIAKQR", "MKT"])
    logits, shapes = _context_shapes(esm, ids, mask)
    assert logits.shape == (2, 2)
    assert shapes == [(2, 12, 24)] * 2
    assert esm.num_heads == 3 and esm.head_hook_points()[0].head_size == 8
    assert esm.max_residues == 38


def test_t5_positions_and_baseline(t5):
    # <pad>=0 as start, </s>=1 as end; ProtT5 ids M=19 K=14 T=11 A=3, X=23
    ids, mask = t5.encode(["MKTA", "Mu"])
    assert ids.tolist() == [[0, 19, 14, 11, 3, 1], [0, 19, 23, 1, 0, 0]]
    assert mask.tolist() == [[1] * 6, [1, 1, 1, 1, 0, 0]]
    assert t5.baseline_ids(ids, mask).tolist() == [[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]]


def test_t5_hooks_read_the_input_of_o(t5):
    ids, mask = t5.encode(["MKTAYIAKQR", "MKT"])
    logits, shapes = _context_shapes(t5, ids, mask)
    points = t5.head_hook_points()
    assert all(p.use_input for p in points)
    assert logits.shape == (2, 2) and shapes == [(2, 12, 24)] * 2
    assert t5.embedding_module() is t5.model.transformer.encoder.embed_tokens


def test_padding_does_not_change_logits(esm, t5):
    for adapter in (esm, t5):
        alone = adapter.logits(*adapter.encode(["MKTAYIAKQRQISFVK"]))
        batched = adapter.logits(*adapter.encode(["MKTAYIAKQRQISFVK", "MK"]))
        torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["bert", "esm", "t5"])
def test_saved_weights_are_the_loaded_weights(tmp_path, model_type):
    """Loading reproduces the in-memory model exactly (no head silently re-initialised on load)."""
    from protxai_ray.models.esm import build_random_esm
    from protxai_ray.models.random_init import RandomShape, _bert
    from protxai_ray.models.t5 import build_random_t5

    builder = {"bert": _bert, "esm": build_random_esm, "t5": build_random_t5}[model_type]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        reference, _ = builder(RandomShape(2, 2, 16, 3, 32, 30, None, 0.02))
    adapter = load_model(
        str(write_random_model(tmp_path, model_type, 2, 2, 16, 3, 32, 30, seed=7)), device="cpu"
    )
    ids, mask = adapter.encode(["MKTAYIAKQR", "GAVL"])
    with torch.no_grad():
        expected = reference.eval()(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(adapter.logits(ids, mask), expected)
    assert adapter.label_names == ["class_0", "class_1", "class_2"]


@pytest.mark.parametrize("model_type", ["esm", "t5"])
def test_invalid_sequences(tmp_path, model_type):
    adapter = load_model(
        str(write_random_model(tmp_path, model_type, 1, 2, 8, max_positions=12)), device="cpu"
    )
    with pytest.raises(InvalidSequence, match="P12345: non-protein character '9'"):
        adapter.encode(["MK9"], names=["P12345"])
    with pytest.raises(InvalidSequence, match="empty"):
        adapter.encode([""])
    with pytest.raises(InvalidSequence, match="limit of 10 residues"):
        adapter.encode(["A" * 11])
