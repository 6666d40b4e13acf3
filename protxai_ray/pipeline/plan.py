"""The shard plan: which proteins of a release a run attributes, in which shard (no Ray here).

Proteins are read from ``releases/release=R/proteins/`` (optionally filtered by a DuckDB ``WHERE`` on the
``proteins`` table and/or an accession list), sorted by ``(length, accession)`` and cut into chunks of
``shard_size``. The shard id is the chunk's zero-padded index, so the same inputs always give the same
shards (resume relies on it), and proteins of similar length share a shard (fewer padded tokens when
the actor batches them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from protxai_ray.errors import RunError, StoreError
from protxai_ray.store.fs import Store

PLAN_COLUMNS = ("accession", "crc64", "length", "sequence", "ec", "go", "feature_types")


@dataclass(frozen=True)
class ShardPlan:
    """``shards[i]`` is a table of ``PLAN_COLUMNS`` rows; ``shard_ids[i]`` its id (``"00000"``)."""

    shard_ids: list[str]
    shards: list[pa.Table]
    digest: str  # sha256 over (shard, accession, crc64) of every planned protein

    @property
    def total_proteins(self) -> int:
        return sum(t.num_rows for t in self.shards)


def shard_id(index: int) -> str:
    return f"{index:05d}"


def read_release_proteins(store: Store, release: str) -> pa.Table:
    """The committed ``proteins`` of one release (``PLAN_COLUMNS``); RunError when the store lacks it."""
    from protxai_ray.store.releases import list_releases, read_release, read_release_manifest

    try:
        if read_release_manifest(store, release) is None:
            known = list_releases(store)
            hint = (
                f" (it has: {', '.join(known)})" if known else " (it has no releases; run `protxai ingest`)"
            )
            raise RunError(f"store {store.uri} has no release {release}{hint}")
        table = read_release(store, release, "proteins")
        annotations = read_release(store, release, "annotations")
    except StoreError as exc:
        raise RunError(f"cannot read release {release} from {store.uri}: {exc}") from exc
    return with_feature_types(table, annotations).select(list(PLAN_COLUMNS))


def with_feature_types(proteins: pa.Table, annotations: pa.Table) -> pa.Table:
    """``proteins`` plus ``feature_types`` (sorted distinct annotation types per accession): target
    ``label`` needs them where a label is a feature (TMbed entries carry transmembrane regions, no GO)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("proteins", proteins)
        con.register("annotations", annotations.select(["accession", "feature_type"]))
        return con.execute(
            """SELECT p.*, coalesce(t.feature_types, []::VARCHAR[]) AS feature_types
               FROM proteins p LEFT JOIN (
                   SELECT accession, list_sort(list(DISTINCT feature_type)) AS feature_types
                   FROM annotations GROUP BY accession) t USING (accession)
               ORDER BY p.accession"""
        ).to_arrow_table()
    finally:
        con.close()


def filter_proteins(
    table: pa.Table, where: str | None = None, accessions: tuple[str, ...] | None = None
) -> pa.Table:
    """Proteins matching a DuckDB SQL condition on ``proteins`` and/or in an accession list (an empty
    list selects no protein; None selects every protein)."""
    if accessions is not None:
        # typed: an empty list (a re-run with nothing to re-attribute) must select nothing, not fail
        wanted = pa.array(sorted(set(accessions)), pa.string())
        table = table.filter(pc.is_in(table["accession"], value_set=wanted))
    if where:
        import duckdb

        from protxai_ray.store.duck import CONFINED_CONFIG, check_where

        check_where(where)  # one condition, nothing else (parsed only; SQLRefused otherwise)
        # the condition sees this table only: no files, URLs, ATTACH or extensions, settings locked
        con = duckdb.connect(config={**CONFINED_CONFIG, "enable_external_access": False})
        try:
            con.register("proteins", table)
            con.execute("SET lock_configuration = true")
            table = con.execute(f"SELECT * FROM proteins WHERE {where}").to_arrow_table()
        except duckdb.Error as exc:
            raise RunError(f"--where {where!r}: {str(exc).splitlines()[0]}") from exc
        finally:
            con.close()
    return table


def make_plan(table: pa.Table, shard_size: int) -> ShardPlan:
    """Sort by (length, accession) and cut into shards of ``shard_size`` proteins."""
    counts = pc.value_counts(table["accession"])
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        raise RunError(
            f"accession {repeated[0]['values']} occurs more than once in the proteins to attribute"
        )
    ordered = table.sort_by([("length", "ascending"), ("accession", "ascending")])
    shard_ids, shards = [], []
    digest = hashlib.sha256()
    for index, start in enumerate(range(0, ordered.num_rows, shard_size)):
        chunk = ordered.slice(start, shard_size).combine_chunks()
        sid = shard_id(index)
        shard_ids.append(sid)
        shards.append(chunk)
        for accession, crc in zip(chunk["accession"].to_pylist(), chunk["crc64"].to_pylist(), strict=True):
            digest.update(f"{sid}\t{accession}\t{crc}\n".encode())
    return ShardPlan(shard_ids=shard_ids, shards=shards, digest=digest.hexdigest())
