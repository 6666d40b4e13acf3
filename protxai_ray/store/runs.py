"""Run manifests: the single commit point of an attribution run (docs/store.md).

``S/runs/run_id=ID/manifest.json`` lists the committed shards of run ``ID``. Shard data files are written
first under deterministic names (``predictions/shard-00000.parquet`` ...), then the shard is added to the
manifest; a shard is visible to queries only once it is listed. Every manifest change is a
compare-and-swap (``Store.put_if``: a conditional PUT on S3, an flock'd read-compare-replace locally), so
two drivers of the same run (a resubmission, a resumed driver racing an old one) never lose each other's
commits.

Example::

    manifests = RunManifests("s3://bucket/store")
    manifests.create("20261125T120000Z-abc123", header)  # a RunManifest (provenance.manifest_header)
    manifests.commit_shard("20261125T120000Z-abc123", ShardEntry("00000", proteins=64, files={...}))
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pyarrow as pa

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store, encode_json, open_store
from protxai_ray.store.manifest import RunManifest, ShardEntry

MANIFEST = "manifest.json"
RUN_TABLE_NAMES = ("predictions", "residues", "heads", "failures")


def run_dir(run_id: str) -> str:
    """Path of a run relative to the store root (hive partition ``run_id=ID``)."""
    return f"runs/run_id={run_id}"


def shard_files(shard: str) -> dict[str, str]:
    """Data files of one shard, relative to the run directory (deterministic: retries overwrite)."""
    return {table: f"{table}/shard-{shard}.parquet" for table in RUN_TABLE_NAMES}


class RunManifests:
    """Read and update run manifests (``RunManifest``) of one store (local directory or ``s3://bucket/prefix``)."""

    def __init__(self, store: Store | str) -> None:
        self.store = open_store(store, check=False)
        self.store_uri = self.store.uri

    # -- reads ---------------------------------------------------------------------------------
    def read(self, run_id: str) -> RunManifest | None:
        """The manifest of ``run_id``, or None if the run has never been started; StoreError (one line)
        when it is corrupt."""
        return self._read_versioned(run_id)[0]

    def list_run_ids(self) -> list[str]:
        """Run ids that have a manifest, sorted (run ids are sortable by start time)."""
        names = [d[len("run_id=") :] for d in self.store.list_dirs("runs") if d.startswith("run_id=")]
        return sorted(name for name in names if self.store.exists(f"{run_dir(name)}/{MANIFEST}"))

    def _read_versioned(self, run_id: str) -> tuple[RunManifest | None, str | None]:
        rel = f"{run_dir(run_id)}/{MANIFEST}"
        data, version = self.store.read_versioned(rel)
        if data is None:
            return None, None
        return decode_run_manifest(data, self.store.uri_of(rel)), version

    # -- compare-and-swap update ----------------------------------------------------------------
    def update(
        self, run_id: str, change: Callable[[RunManifest | None], RunManifest | None]
    ) -> RunManifest | None:
        """Apply ``change(old) -> new`` atomically; ``new is None`` or equal to ``old`` means no write.

        ``change`` may be called several times (once per conflicting concurrent commit), so it must
        be a pure function of the manifest it is given (manifests are immutable: it returns a new one,
        ``dataclasses.replace``). The swap is conditional on the version of the bytes read.
        """
        rel = f"{run_dir(run_id)}/{MANIFEST}"
        for _ in range(1000):
            old, version = self._read_versioned(run_id)
            new = change(old)
            if new is None or new == old:
                return old
            if self.store.put_if(rel, encode_json(new.to_dict()), version):
                return new
        raise StoreError(f"{self.store_uri}: manifest of run {run_id} keeps changing under us")

    # -- the operations the pipeline needs ---------------------------------------------------------
    def create(self, run_id: str, header: RunManifest) -> RunManifest:
        """Create the manifest of a new run, or return the existing one (resume).

        ``header`` holds everything but ``shards``; an existing run must have the same ``fingerprint``
        (same release, model weights, target, method and shard plan), otherwise resuming it would mix
        incompatible results, and a StoreError says so.
        """

        def change(old: RunManifest | None) -> RunManifest | None:
            if old is None:
                return replace(header, shards=(), finished=None)
            return None

        manifest = self.update(run_id, change)
        assert manifest is not None
        if manifest.fingerprint != header.fingerprint:
            raise StoreError(
                f"run {run_id} already exists in {self.store_uri} with different inputs or settings "
                "(release, model, target, method or shard plan); use a new --run-id"
            )
        return manifest

    def commit_shard(self, run_id: str, entry: ShardEntry) -> RunManifest:
        """Add one shard (its files already written) to the manifest; a shard already listed is kept."""

        def change(old: RunManifest | None) -> RunManifest | None:
            if old is None:
                raise StoreError(f"run {run_id}: manifest vanished from {self.store_uri}")
            # an id already listed was committed by an earlier or concurrent driver: its files are identical
            return old.with_shards([entry])

        manifest = self.update(run_id, change)
        assert manifest is not None
        return manifest

    def drop_shards(self, run_id: str, shards: set[str]) -> RunManifest:
        """Un-commit ``shards`` (found damaged) so a resume re-computes them; the run is unfinished again."""

        def change(old: RunManifest | None) -> RunManifest | None:
            if old is None:
                raise StoreError(f"run {run_id}: manifest vanished from {self.store_uri}")
            kept = tuple(s for s in old.shards if s.shard not in shards)
            if len(kept) == len(old.shards):
                return None
            return replace(old, shards=kept, finished=None, summary=None)

        manifest = self.update(run_id, change)
        assert manifest is not None
        return manifest

    def finish(self, run_id: str, finished: str, summary: dict[str, Any]) -> RunManifest:
        """Mark the run finished (all planned shards committed); a finished run is left as it is."""

        def change(old: RunManifest | None) -> RunManifest | None:
            if old is None:
                raise StoreError(f"run {run_id}: manifest vanished from {self.store_uri}")
            if old.finished:
                return None
            return replace(old, finished=finished, summary=summary)

        manifest = self.update(run_id, change)
        assert manifest is not None
        return manifest


def decode_run_manifest(data: bytes, where: str) -> RunManifest:
    """The manifest in ``data`` (read from ``where``); StoreError ``<where>: corrupt run manifest (...)``."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{where}: corrupt run manifest ({exc})") from None
    return RunManifest.from_dict(raw, where)


def read_run_manifest(store: Store, run_id: str) -> RunManifest | None:
    """The manifest of ``run_id`` in ``store`` (None when there is none); StoreError when corrupt."""
    rel = f"{run_dir(run_id)}/{MANIFEST}"
    try:
        data = store.read_bytes(rel)
    except FileNotFoundError:
        return None
    return decode_run_manifest(data, store.uri_of(rel))


def committed_shards(manifest: RunManifest | None) -> set[str]:
    """Shard ids listed in a manifest."""
    return manifest.shard_ids() if manifest is not None else set()


def write_run_tables(
    store: Store | str,
    run_id: str,
    tables: dict[str, pa.Table],
    schemas: dict[str, pa.Schema],
    metadata: dict[bytes, bytes] | None = None,
) -> list[str]:
    """Derived tables of a run (stats, analyses): each to ``runs/run_id=ID/stats/<table>/part-0.parquet``
    with its schema (``store.schemas``), replacing older files of that table; ``metadata`` is added to
    each file's key-value metadata. Returns the store-relative paths written."""
    from protxai_ray.store.parquet import conform, write_parquet_atomic

    st = open_store(store, check=False)
    written = []
    for name, table in tables.items():
        base = f"{run_dir(run_id)}/stats/{name}"
        relpath = f"{base}/part-0.parquet"
        if metadata:
            table = conform(table, schemas[name])
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
            write_parquet_atomic(st, relpath, table, None)
        else:
            write_parquet_atomic(st, relpath, table, schemas[name])
        stale = [rel for rel in st.list(base) if rel != relpath]
        if stale:
            st.delete_many(stale)
        written.append(relpath)
    return written
