"""`protxai` entry point: parses the command line and dispatches; no domain logic lives here.

Each sub-command is a module in ``protxai_ray.commands`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Only the module of the command being run is
imported (the others pull in torch, Ray or DuckDB), so ``protxai --help`` answers at once; the one-line
summaries below mirror each module's ``HELP``. Domain errors (``ProtxaiError``) are reported once, here,
as one line on stderr with exit status 2. A reader that goes away (``protxai query … | head``) ends the
command quietly with status 141 (128 + SIGPIPE, what a shell reports for a tool killed by the signal).
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys

from protxai_ray.errors import ProtxaiError

COMMANDS: dict[str, str] = {
    "ingest": "parse UniProt files (XML, flat, JSON, TMbed; .gz ok; local, s3:// or http(s)://) into the store",
    "attribute": "attribute a release's proteins with a model on Ray actors into the store (resumable)",
    "stats": "compute the stats tables of a run (Wilcoxon/t-test enrichment per head, BH-FDR) with DuckDB",
    "analyze": "run the model-based analyses of a run (faithfulness by residue flipping) into the store",
    "query": "run DuckDB SQL over the store's tables",
    "verify": "check committed runs' files against the sizes/row counts/checksums in their manifests",
    "report": "write a run's report (heatmaps, relevance tracks, PCA, faithfulness, index.html)",
    "rerun": "re-run on a new UniProt release, recomputing only new and changed proteins",
    "validate": "planted-signal self-check of the engine and the stats (exit 1 if it fails)",
    "demo": "run the whole pipeline on shipped real data with the shipped demo models",
    "train-demo": "train the small demo classifier on TMbed/UniProt training data (--data-dir)",
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


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed (poll flags the write end with POLLERR)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no descriptor (captured), no poll on this platform
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the reader has gone, and Python's exit flush must not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests): nothing to point
        return


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = create_parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's exit flush
        return status
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise  # a broken pipe elsewhere (a socket, a child process) is a real failure
        _silence_stdout()
        return 141
    except ProtxaiError as exc:
        print(f"protxai {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"protxai {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
