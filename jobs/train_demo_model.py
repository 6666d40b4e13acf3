"""Train a demo classifier (membrane / shuffled-label control / EC level 1) on the training data in DATA.

DATA holds tmbed/cv/cv_00_a.fasta .. cv_04_a.fasta (TMbed folds, .gz ok) and uniprot/{xml,flat,json}/;
it is not shipped with the package (see protxai_ray/demo_data/README.md).

python jobs/train_demo_model.py --data-dir DATA --task membrane --out protxai_ray/demo_models/membrane
python jobs/train_demo_model.py --data-dir DATA --task membrane --shuffled
"""

from __future__ import annotations

import argparse
import sys

from protxai_ray.training.demo import TASKS, train_demo


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", choices=TASKS, default="membrane")
    parser.add_argument(
        "--out", default=None, help="model directory (default: protxai_ray/demo_models/<name>)"
    )
    parser.add_argument("--shuffled", action="store_true", help="train on permuted labels (the control)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir",
        required=True,
        help="training data (not shipped): DIR/tmbed/cv/cv_00_a.fasta .. cv_04_a.fasta (.gz ok) and DIR/uniprot/",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    result = train_demo(args.task, args.out, args.shuffled, args.epochs, args.seed, args.data_dir)
    print(f"model={result['out']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(create_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
