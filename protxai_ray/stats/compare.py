"""Trained vs control: paired per-head effect sizes with bootstrap confidence intervals (``compare_runs``).

Counting significant heads in two runs says little (the counts depend on n, on BH families and on the
composition a control's relevance follows; docs/method.md "Comparing two runs"). Instead, for two runs on
the same proteins — a model and its control, e.g. a shuffled-label model — each protein gives a paired
difference per (class, annotation, layer, head):

    d_i = r_i(run) − r_i(control)        (r = protein_head_scores.r of each run's ``protxai stats``)

and the table ``head_comparison`` reports n, mean r of each run, the mean difference and its percentile
bootstrap confidence interval; the same for the composition-adjusted r (``aa_*``).

Pairing: a protein is paired when both runs attributed the same sequence (same accession and CRC64 in
``predictions``); its class is the class it was attributed for in ``run_id``. A head's n counts the paired
proteins whose r is defined in both runs (r is NULL for a constant track).

Bootstrap (percentile): for each (class, annotation) the cell's proteins P (sorted by accession, every
protein with a pair for any head; n_P of them) are resampled with replacement ``resamples`` times,

    idx = numpy.random.default_rng([seed, zlib.crc32(f"{class}\\t{annotation}".encode())])
              .integers(0, n_P, size=(resamples, n_P))

(the same resamples for every head of the cell, so the CIs of its heads are paired too). A head's mean
difference in resample b is the mean of d over the resampled proteins that have a d for that head (all of
them when no r is NULL: then it is ``d[idx[b]].mean()``), and the CI is ``numpy.percentile`` (linear) of
those means at (1 − confidence)/2 and (1 + confidence)/2. n < 2 gives no CI (NULL).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from protxai_ray.errors import RunError
from protxai_ray.store.schemas import STATS_TABLES

TABLE = "head_comparison"
MIN_RESAMPLES = 1000

_PAIRED_SCORES = """
WITH run_proteins AS (
    SELECT accession, any_value(target_name) AS class, any_value(crc64) AS crc64
    FROM predictions WHERE run_id = $run_id GROUP BY accession
),
control_proteins AS (
    SELECT accession, any_value(crc64) AS crc64 FROM predictions WHERE run_id = $control_run_id GROUP BY accession
),
paired AS (
    SELECT r.accession, r.class
    FROM run_proteins AS r JOIN control_proteins AS c ON c.accession = r.accession AND c.crc64 = r.crc64
)
SELECT p.class, s.annotation, s.accession, s.layer, s.head,
       s.r, c.r AS control_r, s.r_aa_adjusted AS aa, c.r_aa_adjusted AS control_aa
FROM protein_head_scores AS s
JOIN protein_head_scores AS c
  ON c.accession = s.accession AND c.annotation = s.annotation AND c.layer = s.layer AND c.head = s.head
JOIN paired AS p ON p.accession = s.accession
WHERE s.run_id = $run_id AND c.run_id = $control_run_id
  AND (len($annotations::VARCHAR[]) = 0 OR list_contains($annotations::VARCHAR[], s.annotation))
  AND (len($classes::VARCHAR[]) = 0 OR list_contains($classes::VARCHAR[], p.class))
ORDER BY p.class, s.annotation, s.accession, s.layer, s.head
"""


@dataclass
class RunComparison:
    """What ``compare_runs`` computed: the ``head_comparison`` rows, notes, and the path written."""

    run_id: str
    control_run_id: str
    table: pa.Table
    proteins: int  # paired proteins with at least one pair of scores
    notes: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


def cell_rng(seed: int, cls: str, annotation: str) -> np.random.Generator:
    """The generator of one (class, annotation) cell's resamples (independent of the other cells)."""
    return np.random.default_rng([seed, zlib.crc32(f"{cls}\t{annotation}".encode())])


