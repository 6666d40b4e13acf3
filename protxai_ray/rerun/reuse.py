"""Reuse by copy: the parent run's rows of cache hits, rewritten to the new run id, as "reuse" shards.

Each parent shard ``k`` (in manifest order) gives at most one shard ``reuse-0000k`` of the new run holding
the hits found in it, so memory stays bounded by one parent shard and the same inputs give the same files
(deterministic names: a retried re-run overwrites instead of adding rows). The files follow the run
layout of every other shard (``heads/shard-reuse-00003.parquet`` ...), so the views read them like any
shard once the manifest lists them, and each run's rows are complete for its own release: queries never
need to look into another run, and a deleted or changed protein stays as it was in the parent run.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from protxai_ray.store.fs import Store
from protxai_ray.store.manifest import RunManifest, ShardEntry
from protxai_ray.store.parquet import read_table, write_parquet_atomic
from protxai_ray.store.runs import run_dir, shard_files
from protxai_ray.store.schemas import RUN_TABLES

SORT_KEYS = {
    "predictions": ["accession"],
    "residues": ["accession", "position"],
    "heads": ["accession", "layer", "head", "position"],
    "failures": ["accession"],
}


def reuse_shard_id(index: int) -> str:
    return f"reuse-{index:05d}"


def _remap(table: pa.Table, mapping: dict[str, str], run_id: str, keys: list[str]) -> pa.Table:
    """Rows of ``table`` for the parent accessions in ``mapping`` (new -> parent), under the new
    accession and ``run_id``, sorted by ``keys``."""
    by_parent: dict[str, list[str]] = defaultdict(list)
    for new, parent in mapping.items():
        by_parent[parent].append(new)
    present = set(table.column("accession").unique().to_pylist()) & set(by_parent)
    if not present:
        return table.slice(0, 0)
    same = sorted(acc for acc in present if by_parent[acc] == [acc])
    parts = (
        [table.filter(pc.is_in(table["accession"], value_set=pa.array(same, pa.string())))] if same else []
    )
    for parent in sorted(present - set(same)):  # rare: a sequence now also (or only) under another accession
        rows = table.filter(pc.equal(table["accession"], parent))
        for new in sorted(by_parent[parent]):
            column = pa.array([new] * rows.num_rows, pa.string())
            parts.append(rows.set_column(rows.schema.get_field_index("accession"), "accession", column))
    out = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    out = out.set_column(
        out.schema.get_field_index("run_id"), "run_id", pa.array([run_id] * out.num_rows, pa.string())
    )
    return out.sort_by([(k, "ascending") for k in keys])


def copy_reused(
    store: Store,
    parent_run: str,
    parent_manifest: RunManifest,
    run_id: str,
    reuse: dict[str, str],
    reuse_failures: dict[str, str],
) -> list[ShardEntry]:
    """Write the reuse shards of ``run_id``; returns their manifest entries (not yet committed)."""
    entries = []
    shards = sorted(parent_manifest.shards, key=lambda s: s.shard)
    for index, shard in enumerate(shards):
        sid = reuse_shard_id(index)
        tables: dict[str, pa.Table] = {}
        for table, schema in RUN_TABLES.items():
            rel = shard.files.get(table)
            source = (
                read_table(store, [f"{run_dir(parent_run)}/{rel}"], schema) if rel else schema.empty_table()
            )
            mapping = reuse_failures if table == "failures" else reuse
            tables[table] = _remap(source, mapping, run_id, SORT_KEYS[table])
        proteins = tables["predictions"].num_rows + tables["failures"].num_rows
        if proteins == 0:
            continue
        files = shard_files(sid)
        for table, rows in tables.items():
            write_parquet_atomic(store, f"{run_dir(run_id)}/{files[table]}", rows, RUN_TABLES[table])
        entries.append(
            ShardEntry(
                shard=sid,
                proteins=proteins,
                files=files,
                extra={"reused_from": {"run_id": parent_run, "shard": shard.shard}},
            )
        )
    return entries
