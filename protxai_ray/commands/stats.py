"""`protxai stats --store S --run ID [--annotations a,b] [--classes c,d]`: the stats tables of a run.

Computes them with DuckDB (``protxai_ray.stats.compute_stats``), writes them under
``S/runs/run_id=ID/stats/`` and prints a short summary: cells tested, significant heads per class ×
annotation, the top 5 heads per annotation, and notes on what was not testable.

An unfinished run (interrupted or still running: its manifest's ``finished`` is null) is refused unless
``--allow-partial``; its stats then say ``partial run`` in the summary and in each table's Parquet metadata
(``protxai.partial``).
"""

from __future__ import annotations

import argparse

from protxai_ray.errors import check_run_id
from protxai_ray.stats import StatsSummary, compute_stats

HELP = "compute the stats tables of a run (Wilcoxon/t-test enrichment per head, BH-FDR) with DuckDB"


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()] or None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument(
        "--run", required=True, metavar="ID", help="run id (as printed by `protxai attribute`)"
    )
    parser.add_argument(
        "--annotations",
        help="comma-separated annotation types (feature types, or the controls hydrophobic, positive, "
        "tm_hydrophobic, tm_positive); default: all",
    )
    parser.add_argument("--classes", help="comma-separated classes (predictions.target_name); default: all")
    parser.add_argument(
        "--include-unconverged",
        action="store_true",
        help="keep proteins whose estimated head error exceeds the run's tolerance (default: left out)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--control-run",
        metavar="ID",
        help="also compare with this control run (its stats first): paired per-protein Δr per head with "
        "95 %% bootstrap intervals, written as head_comparison",
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="compute the stats of an unfinished run's committed proteins (labelled partial; default: refused)",
    )


MAX_NOTES = 3


def format_summary(summary: StatsSummary) -> str:
    """The lines printed by the command: a bounded summary whatever the number of proteins, classes and
    annotations (the full results are the stats tables; ``protxai query`` or ``protxai report`` show them)."""
    lines = [
        f"run_id={summary.run_id} release={summary.release} proteins={summary.proteins} "
        f"classes={len(summary.classes)} annotations={len(summary.annotations)}; "
        f"head cells tested: {summary.cells_tested} (not testable: {summary.cells_untestable})",
    ]
    if summary.partial:
        lines.append(f"PARTIAL: run {summary.run_id} is unfinished ({summary.partial})")
    if summary.tolerance is not None:
        if summary.excluded:
            worst = ", ".join(f"{a} ({e:.3g})" for a, e in summary.excluded[:5])
            more = f" and {len(summary.excluded) - 5} more" if len(summary.excluded) > 5 else ""
            lines.append(
                f"excluded {len(summary.excluded)} protein(s) with head error above the run's tolerance "
                f"{summary.tolerance:g}: {worst}{more}"
            )
        else:
            lines.append(f"every protein's head error is within the run's tolerance {summary.tolerance:g}")
    found = {key: count for key, count in summary.significant.items() if count}
    cells = ", ".join(f"{cls} × {annotation}: {count}" for (cls, annotation), count in sorted(found.items()))
    lines.append(f"significant heads (BH p_adj < 0.05): {cells or 'none'}")
    for annotation, rows in summary.top_heads.items():
        rows = [row for row in rows if row["significant"]][:3]
        if rows:
            best = "; ".join(
                f"class={row['class']} layer={row['layer']} head={row['head']} n={row['n']} "
                f"p_adj={row['p_adj']:.3g}"
                for row in rows
            )
            lines.append(f"top heads for {annotation}: {best}")
    notes = summary.notes
    lines += [f"note: {note}" for note in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        lines.append(f"note: ... and {len(notes) - MAX_NOTES} more (cells without a p say why in column 'note')")
    if summary.written:
        where = summary.written[0].rsplit("/", 2)[0]
        lines.append(f"wrote {len(summary.written)} stats tables under {where}/")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    check_run_id(args.run, "--run")
    if args.control_run:
        check_run_id(args.control_run, "--control-run")
    summary = compute_stats(
        args.store,
        args.run,
        annotations=_names(args.annotations),
        classes=_names(args.classes),
        include_unconverged=args.include_unconverged,
        allow_partial=args.allow_partial,
        progress=not args.no_progress,
    )
    print(format_summary(summary))
    if args.control_run:
        from protxai_ray.stats.compare import compare_runs

        comparison = compare_runs(args.store, args.run, args.control_run, _names(args.annotations))
        print(format_comparison(comparison))
    return 0


def format_comparison(comparison) -> str:
    """One line per (class, annotation): heads whose paired Δr interval lies above 0, best first."""
    rows = comparison.table.to_pylist()
    lines = [
        f"vs control {comparison.control_run_id}: {comparison.proteins} paired proteins; "
        "heads whose 95 % bootstrap interval of the mean paired Δr lies above 0 (best first):"
    ]
    cells: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        cells.setdefault((row["class"], row["annotation"]), []).append(row)
    for (cls, annotation), heads in sorted(cells.items()):
        above = sorted(
            (h for h in heads if h["ci_low"] is not None and h["ci_low"] > 0),
            key=lambda h: -h["mean_difference"],
        )
        best = ", ".join(
            f"L{h['layer']}H{h['head']} {h['mean_difference']:.3f} [{h['ci_low']:.3f}, {h['ci_high']:.3f}]"
            for h in above[:3]
        )
        lines.append(f"  {cls} × {annotation}: {len(above)} of {len(heads)}{'; ' + best if best else ''}")
    lines += [f"note: {note}" for note in comparison.notes[:MAX_NOTES]]
    return "\n".join(lines)
