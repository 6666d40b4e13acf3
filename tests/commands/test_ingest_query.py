"""`protxai ingest` and `protxai query` end to end: local and S3 stores, output formats, bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from protxai_ray.cli import main
from protxai_ray.demo import DEMO_DATA, HELDOUT_FOLD_FILE
from protxai_ray.store.fs import Store
from protxai_ray.store.releases import list_releases
from tests.conftest import PROJECT_ROOT, UNIPROT_DATA

JSON_FILE = str(UNIPROT_DATA / "json" / "entries_01.json")
FLAT_FILE = str(UNIPROT_DATA / "flat" / "modern_ft2019_11plus_01.dat")
COUNT_SQL = "SELECT count(*) AS n, count(DISTINCT accession) AS accessions FROM proteins"


def first_entries(path: str, n: int) -> list[str]:
    """The text of the first ``n`` flat-file entries (ID ... //)."""
    entries, current = [], []
    for line in Path(path).read_text().splitlines(keepends=True):
        current.append(line)
        if line.startswith("//"):
            entries.append("".join(current))
            current = []
            if len(entries) == n:
                break
    return entries


@pytest.fixture
def half_bad_flat(tmp_path) -> str:
    """Two real flat entries; the second one's sequence gets digits (must be rejected, first ingested)."""
    good, bad = first_entries(FLAT_FILE, 2)
    head, _, sequence = bad.partition("\nSQ   ")
    sq_line, _, residues = sequence.partition("\n")
    bad = f"{head}\nSQ   {sq_line}\n     1234{residues[9:]}"
    path = tmp_path / "half_bad.dat"
    path.write_text(good + bad)
    return str(path)


def ingest(store: str, *sources: str, release: str = "2024_01") -> int:
    return main(["ingest", *sources, "--store", store, "--release", release])


def query_rows(store: str, sql: str, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["query", "--store", store, sql, "--format", "csv"]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def test_ingest_then_query_table_is_idempotent(tmp_path, capsys) -> None:
    store = str(tmp_path / "store")
    assert ingest(store, JSON_FILE, FLAT_FILE) == 0
    out = capsys.readouterr().out
    assert "entries ingested" in out and "json" in out and "flat" in out and "transmembrane" in out
    first = query_rows(store, COUNT_SQL, capsys)
    assert int(first[0]["n"]) == int(first[0]["accessions"]) > 200
    assert ingest(store, FLAT_FILE, JSON_FILE) == 0  # again, other order: same rows once
    assert query_rows(store, COUNT_SQL, capsys) == first
    capsys.readouterr()
    assert (
        main(
            [
                "query",
                "--store",
                store,
                "SELECT accession, length FROM proteins ORDER BY 1",
                "--max-rows",
                "3",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["accession", "length"] and set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + 3 + 1 and "not shown" in lines[-1]
    assert lines[2].endswith(lines[2].split()[-1]) and len(lines[2]) == len(lines[3])  # aligned


def test_query_output_formats(tmp_path, capsys) -> None:
    store = str(tmp_path / "store")
    assert ingest(store, JSON_FILE) == 0
    sql = "SELECT accession, length, ec FROM proteins ORDER BY accession LIMIT 5"
    rows = query_rows(store, sql, capsys)
    assert len(rows) == 5 and rows[0]["ec"].startswith("[")
    capsys.readouterr()
    assert main(["query", "--store", store, sql, "--format", "json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["accession"] for o in objects] == [r["accession"] for r in rows]
    assert isinstance(objects[0]["ec"], list)
    for fmt in ("csv", "json", "parquet", "table"):
        out = tmp_path / f"result.{fmt}"
        assert main(["query", "--store", store, sql, "--format", fmt, "--out", str(out)]) == 0
        assert out.stat().st_size > 0
    assert pq.read_table(tmp_path / "result.parquet").column("accession").to_pylist() == [
        r["accession"] for r in rows
    ]
    assert [json.loads(x)["length"] for x in (tmp_path / "result.json").read_text().splitlines()] == [
        int(r["length"]) for r in rows
    ]


def test_bad_entries_are_reported_and_valid_ones_ingested(tmp_path, half_bad_flat, capsys) -> None:
    store = str(tmp_path / "store")
    missing = str(tmp_path / "no_such_file.xml")
    assert ingest(store, half_bad_flat, missing, JSON_FILE) == 1
    err = capsys.readouterr().err.splitlines()
    good_accession, bad_accession = (
        entry.split("\nAC   ")[1].split(";")[0] for entry in first_entries(FLAT_FILE, 2)
    )
    rejected = [line for line in err if line.startswith("rejected:")]
    assert len(rejected) == 1
    assert (
        "half_bad.dat" in rejected[0] and bad_accession in rejected[0] and "invalid characters" in rejected[0]
    )
    assert [line for line in err if line.startswith("unreadable source:") and "no_such_file" in line]
    accessions = {r["accession"] for r in query_rows(store, "SELECT accession FROM proteins", capsys)}
    json_only = str(tmp_path / "json_only")
    assert ingest(json_only, JSON_FILE) == 0
    json_accessions = {
        r["accession"] for r in query_rows(json_only, "SELECT accession FROM proteins", capsys)
    }
    assert accessions == json_accessions | {good_accession}
    assert bad_accession not in accessions


def test_nothing_valid_means_nothing_written(tmp_path, capsys) -> None:
    store = tmp_path / "store"
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this is not a UniProt file\n")
    assert ingest(str(store), str(garbage)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("protxai ingest: error:") and "nothing to ingest" in err[-1]
    assert list_releases(Store(store)) == []
    assert not (store / "releases").exists() or not any((store / "releases").rglob("*.parquet"))


def test_query_errors_are_one_line(tmp_path, capsys) -> None:
    store = str(tmp_path / "store")
    assert ingest(store, JSON_FILE) == 0  # a missing store is its own error (tests/security)
    capsys.readouterr()
    assert main(["query", "--store", store, "SELECT * FROM no_such_table"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("protxai query: error:") and "no_such_table" in err and "\n" not in err
    assert main(["query", "--store", store, "SELECT 1", "--format", "parquet"]) == 2
    assert main(["ingest", JSON_FILE, "--store", store, "--release", "bad/name"]) == 2


def test_s3_round_trip_equals_local(tmp_path, s3_store, capsys) -> None:
    local = str(tmp_path / "store")
    for store in (local, s3_store):
        assert ingest(store, JSON_FILE, FLAT_FILE) == 0
    for sql in ("SELECT * FROM proteins ORDER BY accession", "SELECT * FROM annotations ORDER BY ALL"):
        local_rows = query_rows(local, sql, capsys)
        assert local_rows and local_rows == query_rows(s3_store, sql, capsys)


def test_s3_wrong_keys_via_cli(s3_store, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-777")
    assert main(["query", "--store", s3_store, "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert "credentials refused" in err and "not-the-secret-777" not in err and err.count("\n") == 1


def test_installed_console_script(tmp_path) -> None:
    store = str(tmp_path / "store")
    assert ingest(store, JSON_FILE) == 0
    script = PROJECT_ROOT / ".venv" / "bin" / "protxai"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "protxai_ray.cli"]
    result = subprocess.run(
        [*command, "query", "--store", store, "SELECT count(*) AS n FROM proteins"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["n", "--", "56", "(1", "row)"]


def test_query_piped_into_head_exits_quietly(tmp_path) -> None:
    # The demo's shipped TMbed fold (.gz) gives enough output (1300 sequences, ~650 kB) to outlast the
    # pipe's buffer, so protxai is still writing when `head -1` has gone.
    store = str(tmp_path / "store")
    assert ingest(store, str(DEMO_DATA / HELDOUT_FOLD_FILE)) == 0
    script = PROJECT_ROOT / ".venv" / "bin" / "protxai"
    command = shlex.join([str(script)] if script.exists() else [sys.executable, "-m", "protxai_ray.cli"])
    sql = "SELECT accession, sequence FROM proteins ORDER BY accession"
    for fmt in ("table", "csv", "json"):
        args = shlex.join(["query", "--store", store, sql, "--format", fmt, "--max-rows", "0"])
        result = subprocess.run(
            ["bash", "-c", f'{command} {args} | head -1; echo "protxai exit ${{PIPESTATUS[0]}}" >&2'],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1 and "accession" in result.stdout
        assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
        assert result.stderr.strip() == "protxai exit 141"
