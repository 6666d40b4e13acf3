"""The seed paper's further analyses: faithfulness by alanine flipping, PCA of per-protein head-relevance
profiles, and the Jaccard similarity of significant-head sets between a model and its control."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA

from protxai_ray.models.adapter import ModelAdapter
from protxai_ray.report.data import HEAD_TESTS

FLIP_COUNTS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class FlipProtein:
    """A protein to flip: its sequence, target class and residue relevance ``float[L + 2]``."""

    accession: str
    sequence: str
    target: int
    residues: np.ndarray


def _target_logits(adapter: ModelAdapter, sequences: list[str], target: int) -> np.ndarray:
    input_ids, attention_mask = adapter.encode(sequences)
    with torch.no_grad():
        logits = adapter.logits(input_ids.to(adapter.device), attention_mask.to(adapter.device))
    return logits[:, target].double().cpu().numpy()


def _flip(sequence: str, positions: np.ndarray) -> str:
    residues = list(sequence)
    for position in positions:
        residues[int(position) - 1] = "A"
    return "".join(residues)


def alanine_flip_curve(
    adapter: ModelAdapter, proteins: list[FlipProtein], counts=FLIP_COUNTS, seed: int = 0
) -> pd.DataFrame:
    """Mean target-logit drop when the n most relevant residues (positions 1..L) become alanine, against
    n residues drawn at random (same protein, seeded). Columns: n, drop_top, drop_random, proteins."""
    rng = np.random.default_rng(seed)
    drops: dict[int, list[tuple[float, float]]] = {n: [] for n in counts}
    for protein in proteins:
        length = len(protein.sequence)
        relevance = np.asarray(protein.residues[1 : length + 1], dtype=float)
        ranked = (
            np.lexsort((np.arange(1, length + 1), -relevance)) + 1
        )  # most relevant first, ties by position
        usable = [n for n in counts if n <= length]
        variants = [protein.sequence]
        for n in usable:
            variants.append(_flip(protein.sequence, ranked[:n]))
            variants.append(_flip(protein.sequence, rng.choice(np.arange(1, length + 1), n, replace=False)))
        logits = _target_logits(adapter, variants, protein.target)
        for i, n in enumerate(usable):
            drops[n].append((logits[0] - logits[1 + 2 * i], logits[0] - logits[2 + 2 * i]))
    rows = [
        {
            "n": n,
            "drop_top": float(np.mean([d[0] for d in values])),
            "drop_random": float(np.mean([d[1] for d in values])),
            "proteins": len(values),
        }
        for n, values in drops.items()
        if values
    ]
    return pd.DataFrame(rows, columns=["n", "drop_top", "drop_random", "proteins"])


def profile_pca(profiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of L1-normalised head profiles ``float[proteins, layers * heads]``.

    Normalising each protein's profile keeps long proteins (more positions, larger sums) from
    dominating the components. Returns (coords float[proteins, 2], explained variance ratio [2]).
    """
    norms = np.abs(profiles).sum(axis=1, keepdims=True)
    scaled = profiles / np.where(norms > 0, norms, 1.0)
    pca = PCA(n_components=2, random_state=0)
    coords = pca.fit_transform(scaled)
    return coords, pca.explained_variance_ratio_


def significant_heads(
    con: duckdb.DuckDBPyConnection, run_id: str, annotation: str, test: str = "r"
) -> set[tuple[int, int]]:
    """(layer, head) significant for ``annotation`` in any class, by one of ``data.HEAD_TESTS``."""
    column = HEAD_TESTS[test][1]
    rows = con.execute(
        f"SELECT DISTINCT layer, head FROM head_enrichment WHERE run_id = $run_id AND annotation = $annotation"
        f" AND {column}",
        {"run_id": run_id, "annotation": annotation},
    ).fetchall()
    return {(int(layer), int(head)) for layer, head in rows}


def jaccard(a: set, b: set) -> float | None:
    """|a ∩ b| / |a ∪ b|; None when both sets are empty (nothing to compare)."""
    union = a | b
    return None if not union else len(a & b) / len(union)
