"""Loader of the named SQL statements kept in this package's ``.sql`` files.

A file holds several statements, each introduced by a ``-- name: NAME`` line; the comment lines right
after it document the statement. Keeping SQL in files (not f-strings) keeps each statistic readable as
the definition in docs/method.md "Statistics".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    doc: str
    sql: str


@functools.cache
def load_queries(filename: str) -> dict[str, NamedQuery]:
    """The named statements of ``protxai_ray/stats/<filename>``, in file order."""
    queries: dict[str, NamedQuery] = {}
    name: str | None = None
    doc: list[str] = []
    body: list[str] = []

    def flush() -> None:
        if name is not None:
            queries[name] = NamedQuery(name, " ".join(doc).strip(), "\n".join(body).strip().rstrip(";"))

    for line in (_HERE / filename).read_text().splitlines():
        match = _NAME.match(line)
        if match:
            flush()
            name, doc, body = match.group(1), [], []
        elif name is not None and not body and line.startswith("--"):
            doc.append(line.lstrip("-").strip())
        elif name is not None:
            body.append(line)
    flush()
    return queries


def query(filename: str, name: str) -> str:
    """The SQL text of statement ``name`` in ``filename``."""
    return load_queries(filename)[name].sql
