"""Shared set-up of the pipeline tests: one S3 store holding a real release, one tiny model, one Ray head.

Every run in these tests uses its own run id on the same store, so the release is ingested once and
the Ray head (started on free loopback ports, token auth disabled) is started once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tests.conftest import PROJECT_ROOT, UNIPROT_DATA
from tests.services.ray_head import RayHead, venv_env

RELEASE = "2024_01"
WHERE = "length < 150"  # 76 real proteins; those over the model's 140 residues become failures
MAX_RESIDUES = 140
SHARD_SIZE = 8
STEPS = 8


@pytest.fixture(scope="session")
def aws_env(seaweed) -> dict[str, str]:
    """The test server's AWS_* variables, set for the whole pipeline session (drivers, Ray head)."""
    env = seaweed.env()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def release_store(seaweed, aws_env) -> str:
    """``s3://…/store`` holding release 2024_01 ingested from a real UniProt XML file."""
    from protxai_ray.store.fs import Store
    from protxai_ray.uniprot.arrow import write_entries
    from protxai_ray.uniprot.collect import collect_entries

    bucket = f"protxai-pipeline-{os.getpid()}"
    seaweed.create_bucket(bucket)
    uri = f"s3://{bucket}/store"
    collection = collect_entries([str(UNIPROT_DATA / "xml" / "entries_01.xml")])
    write_entries(Store(uri), RELEASE, collection)
    return uri


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A random-weight BERT classifier: 2 layers, 4 heads, hidden 32, at most 140 residues."""
    from protxai_ray.models.random_init import write_random_model

    return write_random_model(
        tmp_path_factory.mktemp("model") / "bert",
        model_type="bert",
        num_layers=2,
        num_heads=4,
        hidden=32,
        max_positions=MAX_RESIDUES + 2,
        seed=7,
    )


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory, aws_env) -> RayHead:
    """A local Ray head (2 CPUs) whose workers see the S3 test server; stopped by pid at the end."""
    head = RayHead(tmp_path_factory.mktemp("ray-head"), num_cpus=2, env_extra=dict(aws_env))
    head.start()
    yield head
    head.stop()


@pytest.fixture(scope="session")
def reference_run(release_store, model_dir, ray_head):
    """An undisturbed run (2 actors on the head): (config, summary), the reference for fault tests."""
    from protxai_ray.pipeline import run_attribution

    config = base_config(release_store, model_dir, "reference-run", ray_address=ray_head.address)
    return config, run_attribution(config)


def base_config(store: str, model: Path, run_id: str, **changes):
    from protxai_ray.pipeline import RunConfig

    settings = dict(
        store=store,
        release=RELEASE,
        model=str(model),
        target="argmax",
        steps=STEPS,
        actors=2,
        shard_size=SHARD_SIZE,
        where=WHERE,
        run_id=run_id,
        progress=False,
    )
    settings.update(changes)
    return RunConfig(**settings)


def cli_args(store: str, model: Path, run_id: str, address: str, steps: int = STEPS) -> list[str]:
    return [
        "attribute",
        "--store",
        store,
        "--release",
        RELEASE,
        "--model",
        str(model),
        "--target",
        "argmax",
        "--steps",
        str(steps),
        "--actors",
        "2",
        "--shard-size",
        str(SHARD_SIZE),
        "--where",
        WHERE,
        "--run-id",
        run_id,
        "--ray-address",
        address,
        "--no-progress",
    ]


def start_driver(
    store: str, model: Path, run_id: str, address: str, log: Path, steps: int = STEPS
) -> subprocess.Popen:
    """``protxai attribute`` as a separate driver process in its own process group (killable as a unit)."""
    cmd = [sys.executable, "-m", "protxai_ray.cli", *cli_args(store, model, run_id, address, steps)]
    handle = open(log, "ab")
    return subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=venv_env(), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


TABLE_KEYS = {
    "predictions": ("accession",),
    "residues": ("accession", "position"),
    "heads": ("accession", "layer", "head", "position"),
    "failures": ("accession",),
}


def run_rows(store: str, run_id: str) -> dict[str, pa.Table]:
    """The committed rows of a run, without the run_id column, in a fixed order (for equality checks)."""
    from protxai_ray.store.duck import connect

    con: duckdb.DuckDBPyConnection = connect(store)
    out = {}
    for table, keys in TABLE_KEYS.items():
        out[table] = con.execute(
            f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = ? ORDER BY {', '.join(keys)}", [run_id]
        ).to_arrow_table()
    con.close()
    return out


def row_differences(table: str, actual: pa.Table, expected: pa.Table) -> list[str]:
    """Every way ``actual`` differs from ``expected`` (empty: identical), by a full outer join on the keys.

    Counted both ways: rows only in ``expected`` (lost), rows only in ``actual`` (extra), rows whose
    non-key values differ (``IS DISTINCT FROM``: exact, NULL-aware), and keys listed twice on either side.
    """
    keys = TABLE_KEYS[table]
    if actual.schema.names != expected.schema.names:
        return [f"{table}: columns {actual.schema.names} != {expected.schema.names}"]
    values = [c for c in expected.schema.names if c not in keys]
    con = duckdb.connect()
    con.register("a", actual)
    con.register("e", expected)
    on = " AND ".join(f"a.{k} = e.{k}" for k in keys)
    changed = " OR ".join(f'a."{c}" IS DISTINCT FROM e."{c}"' for c in values) or "false"
    key_list = ", ".join(keys)
    lost, extra, differ = con.execute(
        f"""SELECT count(*) FILTER (WHERE a.{keys[0]} IS NULL),
                   count(*) FILTER (WHERE e.{keys[0]} IS NULL),
                   count(*) FILTER (WHERE a.{keys[0]} IS NOT NULL AND e.{keys[0]} IS NOT NULL AND ({changed}))
            FROM a FULL OUTER JOIN e ON {on}"""
    ).fetchone()
    dupes = [
        con.execute(f"SELECT count(*) - count(DISTINCT ({key_list})) FROM {side}").fetchone()[0]
        for side in ("a", "e")
    ]
    con.close()
    problems = []
    if lost:
        problems.append(f"{table}: {lost} row(s) of the reference missing")
    if extra:
        problems.append(f"{table}: {extra} row(s) not in the reference")
    if differ:
        problems.append(f"{table}: {differ} row(s) with different values")
    if any(dupes):
        problems.append(f"{table}: duplicated keys (run {dupes[0]}, reference {dupes[1]})")
    return problems


def assert_same_rows(store: str, run_id: str, reference: dict[str, pa.Table]) -> None:
    """0 rows lost, 0 extra, 0 duplicated, identical values: a full outer join of every table on its keys."""
    rows = run_rows(store, run_id)
    problems = [
        p for table, expected in reference.items() for p in row_differences(table, rows[table], expected)
    ]
    assert not problems, f"run {run_id} differs from the reference: {'; '.join(problems)}"
    assert all(reference[t].num_rows > 0 for t in ("predictions", "residues", "heads")), "empty reference"
