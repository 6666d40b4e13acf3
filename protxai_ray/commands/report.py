"""`protxai report --store S --run ID --out DIR`: index.html and its figures, drawn from the store's tables.

The report runs no model: faithfulness appears when `protxai analyze` has written its tables for the run.
"""

from __future__ import annotations

import argparse

HELP = "write a run's report (heatmaps, relevance tracks, PCA, faithfulness, index.html)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--run", required=True, help="run id (printed by `protxai attribute`)")
    parser.add_argument("--out", required=True, help="output directory for PNGs and index.html")
    parser.add_argument("--control-run", help="run of a control model (e.g. shuffled labels) to compare")
    parser.add_argument(
        "--annotations",
        help="comma-separated annotation types to show (default: active_site, binding_site, motif, "
        "transmembrane and the residue controls the stats have)",
    )
    parser.add_argument("--annotation", help="draw relevance tracks for this annotation type only")
    parser.add_argument(
        "--tracks", type=int, default=4, help="proteins drawn as relevance tracks per annotation"
    )


def run(args: argparse.Namespace) -> int:
    from protxai_ray.report import build_report
    from protxai_ray.store.duck import connect
    from protxai_ray.store.fs import open_store

    store = open_store(args.store)
    con = connect(store)
    annotations = [a.strip() for a in args.annotations.split(",") if a.strip()] if args.annotations else None
    index = build_report(
        con,
        args.run,
        args.out,
        store=store,
        annotations=annotations,
        control_run=args.control_run,
        track_annotation=args.annotation,
        n_tracks=args.tracks,
    )
    print(f"report={index}")
    return 0
