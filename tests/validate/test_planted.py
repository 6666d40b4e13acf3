"""The anagram task: real backgrounds, motif vs anagrams of identical composition, spans where they say."""

from __future__ import annotations

from collections import Counter

import numpy as np

from protxai_ray.training.data import read_tmbed_fold
from protxai_ray.validate.planted import (
    BACKGROUND_FOLD,
    MOTIF,
    PlantedProtein,
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
    proteins = planted_proteins(TMBED_DATA, 60, seed=0)
    for p in proteins:
        begin = p.motif_start - 1
        inserted = p.sequence[begin : begin + len(MOTIF)]
        assert inserted == p.insert and Counter(inserted) == Counter(MOTIF)
        assert (inserted == MOTIF) == bool(p.label) and p.sequence.count(MOTIF) == p.label
        assert p.sequence[:begin] in fold[p.background]
        assert p.sequence[begin + len(MOTIF) :] in fold[p.background]
        mask, decoy = p.mask(), p.decoy_mask()
        assert mask.sum() == (len(MOTIF) if p.label else 0) and decoy.sum() == len(MOTIF)
        assert 1 <= p.decoy_start <= len(p.sequence)
    # drawn independently of the insert: it sometimes overlaps it, and sometimes wraps past the end
    overlaps = [bool((p.span_mask(p.motif_start) & p.decoy_mask()).any()) for p in proteins]
    assert 0 < sum(overlaps) < len(proteins)
    assert any(len(p.decoy_spans()) == 2 for p in proteins)


def test_decoy_wraps_and_covers_every_residue_equally() -> None:
    p = PlantedProtein("X", "ACDEFGHIKLMN", 1, 2, "CDEFGH", 10, "B")
    assert p.decoy_spans() == [(10, 12), (1, 3)]
    assert np.flatnonzero(p.decoy_mask()).tolist() == [0, 1, 2, 9, 10, 11]
    coverage = sum(PlantedProtein("X", p.sequence, 1, 2, "CDEFGH", s, "B").decoy_mask() for s in range(1, 13))
    assert (coverage == 6).all()  # over the uniform start every residue is covered 6 times of 12


def test_split_keeps_backgrounds_apart():
    train, test = task_split(TMBED_DATA, 3000, 100, seed=0)
    assert len(train) == 3000 and len(test) == 100
    assert not {p.background for p in train} & {p.background for p in test}
    assert len({p.accession for p in train + test}) == 3100


def test_entries_carry_motif_anagram_and_decoy_features():
    proteins = planted_proteins(TMBED_DATA, 10, seed=0)
    for p, entry in zip(proteins, as_entries(proteins), strict=True):
        assert entry.sequence == p.sequence and len(entry.crc64) == 16
        inserted = "motif" if p.label else "anagram"
        spans = sorted((f.feature_type, f.start, f.end) for f in entry.features)
        decoy = [("decoy", begin, end) for begin, end in p.decoy_spans()]
        assert spans == sorted([(inserted, p.motif_start, p.motif_start + 5), *decoy])
