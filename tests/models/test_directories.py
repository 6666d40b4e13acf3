"""Model directories as users save them (transformers-5 tokenizers), and strict loading of the weights."""

from __future__ import annotations

import json
import shutil
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer, T5Tokenizer

from protxai_ray.attribution import attribute_batch
from protxai_ray.errors import ModelLoadError
from protxai_ray.models import load_model
from protxai_ray.models.base import read_sentencepiece_model
from protxai_ray.models.bert import PROTBERT_VOCAB
from protxai_ray.models.random_init import write_random_model
from protxai_ray.models.registry import quiet_transformers
from protxai_ray.models.t5 import PROTT5_TOKENS

PROTBERT_TOKENS = [line.rstrip("\n") for line in open(PROTBERT_VOCAB, encoding="utf-8") if line.strip()]
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "ACDEFGHIKLMNPQRSTVWYUZOBX"]


def _bert_classifier(seed: int = 0) -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=len(PROTBERT_TOKENS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "other", 1: "membrane"},
        label2id={"other": 0, "membrane": 1},
        initializer_range=0.2,  # far from uniform attention, so a token mix-up would show
    )
    torch.manual_seed(seed)
    return BertForSequenceClassification(config)


def _protbert_tokenizer(lower_case: bool = False) -> BertTokenizer:
    # BertTokenizer(vocab_file=...) is silently ignored by transformers 5; vocab= is honoured.
    vocab = OrderedDict((token, index) for index, token in enumerate(PROTBERT_TOKENS))
    return BertTokenizer(vocab=vocab, do_lower_case=lower_case)


def _save(model, tokenizer, out: Path) -> Path:
    with quiet_transformers():
        model.save_pretrained(out)
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def user_dirs(tmp_path_factory):
    """The same random weights saved twice: as a transformers-5 user saves it (tokenizer.json +
    tokenizer_config.json, no vocab.txt) and in our layout (vocab.txt)."""
    root = tmp_path_factory.mktemp("user")
    model = _bert_classifier()
    user = _save(model, _protbert_tokenizer(), root / "user")
    ours = _save(model, None, root / "ours")
    shutil.copy(PROTBERT_VOCAB, ours / "vocab.txt")
    return user, ours


def test_transformers5_directory_gives_the_same_attributions(user_dirs):
    user, ours = user_dirs
    assert (user / "tokenizer.json").is_file() and not (user / "vocab.txt").exists()
    a, b = load_model(user, device="cpu"), load_model(ours, device="cpu")
    assert a.vocab_source == "tokenizer.json" and b.vocab_source == "vocab.txt"
    ids_a, _ = a.encode(SEQUENCES)
    assert torch.equal(ids_a, b.encode(SEQUENCES)[0])
    # the ids are the ones the saved tokenizer itself produces (U Z O B → X first, as ProtBert's card says)
    tokenizer = BertTokenizer.from_pretrained(user)
    text = " ".join(SEQUENCES[1].translate(str.maketrans("UZOB", "XXXX")))
    assert tokenizer(text)["input_ids"] == ids_a[1].tolist()
    assert a.identity_sha256 == b.identity_sha256  # same weights, config, labels and token ids
    results_a = attribute_batch(a, SEQUENCES, [1, -1], steps=16)
    results_b = attribute_batch(b, SEQUENCES, [1, -1], steps=16)
    for x, y in zip(results_a, results_b, strict=True):
        np.testing.assert_array_equal(x.residues, y.residues)
        np.testing.assert_array_equal(x.heads, y.heads)
        assert (x.logit, x.baseline_logit, x.target) == (y.logit, y.baseline_logit, y.target)
        assert np.abs(x.heads).sum() > 0


