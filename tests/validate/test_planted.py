"""The anagram task: real backgrounds, motif vs anagrams of identical composition, spans where they say."""

from __future__ import annotations

from collections import Counter

from protxai_ray.training.data import read_tmbed_fold
from protxai_ray.validate.planted import (
    BACKGROUND_FOLD,
    MOTIF,
    anagrams,
    as_entries,
    planted_proteins,
    task_split,
)
from tests.conftest import TMBED_DATA


def _pairs(word):
    return {word[i : i + 2] for i in range(len(word) - 1)}


def test_anagrams_have_the_motifs_residues_and_none_of_its_pairs():
    words = anagrams()
    assert len(words) > 100 and MOTIF not in words
    for word in words:
        assert Counter(word) == Counter(MOTIF)
        assert not _pairs(word) & _pairs(MOTIF)


def test_planted_set_is_deterministic_and_balanced():
    a = planted_proteins(TMBED_DATA, 40, seed=1)
    assert a == planted_proteins(TMBED_DATA, 40, seed=1)
    assert a != planted_proteins(TMBED_DATA, 40, seed=2)
    assert sum(p.label for p in a) == 20


def test_only_order_decides_the_label():
    fold = {
        p.accession: p.sequence for p in read_tmbed_fold(TMBED_DATA / "cv" / "cv_00_a.fasta", BACKGROUND_FOLD)
    }
    for p in planted_proteins(TMBED_DATA, 60, seed=0):
        begin = p.motif_start - 1
        inserted = p.sequence[begin : begin + len(MOTIF)]
        assert inserted == p.insert and Counter(inserted) == Counter(MOTIF)
        assert (inserted == MOTIF) == bool(p.label) and p.sequence.count(MOTIF) == p.label
        assert p.sequence[:begin] in fold[p.background]
        assert p.sequence[begin + len(MOTIF) :] in fold[p.background]
        mask, decoy = p.mask(), p.decoy_mask()
        assert mask.sum() == (len(MOTIF) if p.label else 0) and decoy.sum() == len(MOTIF)
        assert not (p.span_mask(p.motif_start) & decoy).any()  # the decoy never overlaps the insert


def test_split_keeps_backgrounds_apart():
    train, test = task_split(TMBED_DATA, 3000, 100, seed=0)
    assert len(train) == 3000 and len(test) == 100
    assert not {p.background for p in train} & {p.background for p in test}
    assert len({p.accession for p in train + test}) == 3100


def test_entries_carry_motif_anagram_and_decoy_features():
    proteins = planted_proteins(TMBED_DATA, 10, seed=0)
    for p, entry in zip(proteins, as_entries(proteins), strict=True):
        assert entry.sequence == p.sequence and len(entry.crc64) == 16
        kinds = {f.feature_type: (f.start, f.end) for f in entry.features}
        inserted = "motif" if p.label else "anagram"
        assert kinds == {
            inserted: (p.motif_start, p.motif_start + 5),
            "decoy": (p.decoy_start, p.decoy_start + 5),
        }
