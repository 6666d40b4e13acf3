"""`protxai validate`: planted-signal self-check of the attribution engine and the statistics."""

from __future__ import annotations

import argparse

from protxai_ray.validate.check import ValidateConfig, run_validate

HELP = "planted-signal self-check: a motif decides the label; do relevance and stats find it? (exit 1 if not)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the planted set and the tiny model")
    parser.add_argument(
        "--steps",
        type=lambda text: text if text == "auto" else int(text),
        default="auto",
        help="quadrature steps of the attribution: auto (error-controlled, the default) or a fixed count",
    )
    parser.add_argument("--workdir", default=None, help="keep the model and store here (default: a temp dir)")


def run(args: argparse.Namespace) -> int:
    report = run_validate(ValidateConfig(seed=args.seed, steps=args.steps), workdir=args.workdir)
    for line in report.lines():
        print(line)
    return 0 if report.passed else 1
