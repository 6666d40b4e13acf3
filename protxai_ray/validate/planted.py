"""Planted-signal proteins: real background sequences, a motif planted at a random position decides the label.

Backgrounds are windows of real proteins without any transmembrane residue (TMbed fold 0). Half of them
get the motif written over a random position (label 1, annotated as a ``motif`` feature), half keep their
real residues (label 0). Windows that already contain the motif are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protxai_ray.training.data import LabeledProtein, read_tmbed_fold, tmbed_fold_path
from protxai_ray.uniprot.crc64 import crc64
from protxai_ray.uniprot.records import Feature, ProteinEntry

MOTIF = "WCWWCW"  # the two rarest residues (W, C: ~1-2 % each in real proteins): every motif residue carries signal
BACKGROUND_FOLD = 0


@dataclass(frozen=True)
class PlantedProtein:
    accession: str  # synthetic id "PLANT00042" (the background's own accession is in ``background``)
    sequence: str
    label: int  # 1 = motif planted
    motif_start: int | None  # 1-based UniProt position of the motif's first residue
    background: str

    def mask(self) -> np.ndarray:
        """``bool[L]`` per residue: inside the planted motif."""
        out = np.zeros(len(self.sequence), dtype=bool)
        if self.motif_start is not None:
            out[self.motif_start - 1 : self.motif_start - 1 + len(MOTIF)] = True
        return out


def planted_proteins(
    tmbed_dir: str | Path, n: int, seed: int, min_length: int = 40, max_length: int = 72
) -> list[PlantedProtein]:
    """``n`` planted/background proteins (alternating labels), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    fold = read_tmbed_fold(tmbed_fold_path(tmbed_dir, BACKGROUND_FOLD), BACKGROUND_FOLD)
    backgrounds = [
        p for p in fold if p.label == 0 and len(p.sequence) >= max_length and "X" not in p.sequence
    ]
    order = rng.permutation(len(backgrounds))
    out: list[PlantedProtein] = []
    for index in order:
        if len(out) == n:
            break
        source: LabeledProtein = backgrounds[index]
        length = int(rng.integers(min_length, max_length + 1))
        begin = int(rng.integers(0, len(source.sequence) - length + 1))
        window = source.sequence[begin : begin + length]
        if MOTIF in window:
            continue
        label = len(out) % 2
        start = None
        if label:
            start = int(rng.integers(1, length - len(MOTIF) + 2))
            window = window[: start - 1] + MOTIF + window[start - 1 + len(MOTIF) :]
        out.append(PlantedProtein(f"PLANT{len(out):05d}", window, label, start, source.accession))
    return out


def as_labeled(proteins: list[PlantedProtein]) -> list[LabeledProtein]:
    return [LabeledProtein(p.accession, p.sequence, p.label, "planted") for p in proteins]


def as_entries(proteins: list[PlantedProtein]) -> list[ProteinEntry]:
    """UniProt-shaped entries for the store; the planted motif is a ``motif`` feature."""
    entries = []
    for p in proteins:
        features = []
        if p.motif_start is not None:
            end = p.motif_start + len(MOTIF) - 1
            features.append(Feature("motif", p.motif_start, end, f"planted {MOTIF}"))
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
