"""Faithfulness by residue flipping with a composition-matched random control.

For each protein and n, two kinds of variants are scored by the model (the drop of the attributed
target's logit, original minus variant):

- ``top``: the n residues with the highest embedding-level relevance (positions 1..L, ties by position);
- ``random``: n positions drawn uniformly without replacement from 1..L.

Both kinds replace each chosen residue the same way: by an amino acid drawn from the protein's own
composition (the counts of its standard residues), the residue being replaced excluded so every flip
changes the sequence (a protein made of one amino acid draws from the 20 standard ones instead). Flipping
to one fixed residue (alanine, as in the seed) is not neutral: alanine is hydrophobic, so for a membrane
classifier random alanine flips *raise* the membrane logit and make any ranking look faithful. Each kind
gets ``draws`` (≥ 10) independent replacement draws per protein and n, and the protein's drop is their
mean; n runs over the counts up to half the protein's length (at n = L both kinds flip every residue).
Each protein's draws come from its own generator seeded by (seed, crc32(accession)), so results do not
depend on which other proteins were analysed.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from protxai_ray.models.adapter import ModelAdapter

FLIP_COUNTS = (1, 2, 4, 8, 16, 32, 64)
DRAWS = 10
STANDARD = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
DROP_COLUMNS = ["accession", "n", "kind", "draw", "drop"]


@dataclass(frozen=True)
class FlipProtein:
    """A protein to flip: its sequence, target class index and residue relevance ``float[L + 2]``."""

    accession: str
    sequence: str
    target: int
    residues: np.ndarray


def ranked_positions(protein: FlipProtein) -> np.ndarray:
    """Positions 1..L, most relevant first (ties by position)."""
    length = len(protein.sequence)
    relevance = np.asarray(protein.residues[1 : length + 1], dtype=np.float64)
    return np.lexsort((np.arange(1, length + 1), -relevance)) + 1


class CompositionReplacer:
    """Draws replacement residues from one protein's composition, the replaced residue excluded."""

    def __init__(self, sequence: str):
        residues = np.array(list(sequence.upper()))
        self.counts = np.array([(residues == aa).sum() for aa in STANDARD], dtype=np.float64)

    def weights(self, original: str) -> np.ndarray:
        weights = self.counts.copy()
        weights[STANDARD == original.upper()] = 0.0
        if weights.sum() == 0:  # the protein has no other standard residue: the 20 standard ones
            weights = (STANDARD != original.upper()).astype(np.float64)
        return weights / weights.sum()

    def flip(self, sequence: str, positions: np.ndarray, rng: np.random.Generator) -> str:
        residues = list(sequence)
        for position in positions:
            index = int(position) - 1
            residues[index] = str(rng.choice(STANDARD, p=self.weights(residues[index])))
        return "".join(residues)


def flip_variants(
    protein: FlipProtein, counts: Sequence[int], draws: int, rng: np.random.Generator
) -> list[tuple[int, str, int, str]]:
    """(n, kind, draw, variant sequence) for every n ≤ L / 2 of ``counts``, both kinds, ``draws`` each."""
    length = len(protein.sequence)
    ranked = ranked_positions(protein)
    replacer = CompositionReplacer(protein.sequence)
    variants = []
    for n in (n for n in counts if 1 <= n <= length // 2):
        for draw in range(draws):
            variants.append((n, "top", draw, replacer.flip(protein.sequence, ranked[:n], rng)))
            chosen = rng.choice(np.arange(1, length + 1), n, replace=False)
            variants.append((n, "random", draw, replacer.flip(protein.sequence, chosen, rng)))
    return variants


def target_logits(
    adapter: ModelAdapter, sequences: list[str], target: int, batch_size: int = 64
) -> np.ndarray:
    """The model's ``target`` logit for each sequence (float64), ``batch_size`` sequences per forward."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            input_ids, attention_mask = adapter.encode(sequences[start : start + batch_size])
            logits = adapter.logits(input_ids.to(adapter.device), attention_mask.to(adapter.device))
            out.append(logits[:, target].double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def protein_rng(seed: int, accession: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(accession.encode())])


def flip_drops(
    adapter: ModelAdapter,
    proteins: list[FlipProtein],
    counts: Sequence[int] = FLIP_COUNTS,
    draws: int = DRAWS,
    seed: int = 0,
    batch_size: int = 64,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per variant (``DROP_COLUMNS``: drop = original target logit − variant's) and each
    protein's original target logit."""
    rows: list[tuple] = []
    originals: dict[str, float] = {}
    for protein in proteins:
        variants = flip_variants(protein, counts, draws, protein_rng(seed, protein.accession))
        logits = target_logits(
            adapter, [protein.sequence] + [v[3] for v in variants], protein.target, batch_size
        )
        originals[protein.accession] = float(logits[0])
        for (n, kind, draw, _), logit in zip(variants, logits[1:], strict=True):
            rows.append((protein.accession, n, kind, draw, float(logits[0] - logit)))
    return pd.DataFrame(rows, columns=DROP_COLUMNS), originals
