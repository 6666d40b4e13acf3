"""DuckDB over the store: every store table registered as a view, local or ``s3://``.

Only committed data is visible: ``proteins``/``annotations`` read the files listed by each release's
``_release.json``; ``predictions``/``residues``/``heads``/``failures`` read the shard files listed by each
run's ``manifest.json``. Stats tables are every ``runs/run_id=*/stats/<table>/*.parquet`` (``run_id`` taken
from the path when a file lacks it), ``release_changes`` every ``releases/release=*/changes/*.parquet``,
and ``runs`` has one row per run manifest. A view with no file behind it is empty but typed.

Connecting costs one listing plus one manifest read per release and per run (done on a thread pool);
each view is a single ``read_parquet([...])`` over its file list, evaluated lazily by DuckDB.

For ``s3://`` stores the ``httpfs`` extension is loaded from the ``duckdb-extension-httpfs`` package
(offline, never ``INSTALL``) and the AWS_* variables become a DuckDB S3 secret (redacted by
``duckdb_secrets()``); the ``s3_*`` key settings that httpfs copies from the environment when it loads are
cleared, so ``duckdb_settings()`` never shows a key.

``connect_confined`` is the connection of user-written SQL (``protxai query``): external access is
limited to the store's files (plus the named output files), extensions cannot be installed or loaded,
and the configuration is locked. ``check_read_only`` admits exactly one SELECT-type statement, and
``check_where`` one condition, both judged by DuckDB's own parser.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from protxai_ray.errors import ProtxaiError, StoreError
from protxai_ray.store.fs import Store, open_store
from protxai_ray.store.releases import RELEASE_NAME, read_release_manifest
from protxai_ray.store.runs import read_run_manifest
from protxai_ray.store.schemas import (
    ANALYSIS_TABLES,
    RELEASE_CHANGES,
    RELEASE_TABLES,
    RUN_TABLES,
    RUNS,
    STATS_TABLES,
)
from protxai_ray.store.verify import QUARANTINE, read_quarantine, shard_problems


@dataclass
class StoreContents:
    """Store-relative file lists per view, gathered from manifests and listings."""

    release_files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in RELEASE_TABLES})
    run_files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in RUN_TABLES})
    stats_files: dict[str, list[str]] = field(default_factory=dict)
    change_files: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    # shards left out of the views (missing/truncated files, quarantined) and unreadable run manifests
    damaged: list[str] = field(default_factory=list)


def scan(store: Store) -> StoreContents:
    """Read every release and run manifest (and list stats/changes files) of ``store``."""
    contents = StoreContents()
    releases = [d for d in store.list_dirs("releases") if d.startswith("release=")]
    runs = [d for d in store.list_dirs("runs") if d.startswith("run_id=")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        release_parts = list(pool.map(lambda d: _scan_release(store, d), releases))
        run_parts = list(pool.map(lambda d: _scan_run(store, d), runs))
    for files, changes in release_parts:
        for table, rels in files.items():
            contents.release_files.setdefault(table, []).extend(rels)
        contents.change_files.extend(changes)
    for row, files, stats, damaged in run_parts:
        contents.damaged.extend(damaged)
        if row is None:
            continue
        contents.runs.append(row)
        for table, rels in files.items():
            contents.run_files.setdefault(table, []).extend(rels)
        for table, rels in stats.items():
            contents.stats_files.setdefault(table, []).extend(rels)
    return contents


def _scan_release(store: Store, dirname: str) -> tuple[dict[str, list[str]], list[str]]:
    base = f"releases/{dirname}"
    if not RELEASE_NAME.match(dirname[len("release=") :]):
        return {}, []
    # the diff is its own commit (written whole, atomically), independent of the release manifest
    changes = [rel for rel in store.list(f"{base}/changes") if rel.endswith(".parquet")]
    manifest = read_release_manifest(store, dirname[len("release=") :])
    if manifest is None:
        return {}, changes  # release never committed
    files = {table: [f"{base}/{rel}" for rel in rels] for table, rels in manifest.files.items()}
    return files, changes


def _scan_run(
    store: Store, dirname: str
) -> tuple[dict[str, Any] | None, dict[str, list[str]], dict[str, list[str]], list[str]]:
    base = f"runs/{dirname}"
    run_id = dirname[len("run_id=") :]
    try:
        manifest = read_run_manifest(store, run_id)
    except StoreError as exc:
        return None, {}, {}, [f"run {run_id}: left out of the views, {exc}"]
    if manifest is None:
        return None, {}, {}, []  # a run directory whose manifest is not written yet: nothing committed
    sizes = store.list_sizes(base)  # one listing: the quick file check, the quarantine and the stats files
    held = read_quarantine(store, run_id) if f"{base}/{QUARANTINE}" in sizes else set()
    files: dict[str, list[str]] = {}
    damaged: list[str] = []
    shards = manifest.shards
    for shard in shards:
        if shard.shard in held:
            damaged.append(f"run {run_id} shard {shard.shard}: quarantined")
            continue
        problems = shard_problems(store, run_id, shard, sizes, deep=False)
        if problems:
            damaged += [p.line(store) for p in problems]
            continue
        for table, rel in shard.files.items():
            if rel:
                files.setdefault(table, []).append(f"{base}/{rel}")
    stats: dict[str, list[str]] = {}
    for rel in sizes:
        parts = rel[len(base) + 1 :].split("/")  # stats/<table>/<file>
        if len(parts) == 3 and parts[0] == "stats" and parts[2].endswith(".parquet"):
            stats.setdefault(parts[1], []).append(rel)
    row = {
        "run_id": manifest.run_id or run_id,
        "release": manifest.release,
        "target": manifest.target,
        "model_sha256": manifest.model.sha256 if manifest.model else None,
        "parent_run": manifest.parent_run,
        "started": manifest.started,
        "finished": manifest.finished,
        "n_shards": len(shards),
        "proteins": manifest.proteins,
    }
    method = manifest.method or {}
    for key in ("method", "derivative", "steps", "precision"):
        row[key] = _str_or_none(method.get(key))
    tolerance = method.get("tolerance") if method.get("steps") == "auto" else None
    row["tolerance"] = float(tolerance) if isinstance(tolerance, int | float) else None
    return row, files, stats, damaged


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


# ---- SQL -----------------------------------------------------------------------------------------


_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
}


def duck_type(dtype: pa.DataType) -> str:
    """DuckDB's name for an Arrow type of the store schemas."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return f"{duck_type(dtype.value_type)}[]"
    if dtype in _DUCK_TYPES:
        return _DUCK_TYPES[dtype]
    raise StoreError(f"no DuckDB type for Arrow type {dtype}")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def empty_select(schema: pa.Schema) -> str:
    """A typed, empty SELECT with ``schema``'s columns."""
    cols = ", ".join(f"CAST(NULL AS {duck_type(f.type)}) AS {quote_ident(f.name)}" for f in schema)
    return f"SELECT {cols} WHERE false"


