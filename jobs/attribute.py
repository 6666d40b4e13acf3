"""Ray job entrypoint: ``ray job submit --working-dir . -- python jobs/attribute.py --store S ...``.

Same arguments as ``protxai attribute``. Inside a Ray job the driver joins the job's cluster
(``RAY_ADDRESS`` is set by Ray), so ``--ray-address`` is not needed. Submit with ``RAY_AUTH_MODE=token``
and the cluster's token (~/.ray/auth_token); the S3 credentials come from the cluster's environment, never
from the command line or ``--runtime-env-json`` (infra/README.md "Cluster use").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `--working-dir .` ships the checkout; make its package importable even without an install.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protxai_ray.commands import attribute  # noqa: E402
from protxai_ray.errors import ProtxaiError  # noqa: E402


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobs/attribute.py", description=attribute.HELP)
    attribute.add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    return attribute.run(args)


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    try:
        return run(args)
    except ProtxaiError as exc:
        print(f"jobs/attribute.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
