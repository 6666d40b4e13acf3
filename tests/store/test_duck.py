"""DuckDB views over local and S3 stores: typed when empty, only committed files, same rows both ways."""

from __future__ import annotations

import csv
from collections import Counter

import pyarrow as pa
import pytest

from protxai_ray.store.duck import connect, register_views
from protxai_ray.store.fs import Store
from protxai_ray.store.parquet import write_parquet_atomic
from protxai_ray.store.schemas import (
    ANNOTATIONS,
    PROTEINS,
    RELEASE_CHANGES,
    RUN_TABLES,
    RUNS,
    STATS_TABLES,
)
from tests.conftest import UNIPROT_DATA

ALL_VIEWS = {
    "proteins": PROTEINS,
    "annotations": ANNOTATIONS,
    **RUN_TABLES,
    **STATS_TABLES,
    "release_changes": RELEASE_CHANGES,
    "runs": RUNS,
}
INDEX_FEATURES = {
    "n_active_site": "active_site",
    "n_binding_site": "binding_site",
    "n_metal_binding_legacy": "metal_binding",
    "n_np_binding_legacy": "nucleotide_binding",
    "n_motif": "motif",
    "n_transmembrane": "transmembrane",
    "n_domain": "domain",
}


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return Store(request.getfixturevalue("s3_store"))


def columns(con, view: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {view}").fetchall()]


def test_every_view_exists_typed_and_empty(store: Store) -> None:
    con = connect(store)
    for view, schema in ALL_VIEWS.items():
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view
        assert [name for name, _ in columns(con, view)] == schema.names, view
    assert dict(columns(con, "proteins"))["ec"] == "VARCHAR[]"
    assert dict(columns(con, "heads"))["layer"] == "SMALLINT"
    assert dict(columns(con, "predictions"))["logit"] == "FLOAT"


def shard_tables(run_id: str, accession: str, length: int) -> dict[str, pa.Table]:
    positions = list(range(length + 2))
    base = {"run_id": run_id, "accession": accession, "crc64": "E3DCADD69B01ADD1"}
    return {
        "predictions": pa.table(
            {
                **{k: [v] for k, v in base.items()},
                "target_index": [1],
                "target_name": ["3"],
                "logit": [2.5],
                "baseline_logit": [0.5],
                "probability": [0.9],
                "ig_sum": [2.0],
                "convergence_delta": [0.01],
                "n_steps": [32],
                "head_error": [None],
            }
        ),
        "residues": pa.table(
            {
                **{k: [v] * len(positions) for k, v in base.items()},
                "position": positions,
                "residue": ["<s>"] + ["M"] * length + ["</s>"],
                "relevance": [0.1] * len(positions),
            }
        ),
        "heads": pa.table(
            {
                **{k: [v] * len(positions) for k, v in base.items()},
                "layer": [0] * len(positions),
                "head": [1] * len(positions),
                "position": positions,
                "relevance": [0.2] * len(positions),
            }
        ),
        "failures": pa.table(
            {k: [] for k in ("run_id", "accession", "crc64", "reason")}, schema=RUN_TABLES["failures"]
        ),
    }


def write_run(
    store: Store, run_id: str, shards: dict[str, tuple[str, int]], committed: list[str], **extra
) -> None:
    """Shard files for every shard, but only ``committed`` ones listed in the manifest (contract 3)."""
    listed = []
    for shard, (accession, length) in shards.items():
        files = {}
        for table, rows in shard_tables(run_id, accession, length).items():
            rel = f"{table}/shard-{shard}.parquet"
            write_parquet_atomic(store, f"runs/run_id={run_id}/{rel}", rows, RUN_TABLES[table])
            files[table] = rel
        if shard in committed:
            listed.append({"shard": shard, "proteins": 1, "files": files})
    manifest = {
        "schema_version": "1",
        "run_id": run_id,
        "release": "2024_01",
        "target": "label",
        "model": {"path": "/m", "sha256": "ab" * 32, "label_names": ["a", "b"]},
        "method": {"steps": 32},
        "code_version": "0.1.0",
        "started": "2026-11-25T12:00:00Z",
        "finished": None,
        "parent_run": None,
        "shards": listed,
        **extra,
    }
    store.write_json_atomic(f"runs/run_id={run_id}/manifest.json", manifest)


def test_run_views_read_only_committed_shards(store: Store) -> None:
    write_run(store, "run1", {"00000": ("P1", 3), "00001": ("P2", 4)}, committed=["00000"])
    write_run(
        store,
        "run2",
        {"00000": ("P3", 5)},
        committed=["00000"],
        parent_run="run1",
        finished="2026-11-25T13:00:00Z",
    )
    store.write_bytes_atomic("runs/run_id=run3/residues/shard-00000.parquet", b"no manifest yet")
    con = connect(store)
    assert con.execute("SELECT accession, count(*) FROM residues GROUP BY 1 ORDER BY 1").fetchall() == [
        ("P1", 5),
        ("P3", 7),
    ]
    assert con.execute("SELECT run_id, accession FROM predictions ORDER BY 1").fetchall() == [
        ("run1", "P1"),
        ("run2", "P3"),
    ]
    assert con.execute("SELECT count(*) FROM heads").fetchone() == (12,)
    assert con.execute("SELECT * FROM runs ORDER BY run_id").fetchall() == [
        (
            "run1",
            "2024_01",
            "label",
            "ab" * 32,
            None,
            "2026-11-25T12:00:00Z",
            None,
            1,
            1,
            None,
            None,
            "32",
            None,
            None,
        ),
        ("run2", "2024_01", "label", "ab" * 32, "run1", "2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z", 1, 1)
        + (None, None, "32", None, None),  # method, derivative, steps, precision, tolerance (manifest "method")
    ]
    # the second shard commits: a refreshed connection sees it
    write_run(store, "run1", {"00000": ("P1", 3), "00001": ("P2", 4)}, committed=["00000", "00001"])
    register_views(con, store)
    assert con.execute("SELECT count(DISTINCT accession) FROM residues").fetchone() == (3,)


def test_stats_and_release_changes_views(store: Store) -> None:
    write_run(store, "run1", {"00000": ("P1", 3)}, committed=["00000"])
    write_run(store, "run2", {"00000": ("P3", 5)}, committed=["00000"])
    positivity = pa.table(
        {
            "class": ["3"],
            "layer": [0],
            "head": [1],
            "n": [10],
            "statistic": [4.0],
            "p": [0.01],
            "p_adj": [0.02],
        }
    )  # no run_id column: taken from the path
    write_parquet_atomic(store, "runs/run_id=run1/stats/head_positivity/part-0.parquet", positivity, None)
    with_id = positivity.append_column("run_id", pa.array(["run2"]))
    write_parquet_atomic(store, "runs/run_id=run2/stats/head_positivity/part-0.parquet", with_id, None)
    write_parquet_atomic(
        store, "runs/run_id=run1/stats/my_extra_table/part-0.parquet", pa.table({"x": [7]}), None
    )
    changes = pa.table(
        {
            "release": ["2024_02"],
            "previous_release": ["2024_01"],
            "accession": ["P1"],
            "change": ["sequence_changed"],
            "crc64_old": ["A" * 16],
            "crc64_new": ["B" * 16],
        }
    )
    write_parquet_atomic(store, "releases/release=2024_02/changes/part-0.parquet", changes, None)
    con = connect(store)
    assert con.execute("SELECT run_id, n FROM head_positivity ORDER BY run_id").fetchall() == [
        ("run1", 10),
        ("run2", 10),
    ]
    assert con.execute("SELECT run_id, x FROM my_extra_table").fetchall() == [("run1", 7)]
    assert con.execute("SELECT accession, change FROM release_changes").fetchall() == [
        ("P1", "sequence_changed")
    ]
    assert con.execute("SELECT count(*) FROM head_enrichment").fetchone() == (0,)


def test_materialized_tables(ingested) -> None:
    con = connect(ingested.local, read_only_views=False)
    assert con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name='proteins'"
    ).fetchone() == ("BASE TABLE",)
    assert con.execute("SELECT count(*) FROM proteins").fetchone() == (1066,)


