"""``compute_stats``: the stats tables of one run, computed in DuckDB and written to the store.

Reads only the store views (``proteins``, ``annotations``, ``predictions``, ``residues``, ``heads``,
``runs``) and writes ``runs/run_id=ID/stats/<table>/part-0.parquet`` for every table of
``protxai_ray.stats.compute.RUN_STATS_TABLES``, replacing earlier stats of that run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from protxai_ray.errors import RunError, StoreError, check_run_id
from protxai_ray.stats.compute import (
    NEGATIVE_CONTROLS,
    build_masks,
    build_scores,
    result_tables,
    run_tests,
)
from protxai_ray.store.manifest import RunManifest
from protxai_ray.store.schemas import STATS_TABLES

SIGNIFICANCE = 0.05


@dataclass
class StatsSummary:
    """What ``compute_stats`` did: sizes, significant cells, top heads, notes, and the tables."""

    run_id: str
    release: str
    proteins: int
    classes: list[str]
    annotations: list[str]
    cells_tested: int  # testable head_enrichment cells
    cells_untestable: int
    significant: dict[tuple[str, str], int]  # (class, annotation) → significant heads
    top_heads: dict[str, list[dict]]  # annotation → up to 5 rows of head_enrichment (best p_adj first)
    notes: list[str] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)
    tolerance: float | None = None  # the run's head-error goal (steps="auto"); None for fixed steps
    excluded: list[tuple[str, float]] = field(default_factory=list)  # (accession, head_error) left out
    written: list[str] = field(default_factory=list)  # store-relative paths
    partial: str | None = None  # an unfinished run's progress ("8 of 20 proteins ..."); None: finished


PARTIAL_KEY = b"protxai.partial"  # Parquet metadata of stats tables computed on an unfinished run


def unfinished(manifest: RunManifest | None) -> str | None:
    """``"8 of 20 proteins, 2 of 5 shards committed"`` for a run the pipeline started (its manifest records
    the plan, ``inputs``) and has not finished (``finished`` null: interrupted, still running, or damaged
    shards dropped for a resume); None for a finished run or a manifest without a plan."""
    if manifest is None or manifest.finished or manifest.inputs is None:
        return None
    inputs = manifest.inputs
    return (
        f"{manifest.proteins} of {inputs.get('proteins', '?')} proteins, {len(manifest.shards)} of "
        f"{inputs.get('shards', '?')} "
        "shards committed"
    )


def check_finished(
    manifest: RunManifest | None, run_id: str, *, allow_partial: bool, what: str = "stats"
) -> str | None:
    """The run's progress if it is unfinished (``unfinished``) and ``allow_partial``, None if finished;
    RunError (one line, naming ``what`` the caller would make of it) if unfinished and not allowed."""
    progress = unfinished(manifest)
    if progress and not allow_partial:
        raise RunError(
            f"run {run_id} is unfinished ({progress}); resume it (`protxai attribute ... --run-id {run_id}`) "
            f"or pass --allow-partial for {what} of the committed part only"
        )
    return progress


def _known_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    runs = {row[0] for row in con.execute("SELECT DISTINCT run_id FROM predictions").fetchall()}
    try:
        runs |= {row[0] for row in con.execute("SELECT run_id FROM runs").fetchall()}
    except duckdb.CatalogException:
        pass
    return sorted(r for r in runs if r is not None)


def _release_of(con: duckdb.DuckDBPyConnection, run_id: str, store) -> str | None:
    try:
        row = con.execute("SELECT release FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row and row[0]:
            return str(row[0])
    except duckdb.CatalogException:
        pass
    if store is not None:
        from protxai_ray.store.runs import read_run_manifest

        try:
            manifest = read_run_manifest(store, run_id)
        except StoreError:
            return None
        return manifest.release if manifest is not None and manifest.release else None
    return None


def require_attributed(con, run_id: str) -> None:
    """RunError (one line) unless run ``run_id`` has attributed proteins: unknown run, or a run whose
    proteins all failed (or that selected none)."""
    if con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchone()[0] == 0:
        known = _known_runs(con)
        if run_id in known:
            failed = con.execute("SELECT count(*) FROM failures WHERE run_id = ?", [run_id]).fetchone()[0]
            why = f"all {failed} of its proteins failed" if failed else "it has no proteins"
            raise RunError(f"run {run_id!r} has no attributed protein ({why}); nothing to compute")
        listing = ", ".join(known[:20]) if known else "none"
        raise RunError(f"run {run_id!r} not found in the store (known runs: {listing})")


def _check_run(con, run_id: str, classes: list[str]) -> None:
    require_attributed(con, run_id)
    if con.execute("SELECT 1 FROM heads WHERE run_id = ? LIMIT 1", [run_id]).fetchone() is None:
        raise RunError(f"run {run_id!r} has no head relevance (no heads rows); nothing to test per head")
    run_classes = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT target_name FROM predictions WHERE run_id = ?", [run_id]
        ).fetchall()
    }
    unknown = [c for c in classes if c not in run_classes]
    if unknown:
        raise RunError(
            f"run {run_id!r} has no proteins of class(es) {', '.join(unknown)} "
            f"(its classes: {', '.join(sorted(map(str, run_classes)))})"
        )


def unconverged_proteins(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> tuple[float | None, list[tuple[str, float]]]:
    """The run's tolerance and its proteins whose estimated head error exceeds it (worst first)."""
    try:
        row = con.execute("SELECT tolerance FROM runs WHERE run_id = ?", [run_id]).fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):
        return None, []
    tolerance = row[0] if row else None
    columns = {d[0] for d in con.execute("SELECT * FROM predictions LIMIT 0").description}
    if tolerance is None or "head_error" not in columns:
        return tolerance, []
    rows = con.execute(
        "SELECT accession, max(head_error) FROM predictions WHERE run_id = ? AND head_error > ? "
        "GROUP BY accession ORDER BY 2 DESC, 1",
        [run_id, tolerance],
    ).fetchall()
    return float(tolerance), [(str(a), float(e)) for a, e in rows]