def parquet_select(uris: Iterable[str], *, hive: bool = False) -> str:
    listing = ", ".join(quote_literal(u) for u in uris)
    options = (
        "hive_partitioning=true, hive_types_autocast=false, union_by_name=true"
        if hive
        else ("hive_partitioning=false")
    )
    return f"SELECT * FROM read_parquet([{listing}], {options})"


_ENV_CREDENTIAL_SETTINGS = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token")


def _attach_s3(con: duckdb.DuckDBPyConnection, store: Store) -> None:
    from duckdb_extensions import import_extension

    import_extension("httpfs", con=con)
    con.execute("LOAD httpfs")
    # httpfs copies AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN into these settings when
    # it loads, and duckdb_settings() / current_setting() print settings in clear: the secret below
    # carries the credentials instead (duckdb_secrets() redacts it)
    for setting in _ENV_CREDENTIAL_SETTINGS:
        con.execute(f"SET {setting} = ''")
    scheme, host = store.s3_settings.endpoint_parts()
    options = [
        "TYPE s3",
        f"REGION {quote_literal(store.region)}",
        f"USE_SSL {'true' if scheme == 'https' else 'false'}",
    ]
    if host:
        options += [f"ENDPOINT {quote_literal(host)}", "URL_STYLE 'path'"]
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        options += [f"KEY_ID {quote_literal(key)}", f"SECRET {quote_literal(secret)}"]
        if os.environ.get("AWS_SESSION_TOKEN"):
            options.append(f"SESSION_TOKEN {quote_literal(os.environ['AWS_SESSION_TOKEN'])}")
    # built as one statement so the keys never reach a log or an error message of ours
    con.execute(f"CREATE OR REPLACE SECRET protxai_store ({', '.join(options)})")


