"""`protxai query --store S "SQL"`: ad-hoc DuckDB SQL over every store view.

Output: an aligned table on stdout (at most ``--max-rows`` rows, default 200, with a line saying how
many were left out), or ``--format csv|json|parquet`` (json = one object per line) to ``--out F`` or to
stdout (csv/json only; parquet needs ``--out``).

Read-only and confined to the store: the SQL must be one query (SELECT, WITH, FROM, VALUES, DESCRIBE,
SHOW, SUMMARIZE; judged by DuckDB's parser, refused before anything runs), and the connection can read
only the store's files and write only the ``--out`` file, which must be a local path outside the store
(see ``protxai_ray.store.duck.connect_confined``). A store path or prefix without a store is an error,
not an empty result.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import duckdb

from protxai_ray.errors import ProtxaiError
from protxai_ray.store.duck import check_read_only, connect_confined, quote_literal, require_layout
from protxai_ray.store.fs import Store

HELP = (
    "run one read-only DuckDB query over the store's tables "
    "(proteins, annotations, predictions, residues, heads, stats, runs)"
)


class QueryError(ProtxaiError):
    """The SQL failed (syntax, unknown table or column, bad output path)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help='SQL to run, e.g. "SELECT count(*) FROM proteins"')
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
    parser.add_argument(
        "--out", help="write the result to this local file (outside the store) instead of stdout"
    )
    parser.add_argument("--max-rows", type=int, default=200, help="rows shown by --format table (0: all)")


def format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def render_table(columns: list[str], rows: list[tuple], numeric: list[bool]) -> str:
    """Rows as an aligned text table: header, rule, rows (numbers right-aligned)."""
    cells = [[format_value(v).replace("\n", " ") for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UBIGINT",
    "UINTEGER",
)


def run(args: argparse.Namespace) -> int:
    if args.format == "parquet" and not args.out:
        raise QueryError("--format parquet needs --out FILE")
    store = require_layout(args.store)
    out = _out_path(args.out, store) if args.out else None
    writable = [out, str(Path(out).with_name(f"tmp_{Path(out).name}"))] if out else []  # COPY's temp file
    con = connect_confined(store, writable=writable)
    try:
        check_read_only(con, args.sql)
        try:
            relation = con.sql(args.sql)
        except duckdb.Error as exc:
            raise QueryError(_error_line(exc)) from exc
        if relation is None:  # cannot happen for a SELECT; nothing to print
            return 0
        try:
            if args.format == "table":
                text = _table_text(relation, args.max_rows)
                if out:
                    try:
                        with open(out, "w") as handle:
                            handle.write(text + "\n")
                    except OSError as exc:
                        raise QueryError(f"--out {args.out}: {exc.strerror or exc}") from None
                else:
                    print(text)
            elif out:
                _copy_to_file(con, relation, args.format, out)
            else:
                _print_rows(relation, args.format)
        except duckdb.Error as exc:
            raise QueryError(_error_line(exc)) from exc
    finally:
        con.close()
    return 0


def _error_line(exc: duckdb.Error) -> str:
    line = " ".join(str(exc).split())
    if isinstance(exc, duckdb.PermissionException):
        line += " (query reads only the store's files)"
    return line


def _out_path(out: str, store: Store) -> str:
    """``--out`` as an absolute local path, or QueryError: a URL, a missing directory, a directory, or
    a path inside the store (also through a symbolic link) is refused before any work."""
    if "://" in out:
        raise QueryError(f"--out {out}: must be a local file path")
    path = Path(out).expanduser()
    target = Path(os.path.realpath(path))  # symbolic links resolved: a link into the store is caught
    if not target.parent.is_dir():
        raise QueryError(f"--out {out}: directory {path.absolute().parent} does not exist")
    if target.is_dir():
        raise QueryError(f"--out {out}: is a directory")
    if not store.is_s3:
        root = Path(os.path.realpath(store.uri))
        if target == root or root in target.parents:
            raise QueryError(f"--out {out}: inside the store {root}, which query never writes to")
    return str(target)


def _copy_to_file(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, fmt: str, out: str
) -> None:
    relation.create_view("_protxai_result", replace=True)
    options = {
        "csv": "FORMAT csv, HEADER true",
        "json": "FORMAT json",
        "parquet": "FORMAT parquet, COMPRESSION zstd",
    }[fmt]
    con.execute(f"COPY (SELECT * FROM _protxai_result) TO {quote_literal(out)} ({options})")


def _table_text(relation: duckdb.DuckDBPyRelation, max_rows: int) -> str:
    columns = list(relation.columns)
    numeric = [str(t).split("(")[0] in _NUMERIC for t in relation.types]
    result = relation
    limit = max_rows if max_rows > 0 else None
    rows = result.fetchmany(limit) if limit else result.fetchall()
    more = 0
    if limit:
        while chunk := result.fetchmany(10_000):
            more += len(chunk)
    total = len(rows) + more
    suffix = f", {more} not shown (--max-rows 0 for all, or --format csv)" if more else ""
    return render_table(columns, rows, numeric) + f"\n({total} row{'s' if total != 1 else ''}{suffix})"


def _print_rows(relation: duckdb.DuckDBPyRelation, fmt: str) -> None:
    columns = list(relation.columns)
    result = relation
    chunk = result.fetchmany(10_000)  # before the header: a query failing at once prints only its error
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
    while chunk:
        for row in chunk:
            if fmt == "csv":
                writer.writerow(
                    ["" if v is None else format_value(v) if isinstance(v, list) else v for v in row]
                )
            else:
                print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
        chunk = result.fetchmany(10_000)
