"""Command-line arguments of an incremental re-run, shared by ``protxai rerun`` and ``jobs/rerun_release.py``."""

from __future__ import annotations

import argparse

from protxai_ray.rerun.config import RerunConfig
from protxai_ray.rerun.lock import DEFAULT_TTL_S


def add_rerun_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument(
        "--source",
        nargs="+",
        required=True,
        metavar="NEW",
        help="the new release's UniProt files: local paths, s3:// objects or http(s):// URLs (.gz ok)",
    )
    parser.add_argument(
        "--release",
        help="new release name YYYY_NN; default: read from --reldate, the source's X-UniProt-Release "
        "header, or a reldate.txt beside the first source",
    )
    parser.add_argument("--reldate", help="UniProt reldate.txt (path, s3:// or URL) naming the release")
    parser.add_argument(
        "--from-run",
        default="latest",
        metavar="ID",
        help="run whose attributions are reused (default: latest: the newest complete run of the store)",
    )
    parser.add_argument(
        "--run-id", help="id of the new run (default: generated; an unfinished re-run resumes)"
    )
    parser.add_argument("--actors", type=int, default=1, help="attribution actors (default 1)")
    parser.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (default 0: CPU)")
    parser.add_argument("--shard-size", type=int, help="proteins per shard (default: the parent run's)")
    parser.add_argument("--ray-address", help="join this Ray cluster (default: local in-process Ray)")
    parser.add_argument(
        "--check-release",
        action="store_true",
        help="only detect the release and say whether the store is up to date; change nothing",
    )
    parser.add_argument(
        "--lock-ttl",
        type=float,
        default=DEFAULT_TTL_S,
        metavar="SECONDS",
        help="a re-run whose lock heartbeat is older than this is presumed dead and its lock taken over "
        f"(default {DEFAULT_TTL_S:.0f})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> RerunConfig:
    return RerunConfig(
        store=args.store,
        sources=tuple(args.source),
        release=args.release,
        reldate=args.reldate,
        from_run=args.from_run,
        run_id=args.run_id,
        actors=args.actors,
        num_gpus=args.num_gpus,
        shard_size=args.shard_size,
        ray_address=args.ray_address,
        check_only=args.check_release,
        lock_ttl_s=args.lock_ttl,
        progress=not args.no_progress,
    )