def test_lower_casing_tokenizer_is_refused(tmp_path):
    out = _save(_bert_classifier(), _protbert_tokenizer(lower_case=True), tmp_path / "lower")
    with pytest.raises(ModelLoadError) as info:
        load_model(out, device="cpu")
    message = str(info.value)
    assert str(out) in message and "\n" not in message
    assert "tokenizer.json encodes residue 'A' as [UNK]" in message and "do_lower_case=False" in message
    (out / "tokenizer_config.json").unlink()  # the tokenizer.json's own normalizer lower-cases too
    with pytest.raises(ModelLoadError, match="tokenizer.json encodes residue 'A' as"):
        load_model(out, device="cpu")


def test_do_lower_case_config_over_vocab_txt_is_refused(user_dirs, tmp_path):
    _, ours = user_dirs
    target = shutil.copytree(ours, tmp_path / "m")
    (target / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    with pytest.raises(ModelLoadError, match="tokenizer_config.json sets do_lower_case=true"):
        load_model(target, device="cpu")


def test_vocabulary_without_residue_tokens_is_refused(user_dirs, tmp_path):
    _, ours = user_dirs
    target = shutil.copytree(ours, tmp_path / "m")
    # an English-style vocabulary: same size and specials, lower-case letters only
    tokens = PROTBERT_TOKENS[:5] + [t.lower() if len(t) == 1 else t for t in PROTBERT_TOKENS[5:]]
    (target / "vocab.txt").write_text("\n".join(tokens) + "\n")
    with pytest.raises(ModelLoadError) as info:
        load_model(target, device="cpu")
    message = str(info.value)
    assert message.startswith(f"{target}: vocab.txt has no token for the residues A C D E F G")
    assert "read as [UNK]" in message and "\n" not in message


def test_stale_vocab_txt_disagreeing_with_tokenizer_json_is_refused(user_dirs, tmp_path):
    user, _ = user_dirs
    target = shutil.copytree(user, tmp_path / "m")
    swapped = list(PROTBERT_TOKENS)
    swapped[5], swapped[6] = swapped[6], swapped[5]  # L <-> A
    (target / "vocab.txt").write_text("\n".join(swapped) + "\n")
    with pytest.raises(ModelLoadError, match="tokenizer.json and vocab.txt disagree on 2 token ids"):
        load_model(target, device="cpu")


def _t5_dir(tmp_path: Path) -> Path:
    out = write_random_model(tmp_path / "t5", "t5", 1, 2, 8, seed=3)
    (out / "vocab.txt").unlink()
    return out


def test_t5_tokenizer_json_vocabulary(tmp_path):
    reference = load_model(write_random_model(tmp_path / "ref", "t5", 1, 2, 8, seed=3), device="cpu")
    out = _t5_dir(tmp_path)
    tokenizer = T5Tokenizer(vocab=[(piece, 0.0) for piece in PROTT5_TOKENS], extra_ids=100)
    tokenizer.save_pretrained(out)
    adapter = load_model(out, device="cpu")
    assert adapter.vocab_source == "tokenizer.json"
    assert torch.equal(adapter.encode(SEQUENCES)[0], reference.encode(SEQUENCES)[0])
    # the tokenizer itself encodes space-separated residues to the same ids (it appends </s> itself)
    assert tokenizer(" ".join("MKTAYI"))["input_ids"] == adapter.encode(["MKTAYI"])[0][0, 1:].tolist()


def _sentencepiece_model(pieces: list[str]) -> bytes:
    """A minimal SentencePiece ModelProto: field 1 = piece messages (piece, score, type), then a
    trainer spec (field 2) that the reader must skip."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    data = b""
    for index, piece in enumerate(pieces):
        message = field(1, piece.encode()) + bytes([0x15]) + struct.pack("<f", -float(index))
        message += bytes([0x18, 2 if piece == "<unk>" else 1])  # type: UNKNOWN / NORMAL
        data += field(1, message)
    return data + field(2, field(1, b"unused trainer input"))


def test_t5_sentencepiece_model_vocabulary(tmp_path):
    reference = load_model(write_random_model(tmp_path / "ref", "t5", 1, 2, 8, seed=3), device="cpu")
    out = _t5_dir(tmp_path)
    (out / "spiece.model").write_bytes(_sentencepiece_model(PROTT5_TOKENS))
    assert read_sentencepiece_model(str(out / "spiece.model")) == {t: i for i, t in enumerate(PROTT5_TOKENS)}
    adapter = load_model(out, device="cpu")
    assert adapter.vocab_source == "spiece.model"
    assert torch.equal(adapter.encode(SEQUENCES)[0], reference.encode(SEQUENCES)[0])
    (out / "spiece.model").write_bytes(_sentencepiece_model(PROTT5_TOKENS)[:-30])
    with pytest.raises(ModelLoadError, match="spiece.model is not a readable tokenizer vocabulary"):
        load_model(out, device="cpu")


# ---- strict loading: config.json must describe the weights -------------------------------------------


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return write_random_model(
        tmp_path_factory.mktemp("bert"), "bert", 2, 2, 16, intermediate=32, max_positions=40
    )


def _with_config(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config.update(changes)
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def _refusal(path: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(path, device="cpu")
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_more_layers_in_config_than_in_weights(bert_dir, tmp_path):
    message = _refusal(_with_config(bert_dir, tmp_path / "m", num_hidden_layers=4))
    assert "config.json does not match the weights" in message
    # 2 missing layers × 16 tensors; the first few named, in layer order
    assert (
        "32 tensors missing from the weights (bert.encoder.layer.2.attention.output.LayerNorm.bias,"
        in message
    )
    assert ", ...)" in message


def test_fewer_layers_in_config_than_in_weights(bert_dir, tmp_path):
    message = _refusal(_with_config(bert_dir, tmp_path / "m", num_hidden_layers=1))
    assert "16 tensors in the weights that the model has no place for (bert.encoder.layer.1." in message


def test_shape_mismatch(bert_dir, tmp_path):
    message = _refusal(_with_config(bert_dir, tmp_path / "m", intermediate_size=48))
    assert (
        "6 tensors of another shape, weights vs config (bert.encoder.layer.0.intermediate.dense.bias (32,) vs (48,)"
        in message
    )


def test_t5_head_count_mismatch(tmp_path):
    # T5's attention width is num_heads × d_kv, so a wrong head count changes the q/k/v/o shapes
    src = write_random_model(tmp_path / "t5", "t5", 1, 2, 8)
    message = _refusal(_with_config(src, tmp_path / "m", num_heads=4))
    assert (
        "tensors of another shape, weights vs config (transformer.encoder.block.0.layer.0.SelfAttention"
        in message
    )


def test_cls_classifier_without_pooler_weights(tmp_path):
    """A [CLS]-pooled config over weights without a pooler would get a random pooler: refused."""
    src = write_random_model(tmp_path / "src", "bert", 1, 2, 16, intermediate=32, max_positions=40)
    from safetensors.torch import load_file, save_file

    tensors = load_file(src / "model.safetensors")
    save_file({k: v for k, v in tensors.items() if ".pooler." not in k}, src / "model.safetensors")
    message = _refusal(src)
    assert "2 tensors missing from the weights (bert.pooler.dense.bias, bert.pooler.dense.weight)" in message


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda data: b"definitely not safetensors",
        lambda data: data[: len(data) // 2],  # truncated download
        lambda data: b"",
        lambda data: data[:8] + b"[" + data[9:],  # header is not a JSON object
    ],
    ids=["garbage", "truncated", "empty", "bad-header"],
)
def test_corrupt_safetensors_is_one_line(bert_dir, tmp_path, corrupt):
    target = shutil.copytree(bert_dir, tmp_path / "m")
    weights = target / "model.safetensors"
    weights.write_bytes(corrupt(weights.read_bytes()))
    message = _refusal(target)
    assert "model.safetensors is not a readable safetensors file" in message


def test_invalid_config_value_is_one_line(bert_dir, tmp_path):
    message = _refusal(_with_config(bert_dir, tmp_path / "m", hidden_size="sixteen"))
    assert "config.json is not a valid model config" in message
