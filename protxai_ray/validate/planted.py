"""The anagram task: real background sequences; only the *order* of six common residues decides the label.

Backgrounds are windows of real proteins without any transmembrane residue (TMbed fold 0). Every protein
gets six residues written over a random position: positives the motif ``MOTIF`` (label 1, annotated as a
``motif`` feature), negatives an anagram of it (label 0, annotated as ``anagram``) — the same six residues
in an order that shares no adjacent pair with the motif, so both classes have *identical* composition and a
residue counter cannot tell them apart: the model has to move information between neighbouring tokens.
The motif is built from frequent amino acids (L A G V S E, each 6-10 % of real residues), so the same
residues occur everywhere in the background too.

Every protein also carries a ``decoy`` feature: a span of the motif's length at a uniformly random start
1..L, independent of the insert, wrapping around the end of the sequence (then two feature rows). Every
residue is then covered with the same probability 6 / L, so for any relevance track — wherever a head puts
its relevance, on the motif, beside it, at the ends — the expected relevance inside the decoy equals the
protein's mean and the decoy's r has expectation 0 exactly: a null by construction. (A decoy kept *outside*
the insert is not one: a head that avoids the motif is "enriched" on it, measured significant in 10-100 %
of draws; a decoy drawn like the insert shares the insert's preference for the middle of the window.)
Windows that already contain the motif are skipped, and a protein contains the motif exactly when it is a
positive.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protxai_ray.training.data import LabeledProtein, read_tmbed_fold, tmbed_fold_path
from protxai_ray.uniprot.crc64 import crc64
from protxai_ray.uniprot.records import Feature, ProteinEntry

MOTIF = "LAGVSE"  # six frequent residues: every one of them is common in the backgrounds too
BACKGROUND_FOLD = 0
MOTIF_FEATURE, ANAGRAM_FEATURE, DECOY_FEATURE = "motif", "anagram", "decoy"


def _pairs(word: str) -> set[str]:
    return {word[i : i + 2] for i in range(len(word) - 1)}


def anagrams(motif: str = MOTIF) -> list[str]:
    """The motif's permutations that share no adjacent residue pair with it (sorted, deterministic)."""
    pairs = _pairs(motif)
    return sorted(
        {"".join(p) for p in itertools.permutations(motif) if not _pairs("".join(p)) & pairs} - {motif}
    )


@dataclass(frozen=True)
class PlantedProtein:
    accession: str  # synthetic id "PLANT00042" (the background's own accession is in ``background``)
    sequence: str
    label: int  # 1 = motif, 0 = an anagram of it
    motif_start: int  # 1-based UniProt position of the inserted six residues (motif or anagram)
    insert: str  # the inserted residues: MOTIF for positives, an anagram for negatives
    decoy_start: int  # 1-based start of the decoy span (same length, any start, wraps past the end)
    background: str

    def span_mask(self, start: int) -> np.ndarray:
        out = np.zeros(len(self.sequence), dtype=bool)
        out[start - 1 : start - 1 + len(self.insert)] = True
        return out

    def mask(self) -> np.ndarray:
        """``bool[L]`` per residue: inside the planted motif (all False for a negative)."""
        return self.span_mask(self.motif_start) if self.label else np.zeros(len(self.sequence), dtype=bool)

    def decoy_mask(self) -> np.ndarray:
        """``bool[L]``: the decoy's residues, ``decoy_start`` onwards, wrapping past the last residue."""
        out = np.zeros(len(self.sequence), dtype=bool)
        out[(self.decoy_start - 1 + np.arange(len(self.insert))) % len(self.sequence)] = True
        return out

    def decoy_spans(self) -> list[tuple[int, int]]:
        """The decoy as 1-based inclusive (begin, end) spans: one, or two when it wraps."""
        end = self.decoy_start + len(self.insert) - 1
        if end <= len(self.sequence):
            return [(self.decoy_start, end)]
        return [(self.decoy_start, len(self.sequence)), (1, end - len(self.sequence))]


