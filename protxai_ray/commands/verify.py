"""`protxai verify --store S [--run ID] [--quick] [--quarantine]`: check committed runs against their manifests.

Every file of every committed shard is checked against the size, row count and SHA-256 its manifest
recorded (``--quick``: sizes only). One line per damaged file, then a summary; exit 1 when anything is
damaged. ``--quarantine`` records the damaged shards so the DuckDB views leave them out (the rest of the
store stays usable); resuming the run (`protxai attribute` with the same --run-id) re-computes them.
"""

from __future__ import annotations

import argparse

HELP = "check committed runs' files against the sizes/row counts/checksums in their manifests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--run", help="only this run (default: every run of the store)")
    parser.add_argument("--quick", action="store_true", help="sizes only (no reading of the files)")
    parser.add_argument(
        "--quarantine", action="store_true", help="leave damaged shards out of the views from now on"
    )


def run(args: argparse.Namespace) -> int:
    from protxai_ray.errors import StoreError, check_run_id
    from protxai_ray.store.duck import require_layout
    from protxai_ray.store.runs import RunManifests
    from protxai_ray.store.verify import quarantine, summary_line, verify_run

    if args.run:
        check_run_id(args.run, "--run")
    store = require_layout(args.store)
    manifests = RunManifests(store)
    run_ids = [args.run] if args.run else manifests.list_run_ids()
    problems, unreadable, checked_files = [], 0, 0
    for run_id in run_ids:
        try:
            manifest = manifests.read(run_id)
        except StoreError as exc:
            print(f"run {run_id}: {exc}")
            unreadable += 1
            continue
        if manifest is None:
            raise StoreError(f"store {store.uri} has no run {run_id}")
        found = verify_run(store, run_id, manifest, deep=not args.quick)
        checked_files += sum(len(s.files) for s in manifest.shards)
        for problem in found:
            print(problem.line(store))
        if found and args.quarantine:
            shards = quarantine(store, run_id, found)
            print(f"run {run_id}: shard(s) {', '.join(sorted(shards))} quarantined (left out of the views)")
        problems += found
    if not problems and not unreadable:
        print(f"ok: {checked_files} file(s) of {len(run_ids)} run(s) match their manifests")
        return 0
    if problems:
        print(summary_line(problems))
    if unreadable:
        print(f"{unreadable} run manifest(s) unreadable")
    return 1
