"""Shared machinery of the per-residue-vocabulary adapters: sequence checks, tokenization, baselines.

Every supported architecture tokenizes a protein one token per residue (ProtBert's space-separated
letters, ESM-2's alphabet, ProtT5's sentencepiece pieces ``▁A``…), framed by a start and an end token.
So tokenization here is a dictionary lookup, not a ``transformers`` tokenizer call: it is exact, fast and
immune to the transformers-5 pitfall where ``BertTokenizer(vocab_file=...)`` silently maps every residue
to ``[UNK]`` (tests check equality with ``BertTokenizer(vocab=...)``).

Accepted letters: the 20 standard amino acids, ``X``, and the rare/ambiguous ``U Z O B J`` which become
``X`` (ProtBert's and ProtT5's convention; J — Leu/Ile — is treated like the others). Input is upper-cased
first. Anything else (digits, ``*``, ``-``, whitespace, an empty string) raises ``InvalidSequence``.
A residue letter absent from a model's vocabulary (e.g. ``X`` in a 25-token antibody vocabulary) becomes
that model's unknown token, which is what its own tokenizer would do.

Vocabulary of a model directory (``directory_vocab``): the one the directory carries, in this order —
``tokenizer.json`` (what ``save_pretrained`` of a transformers-5 tokenizer writes: WordPiece/WordLevel/BPE
``model.vocab`` dict or Unigram ``model.vocab`` list, plus ``added_tokens``), ``vocab.txt`` (one token per
line), a SentencePiece ``spiece.model`` (T5; parsed here, the ``sentencepiece`` package is not needed),
else the architecture's built-in alphabet where it has one. When several files are present they must
agree on every token they share. ``bind_vocab`` then checks the vocabulary against the residue alphabet:
the special tokens exist, every standard amino acid has its own token (else the directory is refused: its
residues would be read as unknown), every id used is a row of the embedding, and — where the directory
ships a ``tokenizer.json`` — that tokenizer really encodes each residue letter to the id we use (a
lower-casing normalizer maps every residue to ``[UNK]``; such a directory is refused, as is a
``tokenizer_config.json`` with ``do_lower_case: true`` over an upper-case vocabulary).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from protxai_ray.errors import InvalidSequence, ModelLoadError
from protxai_ray.models.adapter import HeadHookPoint, ModelAdapter

STANDARD_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWY")
RARE_TO_X = {"U": "X", "Z": "X", "O": "X", "B": "X", "J": "X"}
ACCEPTED_LETTERS = STANDARD_RESIDUES | frozenset("X") | frozenset(RARE_TO_X)


def normalise_sequence(sequence: str, name: str) -> str:
    """Upper-case ``sequence`` and map rare residues to X; ``InvalidSequence(name, …)`` if not protein."""
    if not isinstance(sequence, str) or not sequence:
        raise InvalidSequence(name, "empty sequence")
    upper = sequence.upper()
    for position, letter in enumerate(upper, start=1):
        if letter not in ACCEPTED_LETTERS:
            raise InvalidSequence(
                name,
                f"non-protein character {letter!r} at position {position} (accepted: amino-acid letters)",
            )
    return "".join(RARE_TO_X.get(letter, letter) for letter in upper)


def self_attention_hook_points(layers) -> list[HeadHookPoint]:
    """Hook points of BERT-style layers: ``layer.attention.self`` returns the per-head context first."""
    return [
        HeadHookPoint(
            module=layer.attention.self,
            use_input=False,
            num_heads=layer.attention.self.num_attention_heads,
            head_size=layer.attention.self.attention_head_size,
        )
        for layer in layers
    ]


TOKENIZER_JSON = "tokenizer.json"
VOCAB_TXT = "vocab.txt"
SENTENCEPIECE_MODEL = "spiece.model"
TOKENIZER_CONFIG = "tokenizer_config.json"


def read_vocab_file(path: str) -> dict[str, int]:
    """A one-token-per-line vocabulary (BERT ``vocab.txt`` style) as token -> id."""
    with open(path, encoding="utf-8") as handle:
        tokens = [line.rstrip("\n") for line in handle]
    while tokens and tokens[-1] == "":
        tokens.pop()
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        vocab.setdefault(token, index)  # a duplicated line keeps its first id, as BertTokenizer does
    return vocab


def read_tokenizer_json(path: str) -> dict[str, int]:
    """token -> id of a ``tokenizers`` ``tokenizer.json``: ``model.vocab`` (a dict for WordPiece, WordLevel
    and BPE; a ``[piece, score]`` list for Unigram, id = index) plus ``added_tokens``. ``ValueError`` when
    the file has no readable vocabulary."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    model = data.get("model") if isinstance(data, dict) else None
    raw = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(raw, dict):
        vocab = {str(token): int(index) for token, index in raw.items()}
    elif isinstance(raw, list):
        vocab = {}
        for index, entry in enumerate(raw):
            token = entry[0] if isinstance(entry, (list, tuple)) else entry
            vocab.setdefault(str(token), index)
    else:
        raise ValueError(f"no model.vocab in a {(model or {}).get('type', 'model')!s} tokenizer")
    for added in data.get("added_tokens") or []:
        vocab[str(added["content"])] = int(added["id"])
    return vocab


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _protobuf_fields(data: bytes):
    """(field number, wire type, value) of a protobuf message: int for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated protobuf message")
        yield field, wire, value


def read_sentencepiece_model(path: str) -> dict[str, int]:
    """piece -> id of a SentencePiece ``ModelProto`` (``spiece.model``): field 1 repeats the pieces in id
    order, each a message whose field 1 is the piece string. Read without the ``sentencepiece`` package."""
    with open(path, "rb") as handle:
        data = handle.read()
    vocab: dict[str, int] = {}
    index = 0
    for field, wire, value in _protobuf_fields(data):
        if field != 1 or wire != 2:
            continue
        piece = next((v for f, w, v in _protobuf_fields(value) if f == 1 and w == 2), None)
        if piece is None:
            raise ValueError(f"piece {index} has no text")
        vocab.setdefault(piece.decode("utf-8"), index)
        index += 1
    if not vocab:
        raise ValueError("no pieces")
    return vocab


@dataclass(frozen=True)
class DirectoryVocab:
    """A model directory's token -> id table and where it came from (a file name, or ``built-in …``)."""

    tokens: dict[str, int]
    source: str


