"""`protxai train-demo`: train the shipped demo classifier (membrane, its shuffled control, or EC level 1)."""

from __future__ import annotations

import argparse

from protxai_ray.training.demo import TASKS, train_demo

HELP = "train the small demo classifier on TMbed/UniProt training data (--data-dir; deterministic, CPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task", choices=TASKS, default="membrane", help="membrane (GO:0016020) or ec (level 1)"
    )
    parser.add_argument(
        "--out", default=None, help="model directory (default: protxai_ray/demo_models/<name>)"
    )
    parser.add_argument(
        "--shuffled", action="store_true", help="train on permuted labels (the control model)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: 5 membrane, 12 ec)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir",
        required=True,
        help="training data (not shipped): DIR/tmbed/cv/cv_00_a.fasta .. cv_04_a.fasta (.gz ok) and DIR/uniprot/",
    )


def run(args: argparse.Namespace) -> int:
    result = train_demo(args.task, args.out, args.shuffled, args.epochs, args.seed, args.data_dir)
    print(f"model={result['out']}")
    return 0
