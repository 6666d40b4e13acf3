"""Parquet files in the store: exact schemas, zstd, schema version in the metadata, atomic publish.

A file is encoded completely in memory, then handed to ``Store.write_bytes_atomic`` (local: temporary
name + rename; S3: one upload of the finished body), so a failure at any point leaves either the previous
file or nothing visible under the final name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store
from protxai_ray.store.schemas import SCHEMA_VERSION, with_version

COMPRESSION = "zstd"

# Per-column encodings, chosen with benchmarks/storage.py (numbers in benchmarks/README.md "storage"); zstd
# stays at pyarrow's level 1 (levels 3 and 9 saved < 1 % at more write time).
# - float32/float64 columns (relevance, logits, p values) as BYTE_STREAM_SPLIT: their mantissas are noise,
#   and splitting the bytes lets zstd compress the sign/exponent bytes on their own (heads: about -21 %
#   bytes per protein). Dictionary encoding only filled a 1 MiB dictionary page per column chunk with
#   all-distinct values before falling back to PLAIN.
# - ``position`` (0 … length + 1, repeated per head) as DELTA_BINARY_PACKED: about 7x smaller than dictionary.
# - everything else keeps dictionary + RLE (run_id/accession/crc64/layer/head repeat along the rows).
# DuckDB and pyarrow read both encodings; values round-trip bit-exactly (tests/store/test_parquet_layout.py).
BYTE_STREAM_SPLIT_TYPES = (pa.float32(), pa.float64())
DELTA_COLUMNS = frozenset({"position"})


def conform(table: pa.Table, schema: pa.Schema, *, fill_missing: bool = False) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, order and types (extra columns dropped).

    ``fill_missing`` (reading files written by an older version): nullable columns the file lacks come back
    as nulls (schema evolution by added columns). Raises StoreError naming the missing columns or the
    column that cannot be cast.
    """
    missing = [name for name in schema.names if name not in table.column_names]
    if fill_missing:
        for name in missing:
            if schema.field(name).nullable:
                table = table.append_column(schema.field(name), pa.nulls(table.num_rows, schema.field(name).type))
        missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise StoreError(f"table lacks column(s) {', '.join(missing)} of its schema")
    selected = table.select(schema.names)
    try:
        return selected.cast(with_version(schema))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise StoreError(f"table does not fit its schema: {exc}") from exc


def _leaf_paths(field: pa.Field, prefix: str = "") -> list[str]:
    """Parquet column paths under ``field`` (``ec`` → ``ec.list.element``): per-column options match those."""
    path = prefix + field.name
    if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
        return _leaf_paths(field.type.value_field.with_name("element"), path + ".list.")
    if pa.types.is_struct(field.type):
        return [leaf for child in field.type for leaf in _leaf_paths(child, path + ".")]
    return [path]


def encoding_options(schema: pa.Schema) -> dict[str, object]:
    """``pq.write_table`` keyword arguments giving ``schema``'s columns the encodings chosen above."""
    column_encoding = {}
    for field in schema:
        if field.type in BYTE_STREAM_SPLIT_TYPES:
            column_encoding[field.name] = "BYTE_STREAM_SPLIT"
        elif field.name in DELTA_COLUMNS and field.type in (pa.int32(), pa.int64()):
            column_encoding[field.name] = "DELTA_BINARY_PACKED"
    if not column_encoding:
        return {"use_dictionary": True}
    # pyarrow refuses a column encoding on a dictionary-encoded column, so dictionary goes per column
    dictionary = [
        leaf for field in schema if field.name not in column_encoding for leaf in _leaf_paths(field)
    ]
    return {"use_dictionary": dictionary or False, "column_encoding": column_encoding}


def parquet_bytes(table: pa.Table, schema: pa.Schema | None = None) -> pa.Buffer:
    """The complete zstd Parquet encoding of ``table`` (conformed to ``schema`` when given)."""
    conformed = (
        conform(table, schema)
        if schema is not None
        else table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"protxai.schema_version": SCHEMA_VERSION.encode()}
        )
    )
    sink = pa.BufferOutputStream()
    pq.write_table(conformed, sink, compression=COMPRESSION, **encoding_options(conformed.schema))
    return sink.getvalue()


def file_check(data: bytes | pa.Buffer, rows: int) -> dict[str, int | str]:
    """What a manifest records of a committed file so it can be verified later: size, rows, SHA-256."""
    return {"bytes": len(data), "rows": int(rows), "sha256": hashlib.sha256(memoryview(data)).hexdigest()}


def write_parquet_atomic(
    store: Store, relpath: str, table: pa.Table, schema: pa.Schema | None
) -> dict[str, int | str]:
    """Write ``table`` as one Parquet file at ``relpath``, visible only once complete; returns its
    ``file_check`` (bytes, rows, sha256) for the manifest that commits it.

    ``schema`` is one of ``protxai_ray.store.schemas`` (or any Arrow schema); ``None`` keeps the table's
    own schema (still stamped with the schema version).
    """
    data = parquet_bytes(table, schema)
    store.write_bytes_atomic(relpath, data)
    return file_check(data, table.num_rows)


def read_table(store: Store, relpaths: Sequence[str], schema: pa.Schema | None = None) -> pa.Table:
    """The rows of the given Parquet files, in the order listed (empty typed table for no files)."""
    if not relpaths:
        if schema is None:
            raise StoreError("read_table: no files and no schema")
        return schema.empty_table()
    tables = []
    for rel in relpaths:
        try:
            data = store.read_bytes(rel)
        except FileNotFoundError as exc:
            raise StoreError(f"{store.uri_of(rel)}: listed Parquet file is missing") from exc
        table = pq.read_table(pa.BufferReader(data))
        tables.append(conform(table, schema, fill_missing=True) if schema is not None else table)
    combined = pa.concat_tables(tables, promote_options="default" if schema is None else "none")
    return combined.replace_schema_metadata(None)
