"""`protxai query --store S "SQL"`: ad-hoc DuckDB SQL over every store view.

Output: an aligned table on stdout (at most ``--max-rows`` rows, default 200, with a line saying how
many were left out), or ``--format csv|json|parquet`` (json = one object per line) to ``--out F`` or to
stdout (csv/json only; parquet needs ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from typing import Any

import duckdb

from protxai_ray.errors import ProtxaiError
from protxai_ray.store.duck import connect, quote_literal

HELP = "run DuckDB SQL over the store's tables (proteins, annotations, predictions, residues, heads, stats, runs)"


class QueryError(ProtxaiError):
    """The SQL failed (syntax, unknown table or column, bad output path)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help='SQL to run, e.g. "SELECT count(*) FROM proteins"')
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
    parser.add_argument("--out", help="write the result to this file instead of stdout")
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
    con = connect(args.store)
    try:
        try:
            relation = con.sql(args.sql)
        except duckdb.Error as exc:
            raise QueryError(" ".join(str(exc).split())) from exc
        if relation is None:  # a statement without a result (SET, CREATE TEMP VIEW ...)
            return 0
        try:
            if args.format == "table":
                text = _table_text(relation, args.max_rows)
                if args.out:
                    with open(args.out, "w") as handle:
                        handle.write(text + "\n")
                else:
                    print(text)
            elif args.out:
                _copy_to_file(con, relation, args.format, args.out)
            else:
                _print_rows(relation, args.format)
        except duckdb.Error as exc:
            raise QueryError(" ".join(str(exc).split())) from exc
    finally:
        con.close()
    return 0


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
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
    while chunk := result.fetchmany(10_000):
        for row in chunk:
            if fmt == "csv":
                writer.writerow(
                    ["" if v is None else format_value(v) if isinstance(v, list) else v for v in row]
                )
            else:
                print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
