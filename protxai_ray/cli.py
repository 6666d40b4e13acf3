"""`protxai` entry point: parses the command line and dispatches; no domain logic lives here.

Each sub-command is a module in ``protxai_ray.commands`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Domain errors (``ProtxaiError``) are reported once,
here, as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from protxai_ray.errors import ProtxaiError

COMMANDS = (
    "ingest",
    "attribute",
    "stats",
    "query",
    "report",
    "rerun",
    "validate",
    "demo",
    "train_demo",
    "convert_weights",
)


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protxai",
        description="Batch attribution of protein transformer classifiers into a queryable store.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"protxai_ray.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"protxai_ray.commands.{name}":
                continue  # command not built yet in this checkout
            raise
        cmd = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ProtxaiError as exc:
        print(f"protxai {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"protxai {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