def directory_vocab(
    path: str, *, sentencepiece: bool = False, builtin: Sequence[str] | None = None, builtin_name: str = ""
) -> DirectoryVocab:
    """The vocabulary ``path`` carries (``tokenizer.json``, ``vocab.txt``, ``spiece.model`` when
    ``sentencepiece``), else the built-in token list; ``ModelLoadError`` (one line) when a file is unreadable,
    when the files disagree, or when there is none and no built-in."""
    readers: list[tuple[str, Callable[[str], dict[str, int]]]] = [
        (TOKENIZER_JSON, read_tokenizer_json),
        (VOCAB_TXT, read_vocab_file),
    ]
    if sentencepiece:
        readers.append((SENTENCEPIECE_MODEL, read_sentencepiece_model))
    found: list[DirectoryVocab] = []
    for name, reader in readers:
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            continue
        try:
            tokens = reader(file)
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{path}: {name} is not a readable tokenizer vocabulary: {exc}") from exc
        if not tokens:
            raise ModelLoadError(f"{path}: {name} is empty")
        found.append(DirectoryVocab(tokens, name))
    if not found:
        if builtin is None:
            names = ", ".join(name for name, _ in readers)
            raise ModelLoadError(f"{path}: no tokenizer vocabulary ({names}) in the model directory")
        return DirectoryVocab(
            {token: index for index, token in enumerate(builtin)}, f"built-in {builtin_name}"
        )
    primary = found[0]
    for other in found[1:]:
        clashes = [t for t, i in primary.tokens.items() if t in other.tokens and other.tokens[t] != i]
        if clashes:
            token = clashes[0]
            raise ModelLoadError(
                f"{path}: {primary.source} and {other.source} disagree on {len(clashes)} token ids "
                f"(e.g. {token!r}: {primary.tokens[token]} vs {other.tokens[token]}); remove the stale file"
            )
    return primary