def register_views(
    con: duckdb.DuckDBPyConnection, store: Store | str, *, materialize: bool = False
) -> StoreContents:
    """(Re)create every store view on ``con`` from the store's current manifests; returns what it found.

    Call again after writing (e.g. stats tables) to see the new files. ``materialize=True`` copies each
    table into the connection's memory instead of creating lazy views.
    """
    st = open_store(store)
    contents = scan(st)
    kind = "TABLE" if materialize else "VIEW"

    def create(name: str, select: str) -> None:
        _drop(con, name)
        con.execute(f"CREATE {kind} {quote_ident(name)} AS {select}")

    for table, schema in RELEASE_TABLES.items():
        rels = contents.release_files.get(table, [])
        create(table, parquet_select(st.uri_of(r) for r in rels) if rels else empty_select(schema))
    for table, schema in RUN_TABLES.items():
        rels = contents.run_files.get(table, [])
        create(table, parquet_select(st.uri_of(r) for r in rels) if rels else empty_select(schema))
    derived = {**STATS_TABLES, **ANALYSIS_TABLES}  # the tables under runs/run_id=ID/stats/
    for table in sorted({*derived, *contents.stats_files}):
        rels = contents.stats_files.get(table, [])
        if rels:
            create(table, parquet_select((st.uri_of(r) for r in rels), hive=True))
        elif table in derived:
            create(table, empty_select(derived[table]))
    rels = contents.change_files
    create(
        "release_changes",
        parquet_select((st.uri_of(r) for r in rels), hive=True) if rels else empty_select(RELEASE_CHANGES),
    )
    runs = pa.Table.from_pylist(sorted(contents.runs, key=lambda r: r["run_id"]), schema=RUNS)
    con.register("_protxai_runs", runs)
    try:
        _drop(con, "runs")
        con.execute("CREATE TABLE runs AS SELECT * FROM _protxai_runs")
    finally:
        con.unregister("_protxai_runs")
    return contents


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop view or table ``name`` of the main schema if present (DuckDB's DROP is type-specific)."""
    found = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    if found is not None:
        con.execute(f"DROP {'VIEW' if found[0] == 'VIEW' else 'TABLE'} {quote_ident(name)}")


def connect(store: Store | str, read_only_views: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every store table registered (see module docstring).

    ``read_only_views=False`` materializes the tables in memory (faster repeated scans, a snapshot).
    """
    st = open_store(store)
    con = duckdb.connect()
    try:
        if st.is_s3:
            _attach_s3(con, st)
        register_views(con, st, materialize=not read_only_views)
    except duckdb.Error as exc:
        con.close()
        raise StoreError(
            f"{st.uri}: cannot register store views ({' '.join(str(exc).split())[:300]})"
        ) from exc
    except BaseException:
        con.close()
        raise
    return con


# ---- user-written SQL ----------------------------------------------------------------------------


class SQLRefused(ProtxaiError):
    """User SQL that is not one read-only query (or not one condition), refused before it runs."""


# Known extensions are never fetched or loaded behind our back; secrets live in memory only.
CONFINED_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_persistent_secrets": False,
}

READ_ONLY_KINDS = "SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE"
_KIND_NAMES = {"LOAD": "INSTALL/LOAD"}  # DuckDB's statement type of both


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str, *, what: str = "SQL") -> None:
    """Raise SQLRefused unless DuckDB parses ``sql`` as exactly one SELECT-type statement.

    SELECT-type covers WITH ... SELECT, FROM-first queries, VALUES, DESCRIBE, SHOW, SUMMARIZE and PRAGMA
    reads; COPY, ATTACH, INSTALL/LOAD, SET, CREATE, CALL, EXPLAIN (ANALYZE runs its statement) ... are not.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SQLRefused(f"{what}: {_one_line(exc)}") from None
    kinds = [_KIND_NAMES.get(st.type.name, st.type.name) for st in statements]
    if not statements:
        raise SQLRefused(f"{what}: no SQL statement")
    if len(statements) > 1:
        raise SQLRefused(
            f"{what}: one read-only query only, got {len(statements)} statements ({', '.join(kinds)}); "
            "nothing was run"
        )
    if statements[0].type != duckdb.StatementType.SELECT:
        raise SQLRefused(
            f"{what}: {kinds[0]} statements are not allowed, the store is read-only here "
            f"(one query: {READ_ONLY_KINDS}); nothing was run"
        )


def check_where(expr: str, table: str = "proteins") -> None:
    """Raise SQLRefused unless ``expr`` is one SQL condition: ``SELECT * FROM table WHERE expr`` must be
    exactly one SELECT statement, written bare and in parentheses (so ``x); COPY ...; SELECT (1``
    fails one form or the other). Only parses; nothing runs."""
    con = duckdb.connect(config=dict(CONFINED_CONFIG))
    try:
        what = f"--where {expr!r}"
        for sql in (f"SELECT * FROM {table} WHERE (\n{expr}\n)", f"SELECT * FROM {table} WHERE {expr}"):
            try:
                statements = con.extract_statements(sql)
            except duckdb.Error as exc:
                raise SQLRefused(f"{what}: not one SQL condition ({_one_line(exc)})") from None
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                kinds = ", ".join(_KIND_NAMES.get(st.type.name, st.type.name) for st in statements)
                raise SQLRefused(f"{what}: not one SQL condition (parses as {kinds}); nothing was run")
    finally:
        con.close()


def warn_damaged(contents: StoreContents) -> None:
    """One stderr line per shard the views left out (and a hint), so results are not silently partial."""
    if not contents.damaged:
        return
    for line in contents.damaged[:5]:
        print(f"warning: {line}", file=sys.stderr)
    more = f" (and {len(contents.damaged) - 5} more)" if len(contents.damaged) > 5 else ""
    print(
        f"warning: {len(contents.damaged)} damaged shard file(s) left out of the views{more}; "
        "see `protxai verify --store S`",
        file=sys.stderr,
    )


def require_layout(store: Store | str) -> Store:
    """``store`` opened, or StoreError when it does not exist or has neither ``releases/`` nor ``runs/``
    (a mistyped path or prefix must not read as an empty result)."""
    st = open_store(store)
    if not st.is_s3 and not os.path.isdir(st.uri):
        raise StoreError(f"store {st.uri} does not exist")
    if not {"releases", "runs"} & set(st.list_dirs("")):
        where = f"{st.uri} (S3 endpoint {st.endpoint or 'AWS default'})" if st.is_s3 else st.uri
        raise StoreError(f"{where} has no store layout (no releases/ or runs/): not a protxai store")
    return st


def connect_confined(store: Store | str, *, writable: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """``connect(store)`` for user-written SQL: it reaches only the store's files and ``writable``.

    Views are registered (and httpfs loaded, the secret created) first; then external access is limited
    to ``allowed_directories = [<store>/]`` and ``allowed_paths = writable``, ``enable_external_access``
    is turned off (no other files, URLs, ATTACH, INSTALL, LOAD, replacement scans) and
    ``lock_configuration`` keeps SQL from turning any of it back on. Writing is the caller's business:
    run only what ``check_read_only`` admits.
    """
    st = open_store(store)
    con = duckdb.connect(config=dict(CONFINED_CONFIG))
    try:
        # start the (in-memory) secret manager before the lock: started later it looks for stored secrets
        con.execute("SELECT count(*) FROM duckdb_secrets()")
        if st.is_s3:
            _attach_s3(con, st)
        warn_damaged(register_views(con, st))
        roots = [quote_literal(st.uri.rstrip("/") + "/")]
        paths = [quote_literal(p) for p in writable]
        con.execute(f"SET allowed_directories = [{', '.join(roots)}]")
        con.execute(f"SET allowed_paths = [{', '.join(paths)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        con.close()
        raise StoreError(f"{st.uri}: cannot register store views ({_one_line(exc)[:300]})") from exc
    except BaseException:
        con.close()
        raise
    return con
