"""Ray job entrypoint of the scheduled re-run on new UniProt releases.

    RAY_AUTH_MODE=token ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/rerun_release.py --store s3://bucket/store --source URL --reldate URL

(token in ~/.ray/auth_token; S3 credentials from the cluster's environment: infra/README.md "Cluster use").

Reads the release name first (``--reldate``, the source's ``X-UniProt-Release`` header, or a reldate.txt
beside it) and exits at once with "up to date" when the store already has a complete run of it; otherwise
runs ``protxai rerun`` under the store lock. Exit status: 0 done or up to date, 2 a domain error, 3 the
release is being processed by another job (lock held).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from protxai_ray.errors import ProtxaiError  # noqa: E402
from protxai_ray.rerun.arguments import add_rerun_arguments, config_from_args  # noqa: E402


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_rerun_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from protxai_ray.rerun import ReleaseLocked, run_rerun

    try:
        result = run_rerun(config_from_args(args))
    except ReleaseLocked as exc:
        print(f"rerun_release: another job is processing this release: {exc}", file=sys.stderr)
        return 3
    except ProtxaiError as exc:
        print(f"rerun_release: error: {exc}", file=sys.stderr)
        return 2
    print(result.message())
    if result.run_id:
        print(f"run_id={result.run_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(create_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
