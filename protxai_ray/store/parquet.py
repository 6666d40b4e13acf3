"""Parquet files in the store: exact schemas, zstd, schema version in the metadata, atomic publish.

A file is encoded completely in memory, then handed to ``Store.write_bytes_atomic`` (local: temporary
name + rename; S3: one upload of the finished body), so a failure at any point leaves either the previous
file or nothing visible under the final name.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store
from protxai_ray.store.schemas import SCHEMA_VERSION, with_version

COMPRESSION = "zstd"


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, order and types (extra columns dropped).

    Raises StoreError naming the missing columns or the column that cannot be cast.
    """
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise StoreError(f"table lacks column(s) {', '.join(missing)} of its schema")
    selected = table.select(schema.names)
    try:
        return selected.cast(with_version(schema))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise StoreError(f"table does not fit its schema: {exc}") from exc


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
    pq.write_table(conformed, sink, compression=COMPRESSION)
    return sink.getvalue()


def write_parquet_atomic(store: Store, relpath: str, table: pa.Table, schema: pa.Schema | None) -> None:
    """Write ``table`` as one Parquet file at ``relpath``, visible only once complete.

    ``schema`` is one of ``protxai_ray.store.schemas`` (or any Arrow schema); ``None`` keeps the table's
    own schema (still stamped with the schema version).
    """
    store.write_bytes_atomic(relpath, parquet_bytes(table, schema))


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
        tables.append(conform(table, schema) if schema is not None else table)
    combined = pa.concat_tables(tables, promote_options="default" if schema is None else "none")
    return combined.replace_schema_metadata(None)
