"""The planted-motif set: real backgrounds, motif exactly where the mask and the annotation say."""

from __future__ import annotations

from protxai_ray.training.data import read_tmbed_fold
from protxai_ray.validate.planted import BACKGROUND_FOLD, MOTIF, as_entries, planted_proteins
from tests.conftest import TMBED_DATA


def test_planted_set_is_deterministic_and_balanced():
    a = planted_proteins(TMBED_DATA, 40, seed=1)
    assert a == planted_proteins(TMBED_DATA, 40, seed=1)
    assert a != planted_proteins(TMBED_DATA, 40, seed=2)
    assert sum(p.label for p in a) == 20


def test_motif_sits_at_the_mask_and_backgrounds_are_real():
    fold = {
        p.accession: p.sequence for p in read_tmbed_fold(TMBED_DATA / "cv" / "cv_00_a.fasta", BACKGROUND_FOLD)
    }
    for p in planted_proteins(TMBED_DATA, 60, seed=0):
        mask = p.mask()
        if p.label:
            assert "".join(c for c, m in zip(p.sequence, mask, strict=True) if m) == MOTIF
            prefix = p.sequence[: p.motif_start - 1]
            suffix = p.sequence[p.motif_start - 1 + len(MOTIF) :]
            assert prefix in fold[p.background] and suffix in fold[p.background]
        else:
            assert not mask.any() and MOTIF not in p.sequence and p.sequence in fold[p.background]


def test_entries_carry_the_motif_feature():
    proteins = planted_proteins(TMBED_DATA, 10, seed=0)
    for p, entry in zip(proteins, as_entries(proteins), strict=True):
        assert entry.sequence == p.sequence and len(entry.crc64) == 16
        if p.label:
            (feature,) = entry.features
            assert (feature.feature_type, feature.start, feature.end) == (
                "motif",
                p.motif_start,
                p.motif_start + 5,
            )
        else:
            assert entry.features == []
