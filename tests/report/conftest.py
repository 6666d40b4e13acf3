"""Synthetic runs with known answers for the report: a planted active-site head and a head that only
tracks residue identity (composition), against a control run without the planted signal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from protxai_ray.stats import compute_stats
from tests.stats.synthetic import write_synthetic_run

ANNOTATIONS = ["active_site", "transmembrane"]


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """The store (``Store``) holding ``run-model`` and its control ``run-control``, both with stats."""
    uri = str(tmp_path_factory.mktemp("report") / "store")
    write_synthetic_run(
        uri, n_proteins=60, composition=True, seed=3, run_id="run-model", tolerance=0.01, unconverged=1
    )
    control = write_synthetic_run(
        uri, n_proteins=60, composition=True, seed=3, run_id="run-control", planted=False
    )
    for run_id in ("run-model", "run-control"):
        compute_stats(uri, run_id, annotations=ANNOTATIONS)
    return control.store


@pytest.fixture(scope="session")
def report(runs, tmp_path_factory):
    """``index.html`` of run-model with its control (no faithfulness tables: the hint instead)."""
    from protxai_ray.report import build_report
    from protxai_ray.store.duck import connect

    out = tmp_path_factory.mktemp("report_out")
    return build_report(connect(runs), "run-model", out, store=runs, control_run="run-control")


HEAVY_MODULES = (
    "torch.",
    "transformers",
    "protxai_ray.models",
    "protxai_ray.attribution",
    "protxai_ray.analyses",
)


def assert_report_loads_no_torch(args: list[str]) -> None:
    """Run ``protxai report ARGS`` in a fresh interpreter and assert that it exits 0 without importing
    torch, transformers, the models, the engine or the analyses (the report only draws)."""
    code = (
        "import sys\n"
        "from protxai_ray.cli import main\n"
        f"assert main(['report', *{args!r}]) == 0\n"
        f"loaded = [m for m in sys.modules if m == 'torch' or m.startswith({HEAVY_MODULES!r})]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
