"""UniProt releases in the store: ``releases/release=R/{proteins,annotations}/*.parquet`` + ``_release.json``.

The release manifest ``releases/release=R/_release.json`` is the commit point: readers (DuckDB views, the
pipeline) read exactly the files it lists. Writing a release:

1. take the release lock ``releases/release=R/_lock`` (exclusive create; stale after an hour),
2. merge the new entries with what the release already holds (per accession the highest entry version
   wins; on a tie the row already stored stays, so re-running an ingest changes nothing),
3. write the merged tables under a fresh generation name (``proteins/part-g0002-<token>-00000.parquet``),
4. atomically replace the manifest (the switch), then delete the previous generation's files.

A crash before step 4 leaves only unlisted files, invisible to queries and removed by the next write.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store
from protxai_ray.store.lock import StoreLock
from protxai_ray.store.manifest import ReleaseManifest
from protxai_ray.store.parquet import read_table, write_parquet_atomic
from protxai_ray.store.schemas import ANNOTATIONS, PROTEINS, RELEASE_TABLES, SCHEMA_VERSION

RELEASE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
MANIFEST_NAME = "_release.json"
LOCK_NAME = "_lock"
ROWS_PER_FILE = {"proteins": 100_000, "annotations": 1_000_000}
_UNVERSIONED = -1  # pre-2003 entries carry no entry version: any versioned entry is newer


@dataclass(frozen=True)
class ReleaseRows:
    """What one ingest brings (built by ``protxai_ray.uniprot.arrow.release_rows``): ``proteins`` and
    ``annotations`` rows (store schemas; one protein row per accession), where each protein was read
    (``sources[i]`` for row i, for notes), and how many entries were read and rejected."""

    proteins: pa.Table
    annotations: pa.Table
    sources: list[str]
    entries: int
    rejected: int = 0


@dataclass
class ReleaseSummary:
    """What one ``write_release`` did: rows stored after the merge, and what the merge decided."""

    release: str
    proteins: int
    annotations: int
    added: int = 0
    replaced: int = 0
    kept: int = 0
    files: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def validate_release_name(release: str) -> str:
    """``release`` itself if it is a safe token (``2024_01``, ``release_a``); else StoreError."""
    if not isinstance(release, str) or not RELEASE_NAME.match(release) or release in (".", ".."):
        raise StoreError(f"invalid release name {release!r}: use YYYY_NN or letters, digits, '_', '.', '-'")
    return release


def release_dir(release: str) -> str:
    return f"releases/release={validate_release_name(release)}"


def list_releases(store: Store) -> list[str]:
    """Names of the committed releases (those with a manifest), sorted."""
    names = [d[len("release=") :] for d in store.list_dirs("releases") if d.startswith("release=")]
    return [
        name
        for name in names
        if RELEASE_NAME.match(name) and store.exists(f"{release_dir(name)}/{MANIFEST_NAME}")
    ]


def read_release_manifest(store: Store, release: str) -> ReleaseManifest | None:
    """The release's manifest, or None when the release was never committed; StoreError when corrupt."""
    rel = f"{release_dir(release)}/{MANIFEST_NAME}"
    try:
        data = store.read_json(rel)
    except FileNotFoundError:
        return None
    return ReleaseManifest.from_dict(data, store.uri_of(rel))


def release_files(store: Store, release: str, table: str) -> list[str]:
    """Store-relative paths of the committed files of ``table`` (proteins|annotations) of ``release``."""
    manifest = read_release_manifest(store, release)
    if manifest is None:
        raise StoreError(f"store {store.uri} has no release {release}")
    return [f"{release_dir(release)}/{rel}" for rel in manifest.files.get(table, [])]


def read_release(store: Store, release: str, table: str) -> pa.Table:
    """The committed rows of ``table`` (proteins|annotations) of ``release``, with its exact schema."""
    return read_table(store, release_files(store, release, table), RELEASE_TABLES[table])


