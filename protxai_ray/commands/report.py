"""`protxai report --store S --run ID --out DIR`: heatmaps, tracks, PCA, faithfulness and index.html."""

from __future__ import annotations

import argparse

from protxai_ray.errors import RunError

HELP = "write a run's report (heatmaps, relevance tracks, PCA, faithfulness, index.html)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--run", required=True, help="run id (printed by `protxai attribute`)")
    parser.add_argument("--out", required=True, help="output directory for PNGs and index.html")
    parser.add_argument("--control-run", help="run of a control model (e.g. shuffled labels) to compare")
    parser.add_argument("--annotation", help="annotation type for the relevance tracks (default: the best)")
    parser.add_argument("--tracks", type=int, default=4, help="proteins drawn as relevance tracks")
    parser.add_argument(
        "--flip-proteins",
        type=int,
        default=12,
        help="proteins in the alanine-flipping faithfulness curve (0 skips it; needs the run's model)",
    )


def run(args: argparse.Namespace) -> int:
    from protxai_ray.report import build_report
    from protxai_ray.store.duck import connect
    from protxai_ray.store.fs import open_store

    store = open_store(args.store)
    con = connect(store)
    adapter = None
    if args.flip_proteins > 0:
        adapter = _run_model(store, args.run)
    index = build_report(
        con,
        args.run,
        args.out,
        adapter=adapter,
        control_run=args.control_run,
        track_annotation=args.annotation,
        n_tracks=args.tracks,
        n_flip_proteins=args.flip_proteins,
    )
    print(f"report={index}")
    return 0


def _run_model(store, run_id: str):
    """The run's model, if its directory is still where the manifest says (else no faithfulness)."""
    from pathlib import Path

    from protxai_ray.models import load_model

    rel = f"runs/run_id={run_id}/manifest.json"
    if not store.exists(rel):
        raise RunError(f"run {run_id!r} not found in {store.uri}")
    model_path = store.read_json(rel).get("model", {}).get("path")
    if not model_path or not Path(model_path).is_dir():
        print(f"note: model {model_path!r} of run {run_id} is not available here; faithfulness skipped")
        return None
    return load_model(model_path, device="cpu")
