"""DuckDB queries the report needs, each returning plain numpy/pandas objects for plotting."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from protxai_ray.store.manifest import ModelRecord, RunManifest

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


# ---- what the report shows first: the run, its significant heads, its cells ----------------------------

# The seed paper's annotation types, then the residue-identity controls that put them in context; the
# report shows these by default (when the run's stats have them), not every UniProt feature type (`chain`
# covers whole proteins and says nothing about heads).
DEFAULT_ANNOTATIONS = (
    "active_site",
    "binding_site",
    "motif",
    "transmembrane",
    "tm_hydrophobic",
    "tm_positive",
    "hydrophobic",
    "positive",
)
# A class × annotation cell with fewer annotated proteins is not interpreted: its heads are not listed as
# findings and its heatmaps are not drawn (a one-sided Wilcoxon over n proteins cannot reach p < 0.05 below
# n = 5, and with 32+ heads under BH needs far more).
MIN_N = 10


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection has a table or view ``name`` (analysis tables exist only once written)."""
    return (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
            [name],
        ).fetchone()[0]
        > 0
    )


def effect_sizes(
    con: duckdb.DuckDBPyConnection, run_id: str, control_run: str, annotations: list[str], limit: int = 10
) -> pd.DataFrame | None:
    """The ``head_comparison`` of ``run_id`` vs ``control_run`` (``protxai stats --control-run``): per
    class × annotation the heads with the largest mean paired Δr, intervals above 0 first; None when the
    comparison was not computed."""
    frame = con.execute(
        """SELECT class, annotation, layer, head, n, mean_difference, ci_low, ci_high, aa_mean_difference,
                  count(*) FILTER (WHERE ci_low > 0) OVER (PARTITION BY class, annotation) AS above_zero,
                  row_number() OVER (PARTITION BY class, annotation
                                     ORDER BY (ci_low > 0) DESC NULLS LAST, mean_difference DESC NULLS LAST,
                                              layer, head) AS rank
           FROM head_comparison
           WHERE run_id = $r AND control_run_id = $c AND list_contains($a::VARCHAR[], annotation)
           ORDER BY class, annotation, rank""",
        {"r": run_id, "c": control_run, "a": list(annotations)},
    ).df()
    if frame.empty:
        return None
    return frame[frame["rank"] <= limit].drop(columns="rank")


def faithfulness(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame | None:
    """The run's ``faithfulness`` table written by ``protxai analyze`` (None when it was not run)."""
    if not has_table(con, "faithfulness"):
        return None
    table = con.execute("SELECT * FROM faithfulness WHERE run_id = $r ORDER BY n", {"r": run_id}).df()
    return None if table.empty else table


def report_annotations(
    con: duckdb.DuckDBPyConnection, run_id: str, requested: list[str] | None = None
) -> list[str]:
    """The annotation types the report shows: ``requested`` (in that order) or the defaults the run's
    stats have; when the stats have none of the defaults, every tested type but ``chain``."""
    tested = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT annotation FROM head_enrichment WHERE run_id = $r ORDER BY 1", {"r": run_id}
        ).fetchall()
    ]
    if requested:
        return [a for a in requested if a in tested]
    defaults = [a for a in DEFAULT_ANNOTATIONS if a in tested]
    return defaults or [a for a in tested if a != "chain"]


@dataclass(frozen=True)
class RunInfo:
    """What the report's header says about a run (from the ``runs`` view, ``predictions`` and, when the
    store is at hand, the run manifest)."""

    run_id: str
    release: str | None
    target: str | None
    model: str  # directory name (type, layers × heads), or the weights' sha256 prefix
    model_sha256: str | None
    steps: str | None
    tolerance: float | None
    method: str  # quadrature, derivative, precision
    proteins: int
    classes: list[tuple[str, int]]  # (class, proteins), most first
    within_tolerance: int | None  # proteins whose head error is within the tolerance (None: not estimated)
    started: str | None
    finished: str | None