def resample_counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """(resamples, n) float64: how often each of the n proteins is drawn in each resample, from
    ``rng.integers(0, n, size=(resamples, n))``."""
    idx = rng.integers(0, n, size=(resamples, n))
    offsets = (np.arange(resamples, dtype=np.int64) * n)[:, None]
    return (
        np.bincount((idx + offsets).ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)
    )


def bootstrap_means(
    values: np.ndarray, counts: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``values`` (proteins × heads, NaN = no value): n, mean, CI low, CI high.

    Each resample's mean is the mean over its drawn proteins that have a value (``counts`` from
    ``resample_counts``); the CI is the percentile interval of those means. n < 2 → NaN CI."""
    valid = ~np.isnan(values)
    n = valid.sum(axis=0)
    filled = np.where(valid, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        boot = (counts @ filled) / (counts @ valid.astype(np.float64))
    tail = (1.0 - confidence) / 2.0 * 100.0
    low = np.full(values.shape[1], np.nan)
    high = np.full(values.shape[1], np.nan)
    ok = n >= 2
    if ok.any():
        low[ok], high[ok] = np.nanpercentile(boot[:, ok], [tail, 100.0 - tail], axis=0)
    return n, mean, low, high


def _nullable(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, mask=np.isnan(values))


def _cell_rows(
    cls: str,
    annotation: str,
    rows: dict[str, np.ndarray],
    resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, np.ndarray | list]:
    accessions, protein = np.unique(rows["accession"], return_inverse=True)
    heads, head_index = np.unique(
        np.stack([rows["layer"], rows["head"]], axis=1), axis=0, return_inverse=True
    )
    head_index = head_index.reshape(-1)

    def dense(values: np.ndarray) -> np.ndarray:
        out = np.full((len(accessions), len(heads)), np.nan)
        out[protein, head_index] = values
        return out

    run_r, control_r = dense(rows["r"]), dense(rows["control_r"])
    both = ~np.isnan(run_r) & ~np.isnan(control_r)
    difference = np.where(both, run_r - control_r, np.nan)
    aa_difference = dense(rows["aa"]) - dense(rows["control_aa"])  # NaN where either is NULL
    counts = resample_counts(cell_rng(seed, cls, annotation), len(accessions), resamples)
    n, mean, low, high = bootstrap_means(difference, counts, confidence)
    aa_n, aa_mean, aa_low, aa_high = bootstrap_means(aa_difference, counts, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r = np.where(both, run_r, 0.0).sum(axis=0) / n
        control_mean_r = np.where(both, control_r, 0.0).sum(axis=0) / n
    size = len(heads)
    return {
        "class": [cls] * size,
        "annotation": [annotation] * size,
        "layer": heads[:, 0],
        "head": heads[:, 1],
        "n": n,
        "mean_r": mean_r,
        "control_mean_r": control_mean_r,
        "mean_difference": mean,
        "ci_low": low,
        "ci_high": high,
        "aa_n": aa_n,
        "aa_mean_difference": aa_mean,
        "aa_ci_low": aa_low,
        "aa_ci_high": aa_high,
    }


def _connect(con_or_store, store):
    if isinstance(con_or_store, duckdb.DuckDBPyConnection):
        return con_or_store, store
    from protxai_ray.store.duck import connect
    from protxai_ray.store.fs import open_store

    store = open_store(con_or_store)
    return connect(store), store


def _release(con, run_id: str) -> str | None:
    try:
        row = con.execute("SELECT release FROM runs WHERE run_id = ?", [run_id]).fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


def comparison_path(run_id: str, control_run_id: str) -> str:
    """Store-relative path of the comparison of ``run_id`` against ``control_run_id``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", control_run_id)
    return f"runs/run_id={run_id}/stats/{TABLE}/control-{safe}.parquet"


