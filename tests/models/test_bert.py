"""BERT adapter on a real random-weight BertForSequenceClassification directory."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from transformers import BertTokenizer

from protxai_ray.errors import InvalidSequence
from protxai_ray.models import load_model
from protxai_ray.models.bert import PROTBERT_VOCAB
from protxai_ray.models.random_init import write_random_model

# ProtBert vocab: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 L=5 A=6 G=7 V=8 E=9 S=10 I=11 K=12 R=13 D=14
# T=15 P=16 N=17 Q=18 F=19 Y=20 M=21 H=22 C=23 W=24 X=25 U=26 B=27 Z=28 O=29
MKTAYIAKQR_IDS = [2, 21, 12, 15, 6, 20, 11, 6, 12, 18, 13, 3]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    path = write_random_model(
        tmp_path_factory.mktemp("bert"),
        "bert",
        num_layers=2,
        num_heads=4,
        hidden=32,
        max_positions=34,
        label_names=["other", "GO:0016020"],
    )
    return load_model(str(path), device="cpu")


def test_known_sequence_token_ids(bert):
    ids, mask = bert.encode(["MKTAYIAKQR"])
    assert ids.tolist() == [MKTAYIAKQR_IDS]
    assert mask.tolist() == [[1] * 12]


def test_ids_match_bert_tokenizer_with_explicit_vocab(bert):
    tokens = [line.rstrip("\n") for line in open(PROTBERT_VOCAB)]
    tokenizer = BertTokenizer(vocab=OrderedDict((t, i) for i, t in enumerate(tokens)), do_lower_case=False)
    sequence = "MKTAYIAKQRQISFVKSHFSRQ"
    reference = tokenizer(" ".join(sequence))["input_ids"]
    assert 1 not in reference  # no [UNK]: the explicit vocab was used
    assert bert.encode([sequence])[0][0].tolist() == reference


def test_rare_residues_lowercase_and_padding(bert):
    ids, mask = bert.encode(["acdu", "MZOBJX"], names=["P1", "P2"])
    assert ids[0].tolist() == [2, 6, 23, 14, 25, 3, 0, 0]  # u -> X (25), padded with [PAD]
    assert ids[1].tolist() == [2, 21, 25, 25, 25, 25, 25, 3]
    assert mask.tolist() == [[1] * 6 + [0, 0], [1] * 8]


def test_baseline_ids(bert):
    ids, mask = bert.encode(["MKT", "MKTAYI"])
    assert bert.baseline_ids(ids, mask).tolist() == [[2, 0, 0, 0, 3, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 3]]


def test_hook_points_logits_and_labels(bert):
    ids, mask = bert.encode(["MKTAYIAKQR", "MKT"])
    points = bert.head_hook_points()
    assert bert.num_layers == 2 and bert.num_heads == 4 and points[0].head_size == 8
    captured = {}
    handles = [
        p.module.register_forward_hook(lambda m, i, o, layer=layer: captured.__setitem__(layer, o[0]))
        for layer, p in enumerate(points)
    ]
    try:
        with torch.no_grad():
            logits = bert.logits(ids, mask)
    finally:
        for handle in handles:
            handle.remove()
    assert logits.shape == (2, 2) and logits.dtype == torch.float32
    assert [captured[layer].shape for layer in range(2)] == [(2, 12, 32)] * 2
    assert bert.label_names == ["other", "GO:0016020"]
    assert bert.embedding_module() is bert.model.bert.embeddings


@pytest.mark.parametrize(
    ("sequence", "reason"),
    [("", "empty"), ("MKT1A", "'1' at position 4"), ("MK*", "'*'"), ("MK TA", "' '")],
)
def test_invalid_sequences_name_the_entry(bert, sequence, reason):
    with pytest.raises(InvalidSequence, match=reason) as info:
        bert.encode(["MKT", sequence], names=["P00001", "Q99999"])
    assert info.value.accession == "Q99999"


def test_too_long_names_the_limit(bert):
    assert bert.max_residues == 32
    bert.encode(["A" * 32])
    with pytest.raises(InvalidSequence, match="33 residues exceeds the model's limit of 32"):
        bert.encode(["A" * 33])
    with pytest.raises(InvalidSequence, match=r"sequence\[0\]"):
        bert.encode(["A" * 33])


@pytest.fixture(scope="module")
def mean_pool_dir(tmp_path_factory):
    """A seeded mean-pooled BERT classifier saved the way the demo trainer saves it."""
    from protxai_ray.training.model import ModelSpec, build_classifier, save_model_dir

    spec = ModelSpec(layers=2, heads=3, hidden=30, intermediate=40, max_residues=64, dropout=0.0)
    model = build_classifier(spec, ["other", "GO:0016020"], seed=5)
    model.eval()
    return save_model_dir(model, tmp_path_factory.mktemp("meanpool"), ["other", "GO:0016020"], "# card\n", {})


def test_mean_pool_directory_loads_as_mean_pool_classifier(mean_pool_dir):
    from protxai_ray.models.bert import BertMeanPoolClassifier

    adapter = load_model(str(mean_pool_dir), device="cpu")
    assert type(adapter.model) is BertMeanPoolClassifier
    assert adapter.label_names == ["other", "GO:0016020"]
    ids, mask = adapter.encode(["MKTAYIAKQR", "MKT"])
    with torch.no_grad():
        logits = adapter.logits(ids, mask)
        hidden = adapter.model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        # the short protein alone: padding must not change its logits
        alone = adapter.logits(*adapter.encode(["MKT"]))
    for row in range(2):
        n = int(mask[row].sum())
        expected = adapter.model.classifier(hidden[row, :n].mean(dim=0))
        assert torch.allclose(logits[row], expected, atol=1e-5)
    assert torch.allclose(logits[1], alone[0], atol=1e-5)


def test_mean_pool_attribution_matches_captum(mean_pool_dir):
    import numpy as np

    from protxai_ray.attribution import attribute_batch
    from protxai_ray.attribution.reference import reference_attribution

    adapter = load_model(str(mean_pool_dir), device="cpu")
    adapter.model.double()
    sequence = "MVLSPADKTNVKAAWGKVGAHAG"
    ours = attribute_batch(adapter, [sequence], [1], steps=8, derivative="finite")[0]
    residues, heads = reference_attribution(adapter, sequence, 1, steps=8, internal_batch_size=None)
    assert np.abs(ours.residues - residues).max() <= 1e-5 * np.abs(residues).max()
    assert np.abs(ours.heads - heads).max() <= 1e-5 * np.abs(heads).max()
    # every residue reaches the pooled logit directly: the last layer's relevance is not all on [CLS]
    last = np.abs(ours.heads[-1]).sum(axis=0)
    assert last[1:-1].sum() > last[0]
