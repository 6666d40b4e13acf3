"""`protxai query` is read-only and confined to the store; `attribute --where` is one condition.

Every attack must end in one error line on stderr, exit status 2, and a store whose every file (every
object of the bucket, on S3) is byte-identical afterwards. Normal queries keep working.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from protxai_ray.cli import main
from protxai_ray.stats.saved_queries import saved_queries, saved_query
from protxai_ray.store.duck import SQLRefused, check_where
from protxai_ray.store.fs import Store
from protxai_ray.store.parquet import write_parquet_atomic
from protxai_ray.store.schemas import STATS_TABLES
from tests.conftest import UNIPROT_DATA
from tests.services.seaweed import ACCESS_KEY, SECRET_KEY
from tests.store.test_duck import write_run

JSON_FILE = str(UNIPROT_DATA / "json" / "entries_01.json")
RUN = "run1"
SHARD = f"runs/run_id={RUN}/heads/shard-00000.parquet"
README_QUERY = (
    f"SELECT class, layer, head, n, p_adj, aa_p_adj FROM head_enrichment WHERE run_id = '{RUN}' "
    "AND annotation = 'active_site' AND significant ORDER BY p_adj LIMIT 10"
)
ENRICHMENT = {  # one head_enrichment row (other columns NULL)
    "run_id": RUN,
    "class": "3",
    "annotation": "active_site",
    "layer": 0,
    "head": 1,
    "n": 12,
    "p_adj": 0.01,
    "aa_p_adj": 0.02,
    "significant": True,
}


def make_store(uri: str) -> str:
    """A release ingested and one committed run (the shard the attacks aim at)."""
    assert main(["ingest", JSON_FILE, "--store", uri, "--release", "2024_01"]) == 0
    write_run(Store(uri), RUN, {"00000": ("P1", 3)}, committed=["00000"])
    for table, schema in STATS_TABLES.items():  # the stats tables, for the README's and saved queries
        rows = [{name: ENRICHMENT.get(name) for name in schema.names}] if table == "head_enrichment" else []
        rel = f"runs/run_id={RUN}/stats/{table}/part-0.parquet"
        write_parquet_atomic(Store(uri), rel, pa.Table.from_pylist(rows, schema=schema), schema)
    return uri


@pytest.fixture
def local_store(tmp_path, capsys) -> str:
    uri = make_store(str(tmp_path / "store"))
    capsys.readouterr()
    return uri


@pytest.fixture
def s3_store_with_run(s3_store, capsys) -> str:
    uri = make_store(s3_store)
    capsys.readouterr()
    return uri


@pytest.fixture(params=["local", "s3"])
def any_store(request) -> str:
    return request.getfixturevalue("local_store" if request.param == "local" else "s3_store_with_run")


def snapshot(uri: str) -> dict[str, str]:
    """sha256 of every file of a local store (hidden ones too), or of every object of its S3 bucket."""
    if uri.startswith("s3://"):
        st = Store(uri)
        hashes = {}
        for page in st.client.get_paginator("list_objects_v2").paginate(Bucket=st.bucket):
            for item in page.get("Contents", []):
                body = st.client.get_object(Bucket=st.bucket, Key=item["Key"])["Body"].read()
                hashes[item["Key"]] = hashlib.sha256(body).hexdigest()
        return hashes
    root = Path(uri)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def refused(command: list[str], store: str, capsys, *, command_name: str = "query") -> str:
    """Run ``command``; assert one error line, exit status 2, nothing on stdout, the store unchanged."""
    before = snapshot(store)
    assert before and any(k.endswith(SHARD) for k in before)
    capsys.readouterr()
    rc = main(command)
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert out == ""
    assert err.startswith(f"protxai {command_name}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert snapshot(store) == before
    return err


def query(store: str, sql: str, *extra: str) -> list[str]:
    return ["query", "--store", store, sql, *extra]


def shard_uri(store: str) -> str:
    return Store(store).uri_of(SHARD)


# ---- writing to the store ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "COPY (SELECT * FROM heads) TO '{shard}' (FORMAT parquet)",
        "COPY heads TO '{shard}' (FORMAT parquet)",
        "SELECT 1; COPY (SELECT 1 AS x) TO '{shard}' (FORMAT parquet)",
        "EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{shard}' (FORMAT parquet)",
        "WITH t AS (SELECT 1 AS x) SELECT * FROM t; COPY t TO '{shard}'",
        "EXPORT DATABASE '{dir}'",
    ],
)
def test_copy_over_a_committed_shard_is_refused(any_store, template, capsys) -> None:
    shard = shard_uri(any_store)
    sql = template.format(shard=shard, dir=shard.rsplit("/", 1)[0])
    err = refused(query(any_store, sql), any_store, capsys)
    assert "nothing was run" in err


def test_out_into_the_store_is_refused(local_store, tmp_path, capsys) -> None:
    link = tmp_path / "innocent.parquet"
    link.symlink_to(shard_uri(local_store))
    for out in (shard_uri(local_store), str(link), str(Path(local_store) / "new.csv")):
        err = refused(
            query(local_store, "SELECT * FROM heads", "--format", "parquet", "--out", out),
            local_store,
            capsys,
        )
        assert "inside the store" in err
    assert not (Path(local_store) / "new.csv").exists()


# ---- reaching outside the store ------------------------------------------------------------------


def test_attach_is_refused(local_store, tmp_path, capsys) -> None:
    for sql in (f"ATTACH '{tmp_path / 'evil.duckdb'}' AS evil", "ATTACH ':memory:' AS m", "DETACH memory"):
        err = refused(query(local_store, sql), local_store, capsys)
        assert "not allowed" in err
    assert not (tmp_path / "evil.duckdb").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT count(*) FROM proteins WHERE accession IN (SELECT column0 FROM read_csv('/etc/passwd'))",
        "SELECT * FROM read_csv('{store}/../outside.csv')",
        "SELECT * FROM read_csv('{store}2/sibling.csv')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    ],
)
def test_files_outside_the_store_are_unreadable(local_store, sql, capsys) -> None:
    (Path(local_store).parent / "outside.csv").write_text("secret\nroot:x:0:0\n")
    (Path(local_store + "2")).mkdir()
    (Path(local_store + "2") / "sibling.csv").write_text("secret\nroot:x:0:0\n")
    err = refused(query(local_store, sql.format(store=local_store), "--format", "csv"), local_store, capsys)
    assert "root:x" not in err and "disabled by configuration" in err


@pytest.mark.parametrize(
    "sql",
    [
        "INSTALL httpfs",
        "FORCE INSTALL httpfs FROM 'http://127.0.0.1:9'",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET lock_configuration",
        "CREATE TABLE t AS SELECT 1",
        "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "CALL duckdb_settings()",
        "PIVOT proteins ON reviewed USING count(*)",
    ],
)
def test_install_load_set_and_ddl_are_refused(local_store, sql, capsys) -> None:
    err = refused(query(local_store, sql), local_store, capsys)
    assert "nothing was run" in err


def test_s3_reads_stay_inside_the_store_prefix(s3_store_with_run, capsys) -> None:
    st = Store(s3_store_with_run)
    st.client.put_object(Bucket=st.bucket, Key="elsewhere/x.csv", Body=b"secret\n")
    for sql in (
        f"SELECT * FROM read_csv('s3://{st.bucket}/elsewhere/x.csv')",
        f"SELECT * FROM glob('s3://{st.bucket}/*')",
        "SELECT * FROM read_csv('/etc/passwd')",
    ):
        err = refused(query(s3_store_with_run, sql), s3_store_with_run, capsys)
        assert "disabled by configuration" in err


# ---- secrets ---------------------------------------------------------------------------------------


def test_s3_secret_is_never_printed(s3_store_with_run, capsys) -> None:
    """The secret key is given as a DuckDB SECRET (redacted), not left in the s3_* settings."""
    for sql in (
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_secrets()",
        "SELECT current_setting('s3_secret_access_key') AS s, current_setting('s3_session_token') AS t",
        "SELECT * FROM which_secret('s3://x/y', 's3')",
    ):
        for fmt in ("csv", "json", "table"):
            capsys.readouterr()
            rc = main(query(s3_store_with_run, sql, "--format", fmt, "--max-rows", "0"))
            out, err = capsys.readouterr()
            assert rc == 0, err
            assert out and SECRET_KEY not in out + err
    capsys.readouterr()
    assert main(query(s3_store_with_run, "SELECT * FROM duckdb_settings()", "--format", "csv")) == 0
    settings = capsys.readouterr().out
    assert "s3_secret_access_key," in settings and ACCESS_KEY not in settings  # present, and empty
    err = refused(
        query(s3_store_with_run, "SELECT * FROM duckdb_secrets(redact = false)"), s3_store_with_run, capsys
    )
    assert SECRET_KEY not in err


# ---- attribute --where ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "x; COPY (SELECT 1 AS x) TO '{shard}' (FORMAT parquet)",
        "true; COPY (SELECT 1 AS x) TO '{shard}' (FORMAT parquet)",
        "true) ; COPY (SELECT 1 AS x) TO '{shard}' (FORMAT parquet); SELECT * FROM proteins WHERE (true",
        "true -- ; COPY (SELECT 1 AS x) TO '{shard}'\n; COPY (SELECT 1 AS x) TO '{shard}'",
        "true UNION ALL SELECT 1",
    ],
)
def test_where_with_a_second_statement_is_refused(local_store, tmp_path, where, capsys) -> None:
    where = where.format(shard=shard_uri(local_store))
    command = ["attribute", "--store", local_store, "--release", "2024_01", "--model", str(tmp_path / "m")]
    err = refused([*command, "--where", where], local_store, capsys, command_name="attribute")
    assert "--where" in err and "SQL condition" in err


@pytest.mark.parametrize(
    "where",
    [
        "length < 100",
        "length BETWEEN 50 AND 400 AND reviewed -- short reviewed proteins",
        "accession IN ('P1', 'P2') OR (length > 10 AND 'transmembrane' = ANY(feature_types))",
        "accession IN (SELECT accession FROM proteins WHERE length < 100)",
    ],
)
def test_where_conditions_pass_the_check(where) -> None:
    check_where(where)


def test_where_check_refuses_non_conditions() -> None:
    for where in ("", "1; SELECT 2", "COPY proteins TO 'x'"):
        with pytest.raises(SQLRefused, match="--where"):
            check_where(where)


# ---- bad paths -------------------------------------------------------------------------------------


def test_out_into_a_missing_directory_is_one_line(local_store, capsys) -> None:
    err = refused(query(local_store, "SELECT 1", "--out", "/missing/dir/x"), local_store, capsys)
    assert "/missing/dir" in err and "does not exist" in err
    err = refused(
        query(local_store, "SELECT 1", "--format", "csv", "--out", "/missing/dir/x.csv"), local_store, capsys
    )
    assert "does not exist" in err


def test_missing_store_is_an_error_not_an_empty_result(tmp_path, capsys) -> None:
    missing = tmp_path / "no_such_store"
    assert main(query(str(missing), "SELECT count(*) FROM proteins")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and str(missing) in err
    assert not missing.exists()
    (tmp_path / "not_a_store").mkdir()
    (tmp_path / "not_a_store" / "notes.txt").write_text("hello\n")
    assert main(query(str(tmp_path / "not_a_store"), "SELECT count(*) FROM proteins")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no store layout" in err


def test_missing_s3_prefix_is_an_error(s3_store_with_run, capsys) -> None:
    typo = s3_store_with_run.rstrip("/") + "-typo"
    assert main(query(typo, "SELECT count(*) FROM proteins")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no store layout" in err and typo in err
    assert SECRET_KEY not in err


# ---- what keeps working ----------------------------------------------------------------------------


def test_read_only_queries_still_work(any_store, tmp_path, capsys) -> None:
    for sql in (
        README_QUERY,
        "SELECT count(*) AS n FROM proteins",
        "WITH h AS (SELECT * FROM heads) SELECT count(*) FROM h",
        "FROM runs SELECT run_id",
        "DESCRIBE proteins",
        "SHOW TABLES",
        "SUMMARIZE heads",
        "VALUES (1, 'a')",
        f"SELECT count(*) FROM read_parquet('{shard_uri(any_store)}')",  # a file of the store itself
        *(
            saved_query(name, run_id=RUN, annotation="active_site", layer=0, head=1)
            for name in saved_queries()
        ),
    ):
        capsys.readouterr()
        assert main(query(any_store, sql, "--format", "csv")) == 0, (sql, capsys.readouterr().err)
    capsys.readouterr()
    assert main(query(any_store, "SELECT count(*) AS n FROM heads", "--format", "csv")) == 0
    assert capsys.readouterr().out.split() == ["n", "5"]
    assert main(query(any_store, README_QUERY, "--format", "csv")) == 0
    assert capsys.readouterr().out.split() == ["class,layer,head,n,p_adj,aa_p_adj", "3,0,1,12,0.01,0.02"]
    # --out, twice to the same file (DuckDB then writes a tmp_ file first and renames it)
    sql = "SELECT accession, length FROM proteins ORDER BY accession LIMIT 4"
    for fmt in ("parquet", "csv", "json", "table"):
        out = tmp_path / f"result.{fmt}"
        for _ in range(2):
            assert main(query(any_store, sql, "--format", fmt, "--out", str(out))) == 0
        assert out.stat().st_size > 0
    assert pq.read_table(tmp_path / "result.parquet").num_rows == 4
    assert sorted(os.listdir(tmp_path)) == sorted(
        [
            *(f"result.{f}" for f in ("parquet", "csv", "json", "table")),
            *(["store"] if "://" not in any_store else []),
        ]
    )
