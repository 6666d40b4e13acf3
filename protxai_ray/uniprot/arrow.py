"""Parsed entries -> the store's ``proteins`` and ``annotations`` rows (``store.releases.ReleaseRows``).

The store's release writer takes Arrow rows only; turning ``ProteinEntry`` objects into them is the
parser side's job, so the store never imports this package.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import pyarrow as pa

from protxai_ray.store.fs import Store
from protxai_ray.store.releases import ReleaseRows, ReleaseSummary, write_release
from protxai_ray.store.schemas import ANNOTATIONS, PROTEINS
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry


class EntryCollection(Protocol):
    """What ``release_rows`` needs of ``protxai_ray.uniprot.collect.Collection``."""

    entries: list[ProteinEntry]
    rejected: list[RejectedEntry]


def proteins_table(release: str, entries: Sequence[ProteinEntry]) -> pa.Table:
    """``proteins`` rows of ``entries`` (in the given order)."""
    return pa.table(
        {
            "release": [release] * len(entries),
            "accession": [e.accession for e in entries],
            "entry_name": [e.entry_name for e in entries],
            "reviewed": [bool(e.reviewed) for e in entries],
            "entry_version": [e.entry_version for e in entries],
            "sequence_version": [e.sequence_version for e in entries],
            "crc64": [e.crc64 for e in entries],
            "length": [len(e.sequence) for e in entries],
            "sequence": [e.sequence for e in entries],
            "organism": [e.organism for e in entries],
            "ec": [list(e.ec) for e in entries],
            "go": [list(e.go) for e in entries],
        },
        schema=PROTEINS,
    )


def annotations_table(release: str, entries: Iterable[ProteinEntry]) -> pa.Table:
    """``annotations`` rows of every feature of ``entries``."""
    rows: dict[str, list] = {name: [] for name in ANNOTATIONS.names}
    for entry in entries:
        for feature in entry.features:
            rows["release"].append(release)
            rows["accession"].append(entry.accession)
            rows["feature_type"].append(feature.feature_type)
            rows["start"].append(feature.start)
            rows["end"].append(feature.end)
            rows["description"].append(feature.description)
            rows["ligand"].append(feature.ligand)
            rows["evidence"].append(feature.evidence or None)
    return pa.table(rows, schema=ANNOTATIONS)


def _rank(version: int | None) -> int:
    return -1 if version is None else int(version)


def release_rows(release: str, collection: EntryCollection) -> ReleaseRows:
    """The rows ``write_release`` stores for ``collection``: one entry per accession (the highest entry
    version; the first of equal versions), with where each was read and how many entries were rejected."""
    winners: dict[str, ProteinEntry] = {}
    for entry in collection.entries:
        current = winners.get(entry.accession)
        if current is None or _rank(entry.entry_version) > _rank(current.entry_version):
            winners[entry.accession] = entry
    entries = list(winners.values())
    return ReleaseRows(
        proteins=proteins_table(release, entries),
        annotations=annotations_table(release, entries),
        sources=[e.source or "input" for e in entries],
        entries=len(collection.entries),
        rejected=len(collection.rejected),
    )


def write_entries(
    store: Store, release: str, collection: EntryCollection, *, sources: Sequence[str] = ()
) -> ReleaseSummary:
    """Store ``collection``'s entries in ``release`` of ``store`` (``store.releases.write_release``:
    merged by entry version, committed by the release manifest); ``sources`` go to its ingest history."""
    return write_release(store, release, release_rows(release, collection), sources=sources)
