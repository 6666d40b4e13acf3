"""The seed paper's further analyses that need no model: PCA of per-protein head-relevance profiles, and
the Jaccard similarity of significant-head sets between a model and its control. (Faithfulness runs the
model: ``protxai analyze`` computes it into the store, and the report draws its tables.)"""

from __future__ import annotations

import duckdb
import numpy as np
from sklearn.decomposition import PCA

from protxai_ray.report.data import HEAD_TESTS


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