def run_info(
    con: duckdb.DuckDBPyConnection, run_id: str, layers: int, heads: int, manifest: RunManifest | None = None
) -> RunInfo:
    row = con.execute(
        """SELECT release, target, model_sha256, steps, tolerance, method, derivative, precision, proteins,
                  started, finished FROM runs WHERE run_id = $r""",
        {"r": run_id},
    ).fetchone()
    release, target, sha, steps, tolerance, method, derivative, precision, proteins, started, finished = row
    model = (manifest.model if manifest is not None else None) or ModelRecord()
    name = (model.path or "").rstrip("/").split("/")[-1] or (f"sha256 {sha[:12]}" if sha else "?")
    kind = f"{model.model_type}, " if model.model_type else ""
    classes = [
        (str(c), int(k))
        for c, k in con.execute(
            "SELECT target_name, count(*) FROM predictions WHERE run_id = $r GROUP BY 1 ORDER BY 2 DESC, 1",
            {"r": run_id},
        ).fetchall()
    ]
    accuracy = integration_accuracy(con, run_id)
    within = None
    if accuracy.tolerance is not None and accuracy.errors.size:
        within = int((accuracy.errors <= accuracy.tolerance).sum())
    return RunInfo(
        run_id=run_id,
        release=release,
        target=target,
        model=f"{name} ({kind}{layers} layers × {heads} heads)",
        model_sha256=sha,
        steps=steps,
        tolerance=tolerance,
        method=", ".join(str(v) for v in (method, derivative, precision) if v) or "not recorded",
        proteins=int(proteins or sum(k for _, k in classes)),
        classes=classes,
        within_tolerance=within,
        started=started,
        finished=finished,
    )


FINDINGS_SQL = """
SELECT e.annotation, e.class, e.layer, e.head, e.n, e.p_adj, e.aa_p_adj, e.aa_significant, e.overlay,
       median(s.r) AS median_r, median(s.rra) AS median_rra
FROM head_enrichment e
JOIN predictions p ON p.run_id = e.run_id AND p.target_name = e.class
JOIN protein_head_scores s ON s.run_id = e.run_id AND s.accession = p.accession
     AND s.annotation = e.annotation AND s.layer = e.layer AND s.head = e.head
WHERE e.run_id = $run_id AND e.significant
GROUP BY ALL
"""

CELLS_SQL = """
SELECT annotation, class, max(n) AS n, count(*) FILTER (WHERE testable) AS tested,
       count(*) FILTER (WHERE significant) AS r, count(*) FILTER (WHERE aa_significant) AS aa,
       count(*) FILTER (WHERE overlay) AS overlay
FROM head_enrichment WHERE run_id = $run_id GROUP BY ALL
"""


@dataclass(frozen=True)
class Findings:
    """The significant heads worth listing, and what was left out of the list and why."""

    heads: pd.DataFrame  # FINDINGS_SQL columns, sorted: annotation (shown order), class, p_adj, −median r
    not_positive: int  # significant (BH) heads whose median r ≤ 0 (not enrichment)
    small_n: int  # significant heads of cells with n < MIN_N
    cells: pd.DataFrame  # CELLS_SQL per class × annotation, with ``status``


def findings(con: duckdb.DuckDBPyConnection, run_id: str, annotations: list[str]) -> Findings:
    """Significant heads (Wilcoxon of r, BH) of the shown annotations with n ≥ MIN_N and median r > 0."""
    order = {a: i for i, a in enumerate(annotations)}
    heads = con.execute(FINDINGS_SQL, {"run_id": run_id}).df()
    heads = heads[heads["annotation"].isin(annotations)]
    small = heads["n"] < MIN_N
    not_positive = ~small & ~(heads["median_r"] > 0)
    listed = heads[~small & ~not_positive].assign(_order=lambda t: t["annotation"].map(order))
    listed = listed.sort_values(
        ["_order", "class", "p_adj", "median_r", "layer", "head"],
        ascending=[True, True, True, False, True, True],
    ).drop(columns="_order")
    cells = con.execute(CELLS_SQL, {"run_id": run_id}).df()
    cells = cells[cells["annotation"].isin(annotations)].assign(_order=lambda t: t["annotation"].map(order))
    cells = cells.sort_values(["_order", "class"]).drop(columns="_order").reset_index(drop=True)
    cells["status"] = [
        "no annotated proteins" if n == 0 else (f"n < {MIN_N}: not interpreted" if n < MIN_N else "shown")
        for n in cells["n"].fillna(0).astype(int)
    ]
    return Findings(listed.reset_index(drop=True), int(not_positive.sum()), int(small.sum()), cells)
