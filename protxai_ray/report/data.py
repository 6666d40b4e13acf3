"""DuckDB queries the report needs, each returning plain numpy/pandas objects for plotting."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

HEAD_CELLS_SQL = """
SELECT class, annotation, layer, head, n, p_adj, significant, aa_n, aa_p_adj, aa_significant, t_p_adj, overlay
FROM head_enrichment WHERE run_id = $run_id
ORDER BY class, annotation, layer, head
"""

# The head-level significance definitions of head_enrichment: (p_adj column drawn in its map, the column
# that marks a head significant, the n column, the suffix of its map titles). r: the Wilcoxon of r;
# aa: the composition-adjusted Wilcoxon of r_aa_adjusted; overlay: the seed's (t-test of r and positivity).
HEAD_TESTS = {
    "r": ("p_adj", "significant", "n", ""),
    "aa": ("aa_p_adj", "aa_significant", "aa_n", " (composition-adjusted)"),
    "overlay": ("t_p_adj", "overlay", "n", " (seed overlay)"),
}

EMBEDDING_SQL = """
SELECT class, annotation, n, statistic, p, p_adj
FROM residue_enrichment WHERE run_id = $run_id
ORDER BY class, annotation
"""

MODEL_SHAPE_SQL = """
SELECT max(layer) + 1 AS layers, max(head) + 1 AS heads FROM heads WHERE run_id = $run_id
"""


@dataclass(frozen=True)
class HeadMap:
    """One class × annotation cell grid: ``neg_log_p: float64[layers, heads]``, NaN where not testable."""

    cls: str
    annotation: str
    neg_log_p: np.ndarray
    significant: np.ndarray  # bool[layers, heads]
    n: int
    test: str = "r"  # a key of HEAD_TESTS


def model_shape(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int]:
    layers, heads = con.execute(MODEL_SHAPE_SQL, {"run_id": run_id}).fetchone()
    if layers is None:
        return 0, 0
    return int(layers), int(heads)


def head_maps(
    con: duckdb.DuckDBPyConnection, run_id: str, layers: int, heads: int, test: str = "r"
) -> list[HeadMap]:
    """−ln p_adj grids per class × annotation (the heatmaps of the seed paper) for one of ``HEAD_TESTS``;
    class × annotation cells where that test has no testable head are left out."""
    p_column, significant_column, n_column, _ = HEAD_TESTS[test]
    cells = con.execute(HEAD_CELLS_SQL, {"run_id": run_id}).df()
    maps = []
    for (cls, annotation), group in cells.groupby(["class", "annotation"], sort=True):
        p_adj = pd.to_numeric(group[p_column], errors="coerce").to_numpy(float)
        if test != "r" and np.isnan(p_adj).all():
            continue
        neg_log_p = np.full((layers, heads), np.nan)
        significant = np.zeros((layers, heads), dtype=bool)
        layer_idx = group["layer"].to_numpy(int)
        head_idx = group["head"].to_numpy(int)
        with np.errstate(divide="ignore"):
            neg_log_p[layer_idx, head_idx] = -np.log(np.clip(p_adj, 1e-300, 1.0))
        significant[layer_idx, head_idx] = group[significant_column].fillna(False).to_numpy(bool)
        n = int(pd.to_numeric(group[n_column], errors="coerce").fillna(0).max())
        maps.append(HeadMap(str(cls), str(annotation), neg_log_p, significant, n, test))
    return maps


def embedding_results(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    return con.execute(EMBEDDING_SQL, {"run_id": run_id}).df()


def head_profiles(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[list[str], list[str], np.ndarray]:
    """Per-protein summed head relevance ``float64[proteins, layers * heads]`` with each protein's class."""
    rows = con.execute(
        """
        SELECT h.accession, p.target_name, h.layer, h.head, sum(h.relevance) AS total
        FROM heads h JOIN predictions p USING (run_id, accession)
        WHERE h.run_id = $run_id
        GROUP BY ALL ORDER BY h.accession, h.layer, h.head
        """,
        {"run_id": run_id},
    ).df()
    if rows.empty:
        return [], [], np.zeros((0, 0))
    table = rows.pivot_table(index=["accession", "target_name"], columns=["layer", "head"], values="total")
    accessions = [a for a, _ in table.index]
    classes = [c for _, c in table.index]
    return accessions, classes, table.to_numpy(float)


