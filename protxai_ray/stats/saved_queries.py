"""Saved user queries over the stats tables (``queries.sql``), filled with SQL literals.

>>> from protxai_ray.stats.saved_queries import saved_query
>>> sql = saved_query("top_heads_for_annotation", run_id="r1", annotation="active_site")
>>> # protxai query --store S "$sql"
"""

from __future__ import annotations

from protxai_ray.stats.sql import NamedQuery, load_queries

DEFAULTS: dict[str, object] = {"limit": 20, "annotation": "active_site"}


def saved_queries() -> dict[str, NamedQuery]:
    """Every saved query by name (with its one-paragraph description in ``.doc``)."""
    return load_queries("queries.sql")


def _literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"unsupported query parameter {value!r}")
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def saved_query(name: str, **parameters: object) -> str:
    """The SQL of saved query ``name`` with its placeholders filled (KeyError names a missing one)."""
    queries = saved_queries()
    if name not in queries:
        raise KeyError(f"no saved query {name!r} (known: {', '.join(queries)})")
    values = {key: _literal(value) for key, value in {**DEFAULTS, **parameters}.items()}
    return queries[name].sql.format(**values)