def planted_proteins(
    tmbed_dir: str | Path,
    n: int,
    seed: int,
    min_length: int = 40,
    max_length: int = 72,
    *,
    exclude: frozenset[str] | set[str] = frozenset(),
    reuse: bool = False,
    prefix: str = "PLANT",
) -> list[PlantedProtein]:
    """``n`` motif/anagram proteins (alternating labels 0, 1, 0, ...), deterministic for ``seed``.

    Backgrounds whose accession is in ``exclude`` are not used; ``reuse`` lets a background give several
    proteins (a fresh window, insert position and anagram each time) once every background has been used.
    """
    rng = np.random.default_rng(seed)
    choices = anagrams()
    width = len(MOTIF)
    fold = read_tmbed_fold(tmbed_fold_path(tmbed_dir, BACKGROUND_FOLD), BACKGROUND_FOLD)
    backgrounds = [
        p
        for p in fold
        if p.label == 0
        and len(p.sequence) >= max_length
        and "X" not in p.sequence
        and p.accession not in exclude
    ]
    out: list[PlantedProtein] = []
    while len(out) < n:
        before = len(out)
        for index in rng.permutation(len(backgrounds)):
            if len(out) == n:
                break
            source: LabeledProtein = backgrounds[index]
            length = int(rng.integers(min_length, max_length + 1))
            begin = int(rng.integers(0, len(source.sequence) - length + 1))
            window = source.sequence[begin : begin + length]
            label = len(out) % 2
            insert = MOTIF if label else choices[int(rng.integers(len(choices)))]
            start = int(rng.integers(1, length - width + 2))
            sequence = window[: start - 1] + insert + window[start - 1 + width :]
            if MOTIF in window or sequence.count(MOTIF) != label:
                continue
            decoy = int(rng.integers(1, length + 1))  # any start, independent of the insert (wraps)
            accession = f"{prefix}{len(out):05d}"
            out.append(PlantedProtein(accession, sequence, label, start, insert, decoy, source.accession))
        if not reuse or len(out) == before:
            break
    if len(out) < n:
        raise ValueError(
            f"only {len(out)} of {n} proteins: too few backgrounds of >= {max_length} residues in TMbed fold "
            f"{BACKGROUND_FOLD} (reuse={reuse})"
        )
    return out


def task_split(
    tmbed_dir: str | Path, n_train: int, n_test: int, seed: int, min_length: int = 40, max_length: int = 72
) -> tuple[list[PlantedProtein], list[PlantedProtein]]:
    """Training and held-out proteins on disjoint backgrounds; training backgrounds are re-used (fresh
    windows, positions and anagrams), held-out ones give one protein each."""
    test = planted_proteins(tmbed_dir, n_test, seed + 1, min_length, max_length, prefix="TEST")
    used = {p.background for p in test}
    train = planted_proteins(
        tmbed_dir, n_train, seed, min_length, max_length, exclude=used, reuse=True, prefix="TRAIN"
    )
    return train, test


def as_labeled(proteins: list[PlantedProtein]) -> list[LabeledProtein]:
    return [LabeledProtein(p.accession, p.sequence, p.label, "planted") for p in proteins]


def as_entries(proteins: list[PlantedProtein]) -> list[ProteinEntry]:
    """UniProt-shaped entries for the store: ``motif`` (or ``anagram``) and ``decoy`` features."""
    entries = []
    width = len(MOTIF)
    for p in proteins:
        kind = MOTIF_FEATURE if p.label else ANAGRAM_FEATURE
        features = [
            Feature(kind, p.motif_start, p.motif_start + width - 1, f"planted {p.insert}"),
            *(Feature(DECOY_FEATURE, begin, end, "decoy: random span") for begin, end in p.decoy_spans()),
        ]
        entries.append(
            ProteinEntry(
                accession=p.accession,
                entry_name=f"{p.accession}_PLANT",
                reviewed=False,
                entry_version=1,
                sequence_version=1,
                sequence=p.sequence,
                crc64=crc64(p.sequence),
                organism=f"background {p.background} (TMbed fold {BACKGROUND_FOLD})",
                features=features,
                source="protxai validate (planted)",
            )
        )
    return entries