def test_local_and_s3_give_the_same_rows(ingested, s3_env) -> None:
    """Acceptance: the same ingest to a local directory and to S3, queried through DuckDB, is equal."""
    local, s3 = connect(ingested.local), connect(ingested.s3)
    for sql in (
        "SELECT * FROM proteins ORDER BY accession",
        "SELECT * FROM annotations ORDER BY ALL",
        "SELECT feature_type, count(*) FROM annotations GROUP BY 1 ORDER BY 1",
    ):
        rows = local.execute(sql).fetchall()
        assert rows and rows == s3.execute(sql).fetchall(), sql
    assert len(local.execute("SELECT * FROM proteins").fetchall()) == 1066


def test_main_set_matches_index(ingested) -> None:
    """The accessions and versions of ../shared/data/uniprot/index.tsv, and every parsed feature, via SQL.

    (Feature counts against index.tsv, with the parser's documented drops such as other-isoform
    locations, are checked in tests/uniprot/test_main_set.py; here the store must keep what was parsed.)
    """
    with open(UNIPROT_DATA / "index.tsv", newline="") as handle:
        index = {row["accession"]: row for row in csv.DictReader(handle, delimiter="\t")}
    con = connect(ingested.local)
    accessions = [a for (a,) in con.execute("SELECT accession FROM proteins ORDER BY 1").fetchall()]
    assert accessions == sorted(index)
    versions = dict(con.execute("SELECT accession, entry_version FROM proteins").fetchall())
    assert all(str(versions[a]) == row["entry_version"] for a, row in index.items() if row["entry_version"])
    stored = Counter(
        {
            (accession, feature_type): n
            for accession, feature_type, n in con.execute(
                "SELECT accession, feature_type, count(*) FROM annotations GROUP BY 1, 2"
            ).fetchall()
        }
    )
    parsed = Counter((e.accession, f.feature_type) for e in ingested.collection.entries for f in e.features)
    assert stored == parsed
    for column, feature_type in INDEX_FEATURES.items():  # the named types are all present
        assert sum(int(row[column]) > 0 for row in index.values()) > 0
        assert any(key[1] == feature_type for key in stored), feature_type
