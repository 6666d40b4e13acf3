"""The statistics of one run on a DuckDB connection: masks → scores → tests → tables (Arrow).

Heavy per-position work (masks, per protein × head sums, ranking, signed ranks, BH) runs in DuckDB as
the named statements of ``masks.sql``, ``scores.sql`` and ``enrichment.sql``; only the per-cell
p-value transforms (``wilcoxon.py``, ``ttest.py``) run in numpy. Intermediate tables are TEMP tables
named ``stats_*`` on the given connection.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from protxai_ray.stats.sql import query
from protxai_ray.stats.ttest import ttest_greater
from protxai_ray.stats.wilcoxon import signed_rank_greater
from protxai_ray.store.schemas import STATS_TABLES

_LEVELS = {"head": "head_track", "residue": "residue_track"}

# ECO codes counted as experimental evidence by ``T:experimental`` annotations (docs/method.md): UniProt's
# "experimental evidence used in manual assertion" (the only experimental code of UniProtKB features) and
# the experimental codes of GO-style annotation (direct assay, mutant phenotype, genetic and physical
# interaction, expression pattern, and the root "experimental evidence").
EXPERIMENTAL_EVIDENCE = (
    "ECO:0000269",
    "ECO:0000006",
    "ECO:0000314",
    "ECO:0000315",
    "ECO:0000316",
    "ECO:0000353",
    "ECO:0000270",
)
# Annotation types reported as negative controls: tested whenever the run's proteins carry them, with the
# note "negative control" in the output and a residue-level BH family of their own.
NEGATIVE_CONTROLS = ("signal",)
# The tables ``compute_stats`` writes (``head_comparison`` is written by ``compare_runs``).
RUN_STATS_TABLES = (
    "protein_head_scores",
    "protein_residue_scores",
    "head_enrichment",
    "residue_enrichment",
    "head_positivity",
)


def build_masks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    release: str,
    annotations: list[str],
    classes: list[str],
    excluded: list[str] | None = None,
) -> None:
    """stats_run_proteins, stats_annotation_mask, stats_annotation_sizes ([] = no filter); ``excluded``
    accessions are left out of every statistic. An annotation ``T:experimental`` / ``T:predicted`` keeps
    the features of type T with / without an experimental ECO code (``EXPERIMENTAL_EVIDENCE``)."""
    con.execute(
        query("masks.sql", "run_proteins"),
        {"run_id": run_id, "release": release, "classes": classes, "excluded": list(excluded or [])},
    )
    con.execute(query("masks.sql", "residue_types"))
    columns = {d[0] for d in con.execute("SELECT * FROM annotations LIMIT 0").description}
    evidence = "a.evidence" if "evidence" in columns else "NULL::VARCHAR"  # stores from before the column
    con.execute(
        query("masks.sql", "annotation_mask").replace("{evidence}", evidence),
        {"release": release, "annotations": annotations, "experimental_codes": list(EXPERIMENTAL_EVIDENCE)},
    )
    con.execute(query("masks.sql", "annotation_sizes"))
    con.execute(query("masks.sql", "annotation_residues"))


def protein_batches(con: duckdb.DuckDBPyConnection, proteins_per_batch: int) -> list[tuple[str, str]]:
    """Contiguous accession ranges (first, last) of at most ``proteins_per_batch`` run proteins."""
    accessions = [
        row[0] for row in con.execute("SELECT accession FROM stats_run_proteins ORDER BY 1").fetchall()
    ]
    return [
        (accessions[i], accessions[min(i + proteins_per_batch, len(accessions)) - 1])
        for i in range(0, len(accessions), proteins_per_batch)
    ]


def build_scores(
    con: duckdb.DuckDBPyConnection, run_id: str, proteins_per_batch: int = 64, *, progress: bool = False
) -> None:
    """stats_{head,residue}_totals and stats_protein_{head,residue}_scores, one protein batch at a time
    (64 ProtBert-sized proteins ≈ 11 M head rows per batch); ``progress``: a bar over the batch passes."""
    from tqdm import tqdm

    batches = protein_batches(con, proteins_per_batch)
    bar = tqdm(
        total=2 * len(_LEVELS) * len(batches),
        desc=f"stats {run_id}",
        unit="batch",
        disable=not progress,
        dynamic_ncols=True,
    )
    for level, track_name in _LEVELS.items():
        track = query("scores.sql", track_name)
        totals, annotated = f"stats_{level}_totals", f"stats_{level}_annotated"
        moments = f"stats_{level}_moments"
        for name, table in (("track_residue_moments", moments), ("track_annotated", annotated)):
            sql = query("scores.sql", name).replace("{track}", track)
            for index, (first, last) in enumerate(batches):
                into = f"CREATE OR REPLACE TEMP TABLE {table} AS " if index == 0 else f"INSERT INTO {table} "
                con.execute(into + sql, {"run_id": run_id, "first": first, "last": last})
                bar.set_postfix_str(f"{level} {name.removeprefix('track_')}", refresh=False)
                bar.update(1)
        con.execute(
            query("scores.sql", "track_totals").replace("{totals}", totals).replace("{moments}", moments)
        )
        sql = (
            query("scores.sql", "protein_scores")
            .replace("{table}", f"stats_protein_{level}_scores")
            .replace("{annotated}", annotated)
            .replace("{totals}", totals)
            .replace("{moments}", moments)
        )
        con.execute(sql)
        con.execute(f"DROP TABLE {annotated}")
        con.execute(f"DROP TABLE {moments}")
    bar.close()


def _notes(n: np.ndarray, n_nonzero: np.ndarray, test: np.ndarray) -> list[str | None]:
    notes: list[str | None] = []
    for count, nonzero, kind in zip(n.tolist(), n_nonzero.tolist(), test.tolist(), strict=True):
        if count == 0:
            notes.append("no proteins with values" if kind == "head_positivity" else "no annotated proteins")
        elif count < 2:
            notes.append("n < 2")
        elif nonzero == 0:
            notes.append("all values are zero")
        else:
            notes.append(None)
    return notes


def _adjust(con: duckdb.DuckDBPyConnection, table: str, cells: np.ndarray, family: np.ndarray, p: np.ndarray):
    pvalues = pa.table({"cell": cells, "family": family, "p": pa.array(p, mask=np.isnan(p))})
    con.register("stats_pvalues", pvalues)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS {query('enrichment.sql', 'benjamini_hochberg')}"
        )
    finally:
        con.unregister("stats_pvalues")


def run_tests(
    con: duckdb.DuckDBPyConnection,
    annotation_types: list[str],
    negative_controls: tuple[str, ...] | list[str] = NEGATIVE_CONTROLS,
) -> None:
    """stats_cells … stats_cell_results: Wilcoxon (+ t-test overlay) per cell, BH per family.

    Families (``enrichment.sql``): per-head tests, class × annotation; residue-level tests, class over
    ``annotation_types`` except ``negative_controls`` (which form their own family), so what else the
    store holds never enters a family."""
    controls = list(negative_controls)
    con.execute(
        query("enrichment.sql", "cells"),
        {"annotation_types": annotation_types, "negative_controls": controls},
    )
    con.execute(query("enrichment.sql", "test_values"))
    con.execute(query("enrichment.sql", "signed_ranks"))
    ranks = con.execute(
        "SELECT r.*, c.test FROM stats_signed_ranks AS r JOIN stats_cells AS c USING (cell) ORDER BY cell"
    ).to_arrow_table()
    column = {name: ranks.column(name).to_numpy(zero_copy_only=False) for name in ranks.column_names}
    p, method = signed_rank_greater(
        column["n"],
        column["n_nonzero"],
        column["r_plus"],
        column["tie_term"],
        column["has_ties"],
        column["ranks"],
    )
    mean = np.asarray(column["mean"], dtype=np.float64)
    sd = np.asarray(column["sd"], dtype=np.float64)
    t_statistic, t_p = ttest_greater(column["n"], mean, sd)
    is_enrichment = np.isin(column["test"], ["head_enrichment", "residue_enrichment"])
    t_statistic[~is_enrichment] = np.nan  # the seed's t-test overlay is defined for r only
    t_p[~is_enrichment] = np.nan

    def nullable(values: np.ndarray) -> pa.Array:
        return pa.array(values, mask=np.isnan(values))

    con.register(
        "stats_cell_pvalues_arrow",
        pa.table(
            {
                "cell": column["cell"],
                "p": nullable(p),
                "method": pa.array(method.tolist(), pa.string()),
                "note": pa.array(_notes(column["n"], column["n_nonzero"], column["test"]), pa.string()),
                "t_statistic": nullable(t_statistic),
                "t_p": nullable(t_p),
            }
        ),
    )
    con.execute("CREATE OR REPLACE TEMP TABLE stats_cell_pvalues AS SELECT * FROM stats_cell_pvalues_arrow")
    con.unregister("stats_cell_pvalues_arrow")
    _adjust(con, "stats_p_adjusted", column["cell"], column["family"], p)
    _adjust(con, "stats_t_p_adjusted", column["cell"], column["family"], t_p)
    con.execute(query("enrichment.sql", "cell_results"), {"negative_controls": controls})


def result_tables(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, pa.Table]:
    """The five tables of ``RUN_STATS_TABLES`` as Arrow tables with exactly their ``store.schemas`` schemas."""
    out: dict[str, pa.Table] = {}
    for name in RUN_STATS_TABLES:
        schema = STATS_TABLES[name]
        table = con.execute(query("enrichment.sql", name), {"run_id": run_id}).to_arrow_table()
        out[name] = table.select(schema.names).cast(schema)
    return out
