"""Parquet files: exact schemas, zstd, schema version metadata, atomic publish, reading back."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from protxai_ray.errors import StoreError
from protxai_ray.store import parquet as store_parquet
from protxai_ray.store.fs import Store
from protxai_ray.store.parquet import read_table, write_parquet_atomic
from protxai_ray.store.schemas import RESIDUES, SCHEMA_VERSION


def residues(n: int, run_id: str = "r1") -> pa.Table:
    # int64 / float64 / shuffled columns on purpose: the writer must cast to the exact schema
    return pa.table(
        {
            "relevance": [0.5 * i for i in range(n)],
            "position": list(range(n)),
            "run_id": [run_id] * n,
            "accession": ["P12345"] * n,
            "crc64": ["E3DCADD69B01ADD1"] * n,
            "residue": ["M"] * n,
            "extra": [1] * n,
        }
    )


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return Store(request.getfixturevalue("s3_store"))


def test_written_file_has_exact_schema_zstd_and_version(store: Store) -> None:
    write_parquet_atomic(store, "runs/run_id=r1/residues/shard-00000.parquet", residues(5), RESIDUES)
    data = store.read_bytes("runs/run_id=r1/residues/shard-00000.parquet")
    parquet_file = pq.ParquetFile(pa.BufferReader(data))
    schema = parquet_file.schema_arrow
    assert schema.remove_metadata() == RESIDUES
    assert schema.metadata[b"protxai.schema_version"] == SCHEMA_VERSION.encode()
    assert parquet_file.metadata.row_group(0).column(0).compression == "ZSTD"
    back = read_table(store, ["runs/run_id=r1/residues/shard-00000.parquet"], RESIDUES)
    assert back.column("relevance").to_pylist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert back.schema == RESIDUES


def test_read_table_concatenates_in_order_and_types_empty(store: Store) -> None:
    write_parquet_atomic(store, "t/a.parquet", residues(2, "a"), RESIDUES)
    write_parquet_atomic(store, "t/b.parquet", residues(3, "b"), RESIDUES)
    table = read_table(store, ["t/b.parquet", "t/a.parquet"], RESIDUES)
    assert table.column("run_id").to_pylist() == ["b", "b", "b", "a", "a"]
    assert read_table(store, [], RESIDUES).schema == RESIDUES
    with pytest.raises(StoreError, match="missing"):
        read_table(store, ["t/none.parquet"], RESIDUES)


def test_schema_mismatch_is_a_store_error(tmp_path) -> None:
    store = Store(tmp_path)
    with pytest.raises(StoreError, match="lacks column"):
        write_parquet_atomic(store, "x.parquet", residues(2).drop_columns(["crc64"]), RESIDUES)
    bad = residues(2).set_column(1, "position", pa.array(["one", "two"]))
    with pytest.raises(StoreError, match="does not fit"):
        write_parquet_atomic(store, "x.parquet", bad, RESIDUES)
    assert store.list() == []


def test_failure_while_encoding_leaves_no_file(store: Store, monkeypatch) -> None:
    write_parquet_atomic(store, "t/f.parquet", residues(2), RESIDUES)

    def broken_write_table(table, where, **kwargs):
        where.write(b"PAR1 partial bytes")  # some bytes reached the buffer, then the encoder failed
        raise OSError("encoder failed (simulated)")

    monkeypatch.setattr(store_parquet.pq, "write_table", broken_write_table)
    with pytest.raises(OSError):
        write_parquet_atomic(store, "t/f.parquet", residues(7), RESIDUES)
    with pytest.raises(OSError):
        write_parquet_atomic(store, "t/g.parquet", residues(7), RESIDUES)
    monkeypatch.undo()
    assert store.list("t") == ["t/f.parquet"]
    assert read_table(store, ["t/f.parquet"], RESIDUES).num_rows == 2


def test_s3_upload_failure_leaves_no_object(s3_store, monkeypatch) -> None:
    store = Store(s3_store)
    store.write_bytes_atomic("t/keep.bin", b"x")

    def refused(**kwargs):
        raise OSError("Connection reset by peer (simulated mid-upload)")

    monkeypatch.setenv("PROTXAI_S3_RETRY_SECONDS", "1")
    store.retry_seconds = 1.0
    monkeypatch.setattr(store.client, "put_object", refused)
    with pytest.raises(StoreError, match="unreachable during write"):
        write_parquet_atomic(store, "t/f.parquet", residues(3), RESIDUES)
    monkeypatch.undo()
    assert store.list("t") == ["t/keep.bin"]


def test_files_of_an_older_schema_read_with_added_columns_as_nulls(tmp_path) -> None:
    """A release written before ``annotations.evidence`` existed stays readable (and mergeable)."""
    from protxai_ray.store.schemas import ANNOTATIONS

    store = Store(tmp_path)
    old_schema = pa.schema([f for f in ANNOTATIONS if f.name != "evidence"])
    old = pa.table(
        {"release": ["r"], "accession": ["P1"], "feature_type": ["motif"], "start": [3], "end": [5]}
        | {"description": [None], "ligand": [None]},
        schema=old_schema,
    )
    write_parquet_atomic(store, "old/part-0.parquet", old, old_schema)
    back = read_table(store, ["old/part-0.parquet"], ANNOTATIONS)
    assert back.schema.names == ANNOTATIONS.names and back.column("evidence").to_pylist() == [None]
    assert back.column("start").to_pylist() == [3]
