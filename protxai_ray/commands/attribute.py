"""`protxai attribute`: run (or resume) attribution of a release's proteins with Ray; prints ``run_id=ID``.

Every option is checked before anything is written (run id, quadrature settings, GPUs present for
``--num-gpus``). Exit status 0 when the run is committed and finished, 1 when it is committed but every
protein failed (the count and the first reasons on stderr), 2 for an error (one line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protxai_ray.errors import RunError, check_run_id

HELP = "attribute a release's proteins with a model on Ray actors into the store (resumable with --run-id)"


def _steps(text: str) -> int | str:
    """``--steps`` as an argparse ``type`` (``protxai demo``): ArgumentTypeError for a bad value."""
    try:
        return parse_steps(text)
    except RunError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_steps(text: str) -> int | str:
    """``--steps`` checked after argparse (``protxai attribute``), so a bad value is one RunError line."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise RunError(f"--steps must be a positive integer or 'auto', not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--release", required=True, help="UniProt release in the store, e.g. 2024_01")
    parser.add_argument(
        "--model",
        required=True,
        help="model directory (safetensors); the manifest records it as given, with the weights' sha256",
    )
    parser.add_argument("--target", default="label", help="label | argmax | class name | class index")
    parser.add_argument(
        "--steps",
        default="auto",
        help="'auto' (default: refine the path integration until every protein's estimated head error is "
        "under --tolerance) or a fixed number of quadrature steps",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="relative head error goal of --steps auto, max over layers (default 0.01)",
    )
    parser.add_argument(
        "--max-nodes",
        type=int,
        default=2048,
        help="path points per protein at most (--steps auto; default 2048)",
    )
    parser.add_argument("--method", default="gausslegendre", help="quadrature: gausslegendre | riemann_*")
    parser.add_argument(
        "--derivative",
        default="spectral",
        help="head conductance dh/dalpha: spectral (default; polynomial through h at each rule's nodes, "
        "one forward+backward per node) | exact (forward-mode, ~1.7x the cost) | seed (fixed steps: the "
        "xai-proteins reference code's torch.gradient, to reproduce its numbers) | finite (captum's)",
    )
    parser.add_argument("--precision", default="fp32", help="fp32 | tf32 | bf16 (default fp32)")
    parser.add_argument(
        "--actors", type=int, default=1, help="Ray actors, each holding one model (default 1)"
    )
    parser.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (0 = CPU actors)")
    parser.add_argument("--threads-per-actor", type=int, default=1, help="torch threads per CPU actor")
    parser.add_argument("--shard-size", type=int, default=256, help="proteins per shard (unit of commit)")
    parser.add_argument(
        "--memory-budget-mb", type=int, default=None, help="activation memory per engine pass"
    )
    parser.add_argument("--ray-address", default=None, help="join this Ray cluster (default: local Ray)")
    parser.add_argument("--run-id", default=None, help="run id; an existing one is resumed")
    parser.add_argument("--where", default=None, help="SQL condition on the proteins table")
    parser.add_argument("--accessions", default=None, help="file with one accession per line")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace):
    """The RunConfig that the parsed arguments describe."""
    from protxai_ray.pipeline import RunConfig, new_run_id

    if args.run_id is not None:
        check_run_id(args.run_id, "--run-id")
    accessions = None
    if args.accessions:
        try:
            text = Path(args.accessions).read_text()
        except OSError as exc:
            raise RunError(f"--accessions {args.accessions}: {exc.strerror or exc}") from None
        accessions = tuple(line.split()[0] for line in text.splitlines() if line.strip())
    if args.where is not None:
        from protxai_ray.store.duck import SQLRefused, check_where

        try:  # one condition, checked by DuckDB's parser before anything runs (no "x; COPY ...")
            check_where(args.where)
        except SQLRefused as exc:
            raise RunError(str(exc)) from None
    try:
        return RunConfig(
            store=args.store,
            release=args.release,
            model=args.model,
            target=args.target,
            steps=parse_steps(str(args.steps)),
            method=args.method,
            derivative=args.derivative,
            tolerance=args.tolerance,
            max_nodes=args.max_nodes,
            precision=args.precision,
            actors=args.actors,
            num_gpus=args.num_gpus,
            threads_per_actor=args.threads_per_actor,
            shard_size=args.shard_size,
            memory_budget_mb=args.memory_budget_mb,
            ray_address=args.ray_address,
            run_id=args.run_id or new_run_id(),
            where=args.where,
            accessions=accessions,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        raise RunError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from protxai_ray.pipeline import run_attribution

    config = config_from_args(args)
    print(f"run_id={config.run_id}", flush=True)  # first, so a killed run can be resumed
    summary = run_attribution(config)
    for line in summary.lines()[1:]:
        print(line, file=sys.stderr)
    first = "; ".join(summary.failure_reasons)
    if summary.all_failed:
        print(
            f"protxai attribute: error: all {summary.proteins} protein(s) of run {summary.run_id} failed, "
            f"none was attributed; first: {first}",
            file=sys.stderr,
        )
        return 1
    if summary.failures:
        print(
            f"{summary.failures} protein(s) failed (the failures table has every reason); first: {first}",
            file=sys.stderr,
        )
    return 0