def track_proteins(con: duckdb.DuckDBPyConnection, run_id: str, annotation: str, limit: int) -> list[str]:
    """Accessions of the run that carry ``annotation``, the most confidently predicted first."""
    return [
        row[0]
        for row in con.execute(
            """
            SELECT p.accession FROM predictions p
            WHERE p.run_id = $run_id AND EXISTS (
                SELECT 1 FROM annotations a
                WHERE a.accession = p.accession AND a.feature_type = $annotation
                  AND a.release = (SELECT release FROM runs WHERE run_id = $run_id))
            ORDER BY p.probability DESC, p.accession LIMIT $limit
            """,
            {"run_id": run_id, "annotation": annotation, "limit": limit},
        ).fetchall()
    ]


@dataclass(frozen=True)
class Track:
    """One protein's relevance along the sequence: ``residues: float64[L + 2]``, spans of annotations."""

    accession: str
    sequence: str
    residues: np.ndarray
    spans: list[tuple[str, int, int]]  # (feature_type, start, end)
    heads: dict[tuple[int, int], np.ndarray]  # (layer, head) -> float64[L + 2]


def protein_track(
    con: duckdb.DuckDBPyConnection, run_id: str, accession: str, heads: list[tuple[int, int]]
) -> Track:
    params = {"run_id": run_id, "accession": accession}
    release = con.execute("SELECT release FROM runs WHERE run_id = $run_id", {"run_id": run_id}).fetchone()[0]
    sequence = con.execute(
        "SELECT sequence FROM proteins WHERE release = $release AND accession = $accession",
        {"release": release, "accession": accession},
    ).fetchone()[0]
    residues = con.execute(
        "SELECT relevance FROM residues WHERE run_id = $run_id AND accession = $accession ORDER BY position",
        params,
    ).fetchnumpy()["relevance"]
    spans = con.execute(
        """SELECT feature_type, start, "end" FROM annotations
           WHERE release = $release AND accession = $accession ORDER BY feature_type, start""",
        {"release": release, "accession": accession},
    ).fetchall()
    head_tracks: dict[tuple[int, int], np.ndarray] = {}
    for layer, head in heads:
        head_tracks[(layer, head)] = (
            con.execute(
                """SELECT relevance FROM heads WHERE run_id = $run_id AND accession = $accession
               AND layer = $layer AND head = $head ORDER BY position""",
                {**params, "layer": layer, "head": head},
            )
            .fetchnumpy()["relevance"]
            .astype(float)
        )
    return Track(accession, sequence, residues.astype(float), [tuple(s) for s in spans], head_tracks)


@dataclass(frozen=True)
class IntegrationAccuracy:
    """Per protein of a run: estimated head error ``float64[P]`` and path points ``int64[P]``; the run's
    tolerance (None for fixed steps) and steps setting."""

    errors: np.ndarray
    nodes: np.ndarray
    tolerance: float | None
    steps: str | None


def integration_accuracy(con: duckdb.DuckDBPyConnection, run_id: str) -> IntegrationAccuracy:
    """The run's per-protein head-error estimates and node counts (from ``predictions`` and ``runs``)."""
    tolerance, steps = con.execute(
        "SELECT tolerance, steps FROM runs WHERE run_id = $r", {"r": run_id}
    ).fetchone()
    columns = {d[0] for d in con.execute("SELECT * FROM predictions LIMIT 0").description}
    if "head_error" not in columns:
        return IntegrationAccuracy(np.zeros(0), np.zeros(0, np.int64), None, steps)
    rows = con.execute(
        "SELECT head_error, n_steps FROM predictions WHERE run_id = $r AND head_error IS NOT NULL",
        {"r": run_id},
    ).fetchall()
    errors = np.array([r[0] for r in rows], dtype=np.float64)
    nodes = np.array([r[1] for r in rows], dtype=np.int64)
    return IntegrationAccuracy(errors, nodes, tolerance, steps)
