"""Attribution vs attention per head, for the report's section (``protxai report --attention-run ATT``).

``ATT`` is the attention baseline of the report's run RUN: ``protxai analyze --run RUN --attention-run ATT``
writes the attention each token receives, per layer and head, for RUN's proteins as a pseudo-run, and
``protxai stats --run ATT`` tests it exactly like an attribution run. Per class × annotation × head:

- ``mean_r`` / ``attention_mean_r``: the mean point-biserial r of each run over the proteins paired in both
  (same accession and CRC64, r defined in both), and ``mean_difference`` Δr = r(RUN) − r(ATT) with its 95 %
  percentile bootstrap interval: ``protxai_ray.stats.compare.compare_runs(con, RUN, ATT, annotations)``,
  the ``head_comparison`` rows that ``protxai stats --run RUN --control-run ATT`` writes (same seed and
  resamples), computed in memory here (the report writes nothing to the store);
- ``significant`` / ``attention_significant``: the head is significant in that run's own
  ``head_enrichment`` (Wilcoxon of r > 0, BH per class × annotation);

and per class × annotation the number of significant heads in each run and in both, the heads whose Δr
interval lies above / below 0, and the Spearman rank correlation across heads of the two mean-r vectors
(``scipy.stats.spearmanr`` over the heads with both means defined; NaN with fewer than 3 such heads or a
constant vector).

``check_attention_run`` refuses, with one line each, an attention run that is not in the store, a run that
is not an attention pseudo-run, one made from another run than the report's (manifest ``method.source_run``)
and one without stats for the shown annotations (naming the ``protxai stats`` command that adds them).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from protxai_ray.errors import RunError
from protxai_ray.report.data import MIN_N
from protxai_ray.store.manifest import RunManifest

# protxai_ray.analyses.attention.METHOD, the manifest's method.method of an attention pseudo-run (not
# imported: the report never loads protxai_ray.analyses, which runs models).
ATTENTION_METHOD = "attention"

HEAD_COLUMNS = [
    "class",
    "annotation",
    "layer",
    "head",
    "n",
    "mean_r",
    "attention_mean_r",
    "mean_difference",
    "ci_low",
    "ci_high",
    "significant",
    "attention_significant",
]
CELL_COLUMNS = [
    "class",
    "annotation",
    "n",
    "heads",
    "significant",
    "attention_significant",
    "both",
    "spearman_rho",
    "spearman_p",
    "above_zero",
    "below_zero",
    "status",
]


@dataclass(frozen=True)
class AttentionComparison:
    """The report run vs its attention pseudo-run (module docstring): ``heads`` (``HEAD_COLUMNS``, per
    class × annotation × head; within a cell the largest Δr first) and ``cells`` (``CELL_COLUMNS``, per
    class × annotation in the shown annotations' order, then class)."""

    run_id: str
    attention_run: str
    measure: str | None  # the pseudo-run's method.measure: received or confident
    heads: pd.DataFrame
    cells: pd.DataFrame


def check_attention_run(
    con: duckdb.DuckDBPyConnection, store, run_id: str, attention_run: str, annotations: list[str]
) -> RunManifest:
    """The manifest of ``attention_run`` if it is the attention pseudo-run of ``run_id`` with stats for
    every one of ``annotations``; RunError (one line, with the command that fixes it) otherwise."""
    from protxai_ray.store.fs import open_store
    from protxai_ray.store.runs import read_run_manifest

    st = open_store(store)
    uri = shlex.quote(st.uri)
    make = f"`protxai analyze --store {uri} --run {run_id} --attention-run {attention_run}`"
    manifest = read_run_manifest(st, attention_run)  # StoreError (one line) when corrupt
    if manifest is None:
        raise RunError(f"attention run {attention_run!r} not found in the store; make it with {make}")
    method = manifest.method or {}
    if method.get("method") != ATTENTION_METHOD:
        raise RunError(
            f"run {attention_run!r} is not an attention run (its manifest's method is "
            f"{method.get('method')!r}); make the attention run of {run_id} with {make}"
        )
    source = method.get("source_run")
    if source != run_id:
        raise RunError(
            f"attention run {attention_run!r} was made from run {source!r}, not from {run_id!r}: "
            f"compare it in the report of {source}, or make the attention run of {run_id} with {make}"
        )
    scored = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT annotation FROM protein_head_scores WHERE run_id = $r ORDER BY 1",
            {"r": attention_run},
        ).fetchall()
    ]
    missing = [a for a in annotations if a not in scored]
    if missing:
        wanted = ",".join(list(annotations) + [a for a in scored if a not in annotations])
        stats = f"`protxai stats --store {uri} --run {attention_run} --annotations {shlex.quote(wanted)}`"
        what = "no stats yet" if not scored else f"no stats for {', '.join(missing)}"
        raise RunError(f"attention run {attention_run!r} has {what}: run {stats}, then the report again")
    return manifest


def spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Spearman ρ and its two-sided p (``scipy.stats.spearmanr``) over the entries where both are finite;
    (NaN, NaN) with fewer than 3 such entries or when either vector is constant there."""
    from scipy import stats

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan"), float("nan")
    result = stats.spearmanr(a[ok], b[ok])
    return float(result.statistic), float(result.pvalue)


def _significant(con, run_id: str, annotations: list[str]) -> set[tuple[str, str, int, int]]:
    rows = con.execute(
        """SELECT class, annotation, layer, head FROM head_enrichment
           WHERE run_id = $r AND significant AND list_contains($a::VARCHAR[], annotation)""",
        {"r": run_id, "a": list(annotations)},
    ).fetchall()
    return {(str(c), str(a), int(layer), int(head)) for c, a, layer, head in rows}


def attention_comparison(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    attention_run: str,
    annotations: list[str],
    measure: str | None = None,
) -> AttentionComparison:
    """Per class × annotation × head, ``run_id`` vs ``attention_run`` (module docstring); both need
    ``protein_head_scores`` and ``head_enrichment`` for ``annotations`` (``check_attention_run``)."""
    from protxai_ray.stats.compare import compare_runs

    table = compare_runs(con, run_id, attention_run, annotations).table.to_pandas()
    table = table.rename(columns={"control_mean_r": "attention_mean_r"})
    ours = _significant(con, run_id, annotations)
    theirs = _significant(con, attention_run, annotations)
    keys = list(
        zip(
            table["class"].astype(str),
            table["annotation"].astype(str),
            table["layer"].astype(int),
            table["head"].astype(int),
            strict=True,
        )
    )
    table["significant"] = [key in ours for key in keys]
    table["attention_significant"] = [key in theirs for key in keys]
    order = {a: i for i, a in enumerate(annotations)}
    table = table.assign(_order=table["annotation"].map(order)).sort_values(
        ["_order", "class", "mean_difference", "layer", "head"],
        ascending=[True, True, False, True, True],
        na_position="last",
    )
    heads = table[HEAD_COLUMNS].reset_index(drop=True)
    cells = []
    for (cls, annotation), cell in heads.groupby(["class", "annotation"], sort=False):
        mine = {k[2:] for k in ours if k[:2] == (cls, annotation)}
        other = {k[2:] for k in theirs if k[:2] == (cls, annotation)}
        rho, p = spearman(cell["mean_r"].to_numpy(), cell["attention_mean_r"].to_numpy())
        n = int(cell["n"].max())
        cells.append(
            {
                "class": cls,
                "annotation": annotation,
                "n": n,
                "heads": len(cell),
                "significant": len(mine),
                "attention_significant": len(other),
                "both": len(mine & other),
                "spearman_rho": rho,
                "spearman_p": p,
                "above_zero": int((cell["ci_low"] > 0).sum()),
                "below_zero": int((cell["ci_high"] < 0).sum()),
                "status": "shown" if n >= MIN_N else f"n < {MIN_N}: not interpreted",
            }
        )
    return AttentionComparison(
        run_id, attention_run, measure, heads, pd.DataFrame(cells, columns=CELL_COLUMNS)
    )