def compare_runs(
    con_or_store,
    run_id: str,
    control_run_id: str,
    annotations: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    store=None,
) -> RunComparison:
    """``head_comparison`` of ``run_id`` against ``control_run_id`` from both runs' ``protein_head_scores``
    (run ``protxai stats`` on both first, with the annotations to compare).

    ``con_or_store``: a store URI / ``Store`` (connected and written to), or a DuckDB connection with the
    store views (written to ``store`` if given). Written to
    ``runs/run_id=RUN/stats/head_comparison/control-CONTROL.parquet`` (one file per control; the
    ``head_comparison`` view holds them all). ``annotations`` / ``classes`` restrict the cells (None =
    every annotation scored in both runs, every class). ``resamples`` ≥ 1000 protein resamples per
    (class, annotation), seeded by ``seed`` (module docstring). Raises RunError when either run has no
    ``protein_head_scores`` or the runs share no scored protein.
    """
    if resamples < MIN_RESAMPLES:
        raise ValueError(f"resamples must be >= {MIN_RESAMPLES} (got {resamples})")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence})")
    if run_id == control_run_id:
        raise RunError(f"run {run_id!r} compared with itself: pass the control run's id")
    con, store = _connect(con_or_store, store)
    for rid in (run_id, control_run_id):
        if (
            con.execute("SELECT 1 FROM protein_head_scores WHERE run_id = ? LIMIT 1", [rid]).fetchone()
            is None
        ):
            raise RunError(
                f"run {rid!r} has no protein_head_scores: run `protxai stats --run {rid}` (same annotations) "
                "before comparing"
            )
    params = {
        "run_id": run_id,
        "control_run_id": control_run_id,
        "annotations": list(annotations or []),
        "classes": list(classes or []),
    }
    scores = con.execute(_PAIRED_SCORES, params).to_arrow_table()
    if scores.num_rows == 0:
        raise RunError(
            f"runs {run_id!r} and {control_run_id!r} share no scored protein (same accession and CRC64) "
            "for the requested annotations/classes"
        )
    column = {name: scores.column(name).to_numpy(zero_copy_only=False) for name in scores.column_names}
    for name in ("r", "control_r", "aa", "control_aa"):
        column[name] = np.asarray(scores.column(name).to_pandas(), dtype=np.float64)  # NULL → NaN
    keys = np.char.add(np.char.add(column["class"].astype(str), "\t"), column["annotation"].astype(str))
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    parts: list[dict] = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        cell = {name: values[start:end] for name, values in column.items()}
        parts.append(
            _cell_rows(str(cell["class"][0]), str(cell["annotation"][0]), cell, resamples, seed, confidence)
        )
    schema = STATS_TABLES[TABLE]
    merged = {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in parts[0]}
    size = len(merged["class"])
    data = {
        "run_id": [run_id] * size,
        "control_run_id": [control_run_id] * size,
        **{
            name: (_nullable(values) if values.dtype.kind == "f" else values)
            for name, values in merged.items()
        },
        "resamples": [resamples] * size,
        "confidence": [confidence] * size,
        "seed": [seed] * size,
    }
    table = pa.table({name: data[name] for name in schema.names}).cast(schema)
    comparison = RunComparison(
        run_id=run_id,
        control_run_id=control_run_id,
        table=table,
        proteins=len(np.unique(column["accession"])),
    )
    releases = {_release(con, run_id), _release(con, control_run_id)}
    if len(releases) > 1 and None not in releases:
        comparison.notes.append(
            f"the runs attributed different releases ({', '.join(sorted(releases))}): their masks may differ"
        )
    requested = set(annotations or [])
    missing = sorted(requested - set(column["annotation"].astype(str).tolist()))
    if missing:
        comparison.notes.append(
            f"annotation(s) {', '.join(missing)}: not scored in both runs (run stats with them on both)"
        )
    if store is not None:
        from protxai_ray.store.parquet import write_parquet_atomic

        relpath = comparison_path(run_id, control_run_id)
        write_parquet_atomic(store, relpath, table, schema)
        comparison.written.append(relpath)
    return comparison
