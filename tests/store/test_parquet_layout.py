"""Writer encodings chosen with benchmarks/storage.py round-trip exactly (pyarrow and DuckDB readers)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from protxai_ray.store.fs import Store
from protxai_ray.store.parquet import read_table, write_parquet_atomic
from protxai_ray.store.schemas import HEADS, PROTEINS, STATS_TABLES

# Float32 values a codec could mangle: signed zeros, infinities, the smallest subnormal, the largest finite.
SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38, 1.0, -1.0], dtype=np.float32
)


def heads_table(n_proteins: int = 3, layers: int = 2, heads: int = 3, seed: int = 0) -> pa.Table:
    """Heads rows in pipeline order; relevance heavy-tailed random float32 with SPECIAL values mixed in."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {name: [] for name in HEADS.names}
    for i in range(n_proteins):
        tokens = int(rng.integers(20, 60)) + 2
        layer, head, position = np.meshgrid(
            np.arange(layers), np.arange(heads), np.arange(tokens), indexing="ij"
        )
        n = layer.size
        relevance = (rng.standard_t(2, n) * 10.0 ** rng.uniform(-9, -2, n)).astype(np.float32)
        relevance[: len(SPECIAL)] = SPECIAL
        columns["run_id"] += ["run-1"] * n
        columns["accession"] += [f"P{i:05d}"] * n
        columns["crc64"] += [f"{i:016X}"] * n
        columns["layer"] += layer.ravel().tolist()
        columns["head"] += head.ravel().tolist()
        columns["position"] += position.ravel().tolist()
        columns["relevance"].append(relevance)
    columns["relevance"] = np.concatenate(columns["relevance"])
    return pa.table(columns).cast(HEADS)


def encodings(path, column: str) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    found: set[str] = set()
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            chunk = meta.row_group(g).column(c)
            if chunk.path_in_schema == column:
                found |= set(chunk.encodings)
                assert chunk.compression == "ZSTD"
    return found


def test_heads_round_trip_bit_exact_with_chosen_encodings(tmp_path) -> None:
    store = Store(tmp_path / "store")
    table = heads_table()
    write_parquet_atomic(store, "runs/run_id=run-1/heads/shard-00000.parquet", table, HEADS)
    path = tmp_path / "store" / "runs" / "run_id=run-1" / "heads" / "shard-00000.parquet"

    assert "BYTE_STREAM_SPLIT" in encodings(path, "relevance")
    assert "DELTA_BINARY_PACKED" in encodings(path, "position")
    assert "RLE_DICTIONARY" in encodings(path, "accession")
    assert "RLE_DICTIONARY" in encodings(path, "layer")

    back = read_table(store, ["runs/run_id=run-1/heads/shard-00000.parquet"], HEADS)
    assert back.schema == HEADS
    assert back.drop(["relevance"]).equals(table.drop(["relevance"]))
    sent = table.column("relevance").to_numpy().view(np.uint32)
    assert np.array_equal(back.column("relevance").to_numpy().view(np.uint32), sent)

    # DuckDB decodes the same bits (its own BYTE_STREAM_SPLIT / DELTA_BINARY_PACKED readers)
    rows = duckdb.sql(
        f"SELECT position, relevance FROM read_parquet('{path}') ORDER BY accession, layer, head, position"
    ).fetchnumpy()
    assert np.array_equal(rows["position"], table.column("position").to_numpy())
    assert np.array_equal(np.asarray(rows["relevance"], dtype=np.float32).view(np.uint32), sent)


def test_nan_and_float64_stats_round_trip(tmp_path) -> None:
    store = Store(tmp_path / "store")
    schema = STATS_TABLES["head_enrichment"]
    p = np.array([np.nan, 0.0, -0.0, 5e-324, 1.0 - 2**-53, 0.05, np.inf], dtype=np.float64)
    table = pa.table(
        {
            "run_id": ["r"] * len(p),
            "class": ["EC 1"] * len(p),
            "annotation": ["active_site"] * len(p),
            "layer": np.arange(len(p), dtype=np.int16),
            "head": np.zeros(len(p), dtype=np.int16),
            "n": np.arange(len(p), dtype=np.int64),
            "statistic": p[::-1].copy(),
            "p": p,
            "p_adj": p,
            "significant": p < 0.05,
        }
    )
    for name in schema.names:  # the columns this test does not look at, as nulls
        if name not in table.column_names:
            table = table.append_column(schema.field(name), pa.nulls(len(p), schema.field(name).type))
    write_parquet_atomic(store, "stats/head_enrichment/part-0.parquet", table, schema)
    back = read_table(store, ["stats/head_enrichment/part-0.parquet"], schema)
    assert "BYTE_STREAM_SPLIT" in encodings(tmp_path / "store/stats/head_enrichment/part-0.parquet", "p")
    for name in ("statistic", "p", "p_adj"):
        sent = table.column(name).to_numpy()
        got = back.column(name).to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(sent))
        assert np.array_equal(got[~np.isnan(sent)].view(np.uint64), sent[~np.isnan(sent)].view(np.uint64))


def test_nested_columns_keep_dictionary(tmp_path) -> None:
    """Per-column dictionary settings name Parquet leaf paths; list columns (ec, go) must stay encoded."""
    store = Store(tmp_path / "store")
    n = 50
    table = pa.table(
        {
            "release": ["2024_01"] * n,
            "accession": [f"P{i:05d}" for i in range(n)],
            "entry_name": [f"E{i}_HUMAN" for i in range(n)],
            "reviewed": [True] * n,
            "entry_version": [1] * n,
            "sequence_version": [1] * n,
            "crc64": [f"{i:016X}" for i in range(n)],
            "length": [3] * n,
            "sequence": ["MKT"] * n,
            "organism": ["Homo sapiens"] * n,
            "ec": [["1.1.1.1"] if i % 2 else [] for i in range(n)],
            "go": [["GO:0016020", "GO:0005737"]] * n,
        }
    )
    write_parquet_atomic(store, "releases/release=2024_01/proteins/part-0.parquet", table, PROTEINS)
    path = tmp_path / "store/releases/release=2024_01/proteins/part-0.parquet"
    assert "RLE_DICTIONARY" in encodings(path, "go.list.element")
    assert "RLE_DICTIONARY" in encodings(path, "release")
    back = read_table(store, ["releases/release=2024_01/proteins/part-0.parquet"], PROTEINS)
    assert back.equals(table.cast(PROTEINS))
