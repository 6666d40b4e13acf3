"""`protxai` entry point: parses the command line and dispatches; no domain logic lives here.

Each sub-command is a module in ``protxai_ray.commands`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Only the module of the command being run is
imported (the others pull in torch, Ray or DuckDB), so ``protxai --help`` answers at once; the one-line
summaries below mirror each module's ``HELP``. Domain errors (``ProtxaiError``) are reported once, here,
as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from protxai_ray.errors import ProtxaiError

COMMANDS: dict[str, str] = {
    "ingest": "parse UniProt files (XML, flat, JSON, TMbed; .gz ok; local, s3:// or http(s)://) into the store",
    "attribute": "attribute a release's proteins with a model on Ray actors into the store (resumable)",
    "stats": "compute the stats tables of a run (Wilcoxon/t-test enrichment per head, BH-FDR) with DuckDB",
    "query": "run DuckDB SQL over the store's tables",
    "report": "write a run's report (heatmaps, relevance tracks, PCA, faithfulness, index.html)",
    "rerun": "re-run on a new UniProt release, recomputing only new and changed proteins",
    "validate": "planted-signal self-check of the engine and the stats (exit 1 if it fails)",
    "demo": "run the whole pipeline on shipped real data with the shipped demo models",
    "train-demo": "train the small demo classifier on the shipped TMbed/UniProt data",
    "convert-weights": "convert a pytorch_model.bin checkpoint into a safetensors directory (no unpickling)",
}


def command_module(name: str):
    return importlib.import_module(f"protxai_ray.commands.{name.replace('-', '_')}")


def create_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``command`` (when known) gets its full arguments, the others only their summary."""
    parser = argparse.ArgumentParser(
        prog="protxai",
        description="Batch attribution of protein transformer classifiers into a queryable store.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if name == command:
            module = command_module(name)
            cmd = sub.add_parser(name, help=summary, description=module.HELP)
            module.add_arguments(cmd)
            cmd.set_defaults(_run=module.run)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = create_parser(command if command in COMMANDS else None).parse_args(argv)
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