def _sorted(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    return table.sort_by([(key, "ascending") for key in keys]) if table.num_rows else table


PROTEIN_ORDER = ("accession",)
ANNOTATION_ORDER = ("accession", "start", "end", "feature_type", "description", "ligand")


# ---- merge ---------------------------------------------------------------------------------------------


def merge_release(
    release: str, old_proteins: pa.Table, old_annotations: pa.Table, new: ReleaseRows
) -> tuple[pa.Table, pa.Table, ReleaseSummary]:
    """Merge an ingest's rows into a release's rows; per accession the higher entry version wins.

    On equal versions the stored row stays (idempotent re-ingest); a different CRC64 at the same version
    is reported in the summary's notes. Returns (proteins, annotations, summary), both tables sorted.
    """
    accessions = new.proteins.column("accession").to_pylist()
    if len(set(accessions)) != len(accessions):
        raise StoreError(f"release {release}: an ingest must bring one row per accession")
    stored = dict(
        zip(
            old_proteins.column("accession").to_pylist(),
            zip(
                old_proteins.column("entry_version").to_pylist(),
                old_proteins.column("crc64").to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )
    versions = new.proteins.column("entry_version").to_pylist()
    crcs = new.proteins.column("crc64").to_pylist()
    summary = ReleaseSummary(release=release, proteins=0, annotations=0)
    taking: list[int] = []
    for i, accession in enumerate(accessions):
        old = stored.get(accession)
        if old is None:
            summary.added += 1
            taking.append(i)
        elif _version(versions[i]) > _version(old[0]):
            summary.replaced += 1
            taking.append(i)
        else:
            summary.kept += 1
            if _version(versions[i]) == _version(old[0]) and crcs[i] != old[1]:
                summary.notes.append(
                    f"{accession}: version {versions[i]} already stored with another sequence "
                    f"(CRC64 {old[1]} kept, {crcs[i]} from {new.sources[i]} ignored)"
                )
    replaced = pa.array([accessions[i] for i in taking], pa.string())
    keep_old_p = pc.invert(pc.is_in(old_proteins.column("accession"), value_set=replaced))
    keep_old_a = pc.invert(pc.is_in(old_annotations.column("accession"), value_set=replaced))
    take_a = pc.is_in(new.annotations.column("accession"), value_set=replaced)
    proteins = pa.concat_tables(
        [old_proteins.filter(keep_old_p), _in_release(new.proteins.take(pa.array(taking, pa.int64())), release, PROTEINS)]
    )
    annotations = pa.concat_tables(
        [old_annotations.filter(keep_old_a), _in_release(new.annotations.filter(take_a), release, ANNOTATIONS)]
    )
    proteins, annotations = _sorted(proteins, PROTEIN_ORDER), _sorted(annotations, ANNOTATION_ORDER)
    summary.proteins, summary.annotations = proteins.num_rows, annotations.num_rows
    return proteins, annotations, summary


def _in_release(table: pa.Table, release: str, schema: pa.Schema) -> pa.Table:
    """``table`` cast to ``schema`` with its ``release`` column set to ``release``."""
    table = table.cast(schema)
    index = schema.get_field_index("release")
    return table.set_column(index, schema.field("release"), pa.array([release] * table.num_rows, pa.string()))


def _version(version: int | None) -> int:
    return _UNVERSIONED if version is None else int(version)


# ---- write -----------------------------------------------------------------------------------------------


def write_release(store: Store, release: str, rows: ReleaseRows, *, sources: Sequence[str] = ()) -> ReleaseSummary:
    """Store an ingest's ``rows`` (``uniprot.arrow.release_rows``) in ``release`` of ``store`` (merge, new
    generation, manifest swap).

    ``sources`` (the files/URLs read) are recorded in the manifest's ingest history.
    """
    base = release_dir(release)
    with release_lock(store, release):
        manifest = read_release_manifest(store, release) or ReleaseManifest(release=release)
        old_files = {table: [f"{base}/{rel}" for rel in manifest.files.get(table, [])] for table in RELEASE_TABLES}
        old_p = read_table(store, old_files["proteins"], PROTEINS)
        old_a = read_table(store, old_files["annotations"], ANNOTATIONS)
        proteins, annotations, summary = merge_release(release, old_p, old_a, rows)
        generation = manifest.generation + 1
        token = f"g{generation:04d}-{uuid.uuid4().hex[:8]}"
        files = _write_generation(store, base, token, {"proteins": proteins, "annotations": annotations})
        summary.files = files
        history = list(manifest.ingests or ())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        history.append(
            {
                "time": now,
                "sources": list(sources),
                "entries": rows.entries,
                "rejected": rows.rejected,
                "added": summary.added,
                "replaced": summary.replaced,
                "kept": summary.kept,
            }
        )
        new_manifest = replace(
            manifest,
            schema_version=SCHEMA_VERSION,
            release=release,
            generation=generation,
            files=files,
            counts={
                "proteins": proteins.num_rows,
                "annotations": annotations.num_rows,
                "feature_types": _feature_counts(annotations),
            },
            sources=tuple(sorted({s for ingest in history for s in ingest["sources"]})),
            rejected=rows.rejected,
            ingests=tuple(history),
            written=now,
        )
        store.write_json_atomic(f"{base}/{MANIFEST_NAME}", new_manifest.to_dict())  # the commit point
        listed = {f"{base}/{rel}" for rels in files.values() for rel in rels}
        # previous generation and leftovers of crashed writes: unlisted, so invisible; now removed
        stale = [
            rel for table in RELEASE_TABLES for rel in store.list(f"{base}/{table}") if rel not in listed
        ]
        store.delete_many(stale)
    return summary


def _write_generation(
    store: Store, base: str, token: str, tables: dict[str, pa.Table]
) -> dict[str, list[str]]:
    """Write each table in parts named ``<table>/part-<token>-NNNNN.parquet``; on failure remove them."""
    files: dict[str, list[str]] = {name: [] for name in tables}
    written: list[str] = []
    try:
        for name, table in tables.items():
            step = ROWS_PER_FILE[name]
            for part, offset in enumerate(range(0, max(table.num_rows, 1), step)):
                rel = f"{name}/part-{token}-{part:05d}.parquet"
                write_parquet_atomic(store, f"{base}/{rel}", table.slice(offset, step), RELEASE_TABLES[name])
                written.append(f"{base}/{rel}")
                files[name].append(rel)
    except BaseException:
        # unlisted files are invisible anyway; removing them keeps the store tidy (best effort)
        try:
            store.delete_many(written)
        except Exception:  # noqa: BLE001 - the original failure is the one to report
            pass
        raise
    return files


def _feature_counts(annotations: pa.Table) -> dict[str, int]:
    if not annotations.num_rows:
        return {}
    counts = annotations.group_by("feature_type").aggregate([("accession", "count")])
    return dict(
        sorted(zip(counts["feature_type"].to_pylist(), counts["accession_count"].to_pylist(), strict=True))
    )


def release_lock(store: Store, release: str) -> StoreLock:
    """The lock on writing one release (``with release_lock(store, "2024_05"):``); a dead writer's lock is
    taken over (see ``store/lock.py``)."""
    return StoreLock(store, f"{release_dir(release)}/{LOCK_NAME}", what=f"release {release} in {store.uri}")