def read_json_sidecar(path: str, name: str) -> Any:
    """The JSON file ``name`` of model directory ``path`` (None when absent); ModelLoadError if unreadable."""
    file = os.path.join(path, name)
    if not os.path.isfile(file):
        return None
    try:
        with open(file, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: {name} is not readable JSON: {exc}") from exc


def _lower_cases(path: str) -> bool:
    """Whether the directory's ``tokenizer_config.json`` asks transformers to lower-case the input."""
    config = read_json_sidecar(path, TOKENIZER_CONFIG)
    return isinstance(config, dict) and config.get("do_lower_case") is True


def check_tokenizer_json(path: str, residue_ids: dict[str, int], unk_id: int, unk_token: str) -> None:
    """Refuse a directory whose own ``tokenizer.json`` does not encode each residue letter to our id."""
    file = os.path.join(path, TOKENIZER_JSON)
    if not os.path.isfile(file):
        return
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(file)
    except Exception as exc:  # the Rust parser raises its own Exception subclass
        raise ModelLoadError(f"{path}: {TOKENIZER_JSON} cannot be loaded by tokenizers: {exc}") from exc
    for letter, expected in sorted(residue_ids.items()):
        ids = tokenizer.encode(letter, add_special_tokens=False).ids
        if ids == [expected]:
            continue
        if ids == [unk_id]:
            raise ModelLoadError(
                f"{path}: {TOKENIZER_JSON} encodes residue {letter!r} as {unk_token} (id {unk_id}), not as its "
                f"vocabulary token (id {expected}): the tokenizer lower-cases or otherwise rewrites residues; "
                "re-save it with do_lower_case=False"
            )
        raise ModelLoadError(
            f"{path}: {TOKENIZER_JSON} encodes residue {letter!r} as ids {ids}, its vocabulary says {expected}"
        )


class ResidueVocabAdapter(ModelAdapter):
    """An adapter whose tokens are [start] + one token per residue + [end], padded with ``pad_id``.

    Subclasses set ``residue_ids`` (residue letter -> token id), ``unk_id``, ``start_id``, ``end_id``,
    ``pad_id``, ``baseline_fill_id`` (the token that replaces every residue in the baseline) and
    ``_max_residues``.
    """

    residue_ids: dict[str, int]
    unk_id: int
    start_id: int
    end_id: int
    pad_id: int
    baseline_fill_id: int
    _max_residues: int

    vocab: dict[str, int]
    vocab_source: str

    def _attach(self, model, path: str, weights_sha256: str) -> None:
        """Bind the loaded model and take the class names from its config (``id2label``)."""
        self.model = model
        self.path = path
        self.weights_sha256 = weights_sha256
        self.label_names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]

    def bind_vocab(
        self,
        vocab: DirectoryVocab,
        *,
        start: str,
        end: str,
        pad: str,
        unk: str,
        fill: str,
        residue_of: Callable[[str], str | None],
        vocab_size: int,
        extra_specials: Sequence[str] = (),
    ) -> None:
        """Set the token ids from ``vocab`` after checking it against the residue alphabet (module docstring).

        ``residue_of(token)`` is the residue letter a token stands for (``None`` for other tokens); when
        several tokens stand for one letter the first in id order wins. Raises ``ModelLoadError``.
        """
        path, source, tokens = self.path, vocab.source, vocab.tokens
        for special in dict.fromkeys((start, end, pad, unk, fill, *extra_specials)):
            if special not in tokens:
                raise ModelLoadError(f"{path}: {source} lacks the special token {special}")
        residue_ids: dict[str, int] = {}
        for token, index in sorted(tokens.items(), key=lambda item: item[1]):
            letter = residue_of(token)
            if letter is not None and len(letter) == 1 and letter.isalpha() and letter.isupper():
                residue_ids.setdefault(letter, index)
        missing = sorted(STANDARD_RESIDUES - residue_ids.keys())
        if missing:
            raise ModelLoadError(
                f"{path}: {source} has no token for the residues {' '.join(missing)} (they would all be read as "
                f"{unk}); not a per-residue protein vocabulary"
            )
        used = {**residue_ids, **{t: tokens[t] for t in (start, end, pad, unk, fill)}}
        too_big = sorted((i, t) for t, i in used.items() if not 0 <= i < vocab_size)
        if too_big:
            index, token = too_big[0]
            raise ModelLoadError(
                f"{path}: {source} gives {token!r} id {index}, outside the model's vocab_size {vocab_size}"
            )
        unk_id = tokens[unk]
        check_tokenizer_json(path, residue_ids, unk_id, unk)
        if _lower_cases(path):
            raise ModelLoadError(
                f"{path}: {TOKENIZER_CONFIG} sets do_lower_case=true, so transformers would read every residue "
                f"as {unk}; set it to false"
            )
        self.vocab = dict(tokens)
        self.vocab_source = source
        self.residue_ids = residue_ids
        self.unk_id = unk_id
        self.start_id = tokens[start]
        self.end_id = tokens[end]
        self.pad_id = tokens[pad]
        self.baseline_fill_id = tokens[fill]

    @property
    def max_residues(self) -> int:
        return self._max_residues

    def residue_token_ids(self, sequence: str, name: str) -> list[int]:
        """Token ids of the residues only (no start/end) for one already-checked sequence."""
        residues = normalise_sequence(sequence, name)
        if len(residues) > self._max_residues:
            raise InvalidSequence(
                name,
                f"sequence of {len(residues)} residues exceeds the model's limit of {self._max_residues} "
                "residues (max_position_embeddings - 2); it is not truncated",
            )
        return [self.residue_ids.get(letter, self.unk_id) for letter in residues]

    def encode(
        self, sequences: Sequence[str], names: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``long[B, T]`` and attention mask ``long[B, T]``; T = longest length + 2.

        ``names`` (accessions) label the ``InvalidSequence`` error; default: the index in the batch.
        """
        if names is not None and len(names) != len(sequences):
            raise ValueError("names must have one entry per sequence")
        if len(sequences) == 0:
            raise ValueError("encode needs at least one sequence")
        rows = []
        for index, sequence in enumerate(sequences):
            name = names[index] if names is not None else f"sequence[{index}]"
            rows.append([self.start_id, *self.residue_token_ids(sequence, name), self.end_id])
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[index, : len(row)] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def baseline_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """start + fill·L + end per row (fill = [PAD] for BERT, <mask> for ESM); padding stays padding."""
        baseline = torch.full_like(input_ids, self.pad_id)
        lengths = attention_mask.sum(dim=1)  # L + 2 per row
        for row, length in enumerate(lengths.tolist()):
            baseline[row, 0] = self.start_id
            baseline[row, 1 : length - 1] = self.baseline_fill_id
            baseline[row, length - 1] = self.end_id
        return baseline


def mean_pool_classify(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: nn.Module,
    classifier: nn.Module,
    labels: torch.Tensor | None = None,
) -> SequenceClassifierOutput:
    """Mean of ``hidden [B, T, D]`` over attended tokens → dropout → ``classifier`` → logits ``[B, C]``
    (cross-entropy loss when ``labels`` are given): the head of the mean-pooled BERT and T5 classifiers."""
    if attention_mask is None:
        pooled = hidden.mean(dim=1)
    else:
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # [B, T, 1]
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    logits = classifier(dropout(pooled))
    loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
    return SequenceClassifierOutput(loss=loss, logits=logits)
