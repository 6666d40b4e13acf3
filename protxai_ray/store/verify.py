"""Verifying committed runs against what their manifests recorded, and quarantining damaged shards.

Each shard entry of a run manifest records, per file, its size, row count and SHA-256 (``checks``, written
by ``store.parquet.write_parquet_atomic`` at commit). Two depths of check:

- ``quick`` (sizes from one listing per run): a missing or truncated file, or a file of another size
  swapped in. Cheap enough for every DuckDB connection (``store.duck`` leaves such shards out of the
  views, so one damaged run never breaks the others' queries).
- ``deep`` (reads every byte): additionally a flipped byte or a same-size swap (checksum), and a file that
  is no valid Parquet or has another row count. ``protxai verify``, ``protxai stats`` and resume use it.

``quarantine(store, run_id, problems)`` writes ``runs/run_id=R/quarantine.json`` naming the damaged shards;
views leave those shards out (all four tables, so no protein is half present) until the run is repaired
(re-attributing it under a new run id, or resuming it: resume re-computes shards it finds damaged).

Runs committed before checks were recorded can only be checked for missing files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store, encode_json
from protxai_ray.store.manifest import RunManifest, ShardEntry

QUARANTINE = "quarantine.json"


@dataclass(frozen=True)
class FileProblem:
    """One damaged file of a committed shard."""

    run_id: str
    shard: str
    path: str  # store-relative
    problem: str

    def line(self, store: Store) -> str:
        return f"run {self.run_id} shard {self.shard}: {store.uri_of(self.path)}: {self.problem}"


def _run_base(run_id: str) -> str:
    return f"runs/run_id={run_id}"


def shard_problems(
    store: Store, run_id: str, shard: ShardEntry, sizes: dict[str, int], *, deep: bool
) -> list[FileProblem]:
    """Problems of one manifest shard entry; ``sizes`` is the listing of the run directory."""
    base = _run_base(run_id)
    checks = shard.checks or {}
    found = []
    for table, rel in sorted(shard.files.items()):
        path = f"{base}/{rel}"
        check = checks.get(table)

        def problem(text: str, path: str = path) -> None:
            found.append(FileProblem(run_id, shard.shard, path, text))

        size = sizes.get(path)
        if size is None:
            problem("missing")
            continue
        if check is None:
            continue  # committed before checks were recorded
        if size != check.bytes:
            problem(f"{size} bytes, {check.bytes} committed (truncated or replaced)")
            continue
        if not deep:
            continue
        try:
            data = store.read_bytes(path)
        except FileNotFoundError:
            problem("missing")
            continue
        if hashlib.sha256(data).hexdigest() != check.sha256:
            problem("content differs from the committed file (SHA-256 mismatch)")
            continue
        try:
            rows = pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 - any reader failure is the finding
            problem(f"not a readable Parquet file ({' '.join(str(exc).split())[:120]})")
            continue
        if rows != check.rows:
            problem(f"{rows} rows, {check.rows} committed")
    return found


def verify_run(store: Store, run_id: str, manifest: RunManifest, *, deep: bool = True) -> list[FileProblem]:
    """Every damaged file of the shards ``manifest`` lists (``deep``: checksums and Parquet footers too)."""
    sizes = store.list_sizes(_run_base(run_id))
    problems: list[FileProblem] = []
    for shard in manifest.shards:
        problems += shard_problems(store, run_id, shard, sizes, deep=deep)
    return problems


def read_quarantine(store: Store, run_id: str) -> set[str]:
    """Shard ids of ``run_id`` quarantined by ``protxai verify --quarantine`` (empty when none)."""
    try:
        data = store.read_json(f"{_run_base(run_id)}/{QUARANTINE}")
    except (FileNotFoundError, StoreError):
        return set()
    return {str(s) for s in data.get("shards", [])}


def quarantine(store: Store, run_id: str, problems: list[FileProblem]) -> set[str]:
    """Record the damaged shards of ``run_id`` so views leave them out; returns every quarantined shard."""
    shards = read_quarantine(store, run_id) | {p.shard for p in problems if p.run_id == run_id}
    if shards:
        body = {
            "run_id": run_id,
            "shards": sorted(shards),
            "problems": [{"shard": p.shard, "path": p.path, "problem": p.problem} for p in problems],
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        store.write_bytes_atomic(f"{_run_base(run_id)}/{QUARANTINE}", encode_json(body))
    return shards


def clear_quarantine(store: Store, run_id: str, shards: set[str]) -> None:
    """Lift the quarantine of ``shards`` (re-computed by a resume)."""
    left = read_quarantine(store, run_id) - shards
    rel = f"{_run_base(run_id)}/{QUARANTINE}"
    if not left:
        store.delete(rel)
    else:
        store.write_bytes_atomic(rel, encode_json({"run_id": run_id, "shards": sorted(left)}))


def summary_line(problems: list[FileProblem]) -> str:
    runs = sorted({p.run_id for p in problems})
    shards = {(p.run_id, p.shard) for p in problems}
    return f"{len(problems)} damaged file(s) in {len(shards)} shard(s) of {len(runs)} run(s): {', '.join(runs)}"


def problems_json(problems: list[FileProblem]) -> str:
    return json.dumps([p.__dict__ for p in problems])
