"""AntiBERTy (antiberty==0.1.3 on PyPI): a real pretrained protein BERT converted to safetensors."""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import torch
from transformers import BertTokenizer

from protxai_ray.models import load_model
from protxai_ray.models.antiberty import ANTIBERTY_PIN, antiberty_files, write_antiberty_classifier

pytestmark = pytest.mark.skipif(
    antiberty_files() is None, reason=f"AntiBERTy weights not installed ({ANTIBERTY_PIN} --no-deps)"
)

# Human IGHV3-23 heavy and IGKV1-39 kappa light chain variable domains (germline-derived).
HEAVY = "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYCAK"
LIGHT = "DIQMTQSPSSLSASVGDRVTITCRASQSISSYLNWYQQKPGKAPKLLIYAASSLQSGVPSRFSGSGSGTDFTLTISSLQPEDFATYYCQQSYSTP"


@pytest.fixture(scope="module")
def antiberty(tmp_path_factory):
    return load_model(str(write_antiberty_classifier(tmp_path_factory.mktemp("antiberty"))), device="cpu")


def test_conversion_takes_every_encoder_tensor(antiberty):
    report = json.loads(open(f"{antiberty.path}/conversion.json").read())
    assert report["initialised"] == []  # encoder, pooler and the chain head all come from the checkpoint
    assert report["head_from"] == "cls.chain"
    assert any(key.startswith("cls.predictions") for key in report["dropped"])
    config = antiberty.model.config
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_size) == (8, 8, 512)
    assert antiberty.max_residues == 510


def test_tokens_match_bert_tokenizer_with_explicit_vocab(antiberty):
    vocab_file = antiberty_files()[2]
    tokens = [line.strip() for line in open(vocab_file) if line.strip()]
    tokenizer = BertTokenizer(vocab=OrderedDict((t, i) for i, t in enumerate(tokens)), do_lower_case=False)
    reference = tokenizer(" ".join(HEAVY))["input_ids"]
    assert tokenizer.unk_token_id not in reference
    assert antiberty.encode([HEAVY])[0][0].tolist() == reference
    # AntiBERTy's vocabulary has no X: rare residues become [UNK], as its own tokenizer does.
    assert antiberty.encode(["AUA"])[0][0].tolist() == [2, 5, tokenizer.unk_token_id, 5, 3]


def test_pretrained_chain_head_classifies_heavy_and_light(antiberty):
    assert antiberty.label_names == ["heavy", "light"]
    ids, mask = antiberty.encode([HEAVY, LIGHT])
    with torch.no_grad():
        predicted = antiberty.logits(ids, mask).argmax(dim=1).tolist()
    assert predicted == [0, 1]


def test_attention_is_not_uniform(antiberty):
    """Real weights: attention rows are far from uniform (unlike a 0.02-std random init)."""
    ids, mask = antiberty.encode([HEAVY])
    with torch.no_grad():
        attentions = antiberty.model(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
    peak = torch.stack([a.max(dim=-1).values.mean() for a in attentions])  # mean row maximum per layer
    assert peak.max().item() > 5.0 / ids.shape[1]