def _summarise(summary: StatsSummary) -> None:
    heads = summary.tables["head_enrichment"].to_pylist()
    summary.cells_tested = sum(row["testable"] for row in heads)
    summary.cells_untestable = len(heads) - summary.cells_tested
    for row in heads:
        key = (row["class"], row["annotation"])
        summary.significant[key] = summary.significant.get(key, 0) + int(row["significant"])
    for annotation in summary.annotations:
        rows = [r for r in heads if r["annotation"] == annotation and r["testable"]]
        rows.sort(key=lambda r: (r["p_adj"], r["p"], -(r["statistic"] or 0), r["layer"], r["head"]))
        summary.top_heads[annotation] = rows[:5]
    for row in summary.tables["residue_enrichment"].to_pylist() + heads:
        if row["n"] == 0 and row["note"]:
            note = f"class {row['class']!r} × annotation {row['annotation']!r}: not testable ({row['note']})"
            if note not in summary.notes:
                summary.notes.append(note)
    sizes: dict[str, int] = {}
    for row in summary.tables["head_positivity"].to_pylist():
        sizes[row["class"]] = max(sizes.get(row["class"], 0), row["n"])
    for cls, n in sorted(sizes.items()):
        if n < 2:
            summary.notes.append(f"class {cls!r} has {n} protein(s) (< 2): its cells are not testable")


def write_stats(store, run_id: str, tables: dict[str, pa.Table], partial: str | None = None) -> list[str]:
    """Write each table to ``runs/run_id=ID/stats/<table>/part-0.parquet``; drop older files there.
    ``partial``: the unfinished run's progress, kept in each file's metadata (``protxai.partial``)."""
    from protxai_ray.store.runs import write_run_tables

    metadata = {PARTIAL_KEY: partial.encode()} if partial else None
    return write_run_tables(store, run_id, tables, STATS_TABLES, metadata)


def _check_files(store, run_id: str) -> None:
    """StoreError (one line) when a committed file of the run no longer matches its manifest."""
    from protxai_ray.store.runs import RunManifests
    from protxai_ray.store.verify import verify_run

    manifest = RunManifests(store).read(run_id)
    if manifest is None:
        return  # _check_run names the unknown run
    problems = verify_run(store, run_id, manifest, deep=True)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoreError(
            f"{problems[0].line(store)}{more}; `protxai verify --store {store.uri} --run {run_id}` lists "
            "them, resuming the run (`protxai attribute ... --run-id` the same) re-computes them"
        )


