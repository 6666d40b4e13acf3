"""`protxai rerun`: incremental re-run of an attribution run on a new UniProt release."""

from __future__ import annotations

import argparse

from protxai_ray.rerun.arguments import add_rerun_arguments, config_from_args

MAX_NOTES = 10
HELP = "re-run on a new UniProt release, recomputing only new and sequence-/label-changed proteins"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_rerun_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from protxai_ray.rerun import run_rerun

    result = run_rerun(config_from_args(args))
    print(result.message())
    for note in result.notes[:MAX_NOTES]:
        print(f"note: {note}")
    if len(result.notes) > MAX_NOTES:
        print(f"note: ... and {len(result.notes) - MAX_NOTES} more (rejected entries, duplicates)")
    if result.status == "done":
        counts = ", ".join(f"{k}={v}" for k, v in result.counts.items() if not k.startswith("any_"))
        print(f"changes: {counts}")
    if result.run_id:
        print(f"run_id={result.run_id}")
    return 0
