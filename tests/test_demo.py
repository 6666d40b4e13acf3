"""`protxai demo` end to end at a small scale: shipped data, shipped models, in-process Ray, local store."""

from __future__ import annotations

import re
import subprocess
import sys

import duckdb
import pyarrow.parquet as pq

from tests.services.ray_head import venv_env


def test_demo_runs_trained_and_control_and_writes_the_report(tmp_path, shared_data):
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "protxai_ray.cli", "demo", "--store", str(store)]
    cmd += ["--membrane", "2", "--other", "2", "--actors", "1", "--max-length", "100"]  # steps="auto"
    done = subprocess.run(cmd, capture_output=True, text=True, env=venv_env(), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for ray_line in (
        "Progress bars disabled",
        "execution finished",
        "Started a local Ray instance",
        "core_worker",
    ):
        assert ray_line not in out + done.stderr  # Ray's own logs stay in Ray's log files
    assert "4 proteins selected (2 membrane + 2 other" in out
    assert "head error ≤ 0.01 per protein (steps=auto)" in out
    assert (
        "membrane: " in out and "membrane_shuffled: " in out and "BH-significant transmembrane heads" in out
    )
    page = (store / "report" / "index.html").read_text()
    assert page.index("Integration accuracy") < page.index("Head-level enrichment") and "Seed overlay" in page
    assert (store / "report" / "head_error.png").is_file()
    # attribution vs attention: the trained run's attention pseudo-run, its stats, the report's section
    attention = re.search(r"run_id=(demo-membrane-\w+-attention) \(attention baseline", out).group(1)
    assert "Attribution vs attention received (transmembrane, GO:0016020" in out
    assert page.index("id='control'") < page.index("id='attention'") < page.index("id='faithfulness'")
    assert f"<code>{attention}</code>" in page
    # both runs are committed with all four proteins, each with heads for every layer and head (4 × 8)
    runs = sorted(p.name for p in (store / "runs").iterdir())
    assert (
        len(runs) == 3
        and runs[0].startswith("run_id=demo-membrane-")
        and runs[1] == f"run_id={attention}"
        and runs[2].startswith("run_id=demo-membrane_shuffled-")
    )
    assert (store / "runs" / runs[1] / "stats" / "head_enrichment").is_dir()
    runs.remove(runs[1])  # the pseudo-run has no integration path (head_error NULL)
    for run in runs:
        files = [str(p) for p in (store / "runs" / run).rglob("*.parquet") if "heads" in str(p)]
        assert files
        heads = duckdb.sql(
            "SELECT count(DISTINCT accession), count(DISTINCT (layer, head)) FROM read_parquet($f)",
            params={"f": files},
        ).fetchone()
        assert heads == (4, 32)
        predictions = [str(p) for p in (store / "runs" / run).rglob("*.parquet") if "predictions" in str(p)]
        errors = duckdb.sql(
            "SELECT max(head_error), min(n_steps) FROM read_parquet($f)", params={"f": predictions}
        )
        worst, fewest = errors.fetchone()
        assert worst <= 0.01 and fewest >= 48  # every protein integrated to the default tolerance
    assert pq.read_schema(files[0]).names  # readable Parquet