def compute_stats(
    con_or_store,
    run_id: str,
    annotations: list[str] | None = None,
    classes: list[str] | None = None,
    *,
    release: str | None = None,
    store=None,
    allow_partial: bool = False,
    proteins_per_batch: int = 64,
    include_unconverged: bool = False,
    negative_controls: tuple[str, ...] | list[str] = NEGATIVE_CONTROLS,
    progress: bool = False,
) -> StatsSummary:
    """Compute (and, given a store, write) the stats tables of run ``run_id`` (``progress``: a bar over the
    scoring passes, with elapsed time and ETA, on stderr).

    Given a store, an unfinished run (``unfinished``) is refused with a RunError unless ``allow_partial``;
    then its stats are labelled partial (``summary.partial``, a note, ``protxai.partial`` in the files).

    ``con_or_store``: a store URI / ``Store`` (connected with ``protxai_ray.store.duck.connect`` and
    written to), or a DuckDB connection with the store views (written to ``store`` if given, else only
    returned in ``summary.tables``). ``annotations``/``classes`` restrict the annotation types (feature
    types or controls hydrophobic, positive, tm_hydrophobic, tm_positive) and classes; None = all.
    ``release`` defaults to the run's manifest release. Tracks are scored ``proteins_per_batch``
    proteins at a time (bounds DuckDB's memory; the results do not depend on it). Proteins whose estimated
    head error exceeds the run's tolerance (``steps="auto"`` runs) are left out and listed in
    ``summary.excluded`` unless ``include_unconverged``. ``negative_controls`` (default ``signal``) are
    tested whenever a protein of the run carries them, also when ``annotations`` leaves them out; their
    cells' note says "negative control" and their residue-level cells form a BH family of their own, so
    they never change the p_adj of the requested annotations. Annotation ``T:experimental`` /
    ``T:predicted`` restricts type T to features with / without experimental ECO evidence. Raises
    RunError for an unknown run, a run without heads, or a requested class the run does not have.
    """
    if isinstance(con_or_store, duckdb.DuckDBPyConnection):
        con = con_or_store
    else:
        from protxai_ray.store.duck import connect
        from protxai_ray.store.fs import open_store

        store = open_store(con_or_store)
        con = connect(store)
    check_run_id(run_id, "run id")
    partial = None
    if store is not None:
        from protxai_ray.store.runs import RunManifests

        manifest = RunManifests(store).read(run_id)  # StoreError: corrupt run manifest
        partial = check_finished(manifest, run_id, allow_partial=allow_partial)
        _check_files(store, run_id)
    annotations = list(annotations or [])
    classes = list(classes or [])
    _check_run(con, run_id, classes)
    release = release or _release_of(con, run_id, store)
    if not release:
        raise RunError(f"run {run_id!r}: its release is unknown (no manifest release); pass release=")

    tolerance, unconverged = unconverged_proteins(con, run_id)
    excluded = [] if include_unconverged else unconverged
    controls = [c for c in negative_controls if annotations and c not in annotations]
    build_masks(con, run_id, release, annotations + controls, classes, [a for a, _ in excluded])
    proteins = con.execute("SELECT count(*) FROM stats_run_proteins").fetchone()[0]
    if proteins == 0:
        if excluded:
            raise RunError(
                f"run {run_id!r}: all {len(excluded)} proteins exceed the head-error tolerance {tolerance:g}; "
                "re-run with more nodes (--max-nodes) or pass include_unconverged / --include-unconverged"
            )
        raise RunError(f"run {run_id!r}: none of its proteins is in release {release!r} with the same CRC64")
    found = [
        r[0]
        for r in con.execute("SELECT DISTINCT annotation FROM stats_annotation_sizes ORDER BY 1").fetchall()
    ]
    annotation_types = annotations + [c for c in controls if c in found] if annotations else found
    build_scores(con, run_id, proteins_per_batch, progress=progress)
    run_tests(con, annotation_types, negative_controls)
    tables = result_tables(con, run_id)
    summary = StatsSummary(
        run_id=run_id,
        release=release,
        proteins=proteins,
        classes=[
            r[0] for r in con.execute("SELECT DISTINCT class FROM stats_run_proteins ORDER BY 1").fetchall()
        ],
        annotations=annotation_types,
        cells_tested=0,
        cells_untestable=0,
        significant={},
        top_heads={},
        tables=tables,
        tolerance=tolerance,
        excluded=excluded,
    )
    if unconverged and include_unconverged:
        summary.notes.append(
            f"{len(unconverged)} protein(s) above the head-error tolerance {tolerance:g} are included "
            f"(--include-unconverged): {', '.join(a for a, _ in unconverged[:10])}"
        )
    for missing in sorted(set(annotation_types) - set(found)):
        summary.notes.append(f"annotation {missing!r}: no protein of the run has it (not testable)")
    for control in (c for c in negative_controls if c in annotation_types and c in found):
        summary.notes.append(
            f"annotation {control!r} is tested as a negative control (its cells' note says 'negative "
            "control'; its residue-level BH family is its own)"
        )
    if partial:
        summary.partial = partial
        summary.notes.insert(0, f"partial run: {partial} (--allow-partial); these stats cover only those")
    _summarise(summary)
    if store is not None:
        summary.written = write_stats(store, run_id, tables, partial)
    return summary
