"""`protxai report --store S --run ID --out DIR`: index.html and its figures, drawn from the store's tables.

The report runs no model: faithfulness appears when `protxai analyze` has written its tables for the run.
Refused with one line, before anything is written: a run id that is not a plain name, an unreadable run
manifest, a run without attributed proteins, and an unfinished run (manifest ``finished`` null) unless
``--allow-partial`` (the report then covers the committed proteins only; the ``runs`` view's ``finished``
column and the stats files' ``protxai.partial`` metadata say so). ``--attention-run ID`` adds section
"Attribution vs attention" (``protxai_ray.report.attention``); an ID that is not in the store, is not the
attention pseudo-run of ``--run`` (its manifest's ``method.source_run``) or has no stats for the shown
annotations is refused with one line naming the command that makes it or its stats.
"""

from __future__ import annotations

import argparse
import sys

from protxai_ray.errors import check_run_id

HELP = "write a run's report (heatmaps, relevance tracks, PCA, faithfulness, index.html)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--run", required=True, help="run id (printed by `protxai attribute`)")
    parser.add_argument("--out", required=True, help="output directory for PNGs and index.html")
    parser.add_argument("--control-run", help="run of a control model (e.g. shuffled labels) to compare")
    parser.add_argument(
        "--attention-run",
        help="the attention pseudo-run of --run (`protxai analyze --run RUN --attention-run ID`, then "
        "`protxai stats --run ID`): per head mean r of attribution vs attention, paired Δr with 95 %% "
        "bootstrap intervals, significant heads in each, Spearman ρ across heads",
    )
    parser.add_argument(
        "--annotations",
        help="comma-separated annotation types to show (default: active_site, binding_site, motif, "
        "transmembrane and the residue controls the stats have)",
    )
    parser.add_argument("--annotation", help="draw relevance tracks for this annotation type only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--tracks", type=int, default=4, help="proteins drawn as relevance tracks per annotation"
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="report an unfinished run's committed proteins (default: an unfinished run is refused)",
    )


def check_runs(con, store, args: argparse.Namespace) -> None:
    """One-line errors for what the report cannot show (see the module docstring); a warning on stderr
    for each unfinished run allowed by ``--allow-partial``."""
    from protxai_ray.stats.run import check_finished, require_attributed
    from protxai_ray.store.runs import RunManifests

    manifests = RunManifests(store)
    for run_id in [args.run] + ([args.control_run] if args.control_run else []):
        manifest = manifests.read(run_id)  # StoreError (one line) for a corrupt manifest
        progress = check_finished(manifest, run_id, allow_partial=args.allow_partial, what="a report")
        if progress:
            print(
                f"warning: run {run_id} is unfinished ({progress}); the report covers those only",
                file=sys.stderr,
            )
        require_attributed(con, run_id)


def run(args: argparse.Namespace) -> int:
    from protxai_ray.report import build_report
    from protxai_ray.store.duck import connect
    from protxai_ray.store.fs import open_store

    check_run_id(args.run, "--run")
    if args.control_run:
        check_run_id(args.control_run, "--control-run")
    if args.attention_run:
        check_run_id(args.attention_run, "--attention-run")
    store = open_store(args.store)
    con = connect(store)
    check_runs(con, store, args)
    annotations = [a.strip() for a in args.annotations.split(",") if a.strip()] if args.annotations else None
    index = build_report(
        con,
        args.run,
        args.out,
        store=store,
        annotations=annotations,
        control_run=args.control_run,
        attention_run=args.attention_run,
        track_annotation=args.annotation,
        n_tracks=args.tracks,
        progress=not args.no_progress,
    )
    print(f"report={index}")
    return 0
