"""``collect_entries(sources)``: read several sources and keep one entry per accession.

Rule (an accession that occurs more than once in one ingest keeps its highest entry version):
the highest ``entry_version`` wins (a missing version ranks below any number); on a tie the later
``modified`` date wins; on a full tie the first one read is kept, with a note (saying whether the content —
sequence, features, EC, GO — differs from the other copy). The same rule covers an accession seen in
several TMbed files (no versions: the first is kept, differing copies are noted).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot.reader import read_entries
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry


@dataclass
class Collection:
    """The outcome of one ingest: ``entries`` sorted by accession, ``rejected`` entries, ``notes``."""

    entries: list[ProteinEntry] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read: int = 0  # entries read before de-duplication (good ones)
    unreadable: list[InvalidSource] = field(default_factory=list)  # only with skip_unreadable=True


def _rank(entry: ProteinEntry) -> tuple[int, str]:
    return (entry.entry_version if entry.entry_version is not None else -1, entry.modified or "")


def _content(entry: ProteinEntry) -> tuple:
    return (entry.crc64, entry.sequence, tuple(entry.features), tuple(entry.ec), tuple(entry.go))


def _progress_bar(source: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    name = source.rsplit("/", 1)[-1]
    return tqdm(total=None, unit="B", unit_scale=True, desc=name, leave=False)


def _set_total(bar, total: int | None) -> None:
    bar.total = total
    bar.refresh()


def collect_entries(
    sources: Iterable[str], progress: bool = False, skip_unreadable: bool = False
) -> Collection:
    """Parse every source and de-duplicate by accession (see module docstring).

    Raises InvalidSource (from ``read_entries``) when a whole source cannot be read, unless
    ``skip_unreadable``: then that source's entries are left out entirely (even those read before a
    mid-stream failure) and the error goes to ``.unreadable``. Bad entries go to ``.rejected``.
    ``progress`` shows a tqdm bar of bytes read per source.
    """
    best: dict[str, ProteinEntry] = {}
    collection = Collection()
    for source in sources:
        bar = _progress_bar(source, progress)
        try:
            items = list(
                read_entries(
                    source,
                    on_bytes=bar.update if bar is not None else None,
                    on_size=functools.partial(_set_total, bar) if bar is not None else None,
                )
            )
        except InvalidSource as exc:
            if not skip_unreadable:
                raise
            collection.unreadable.append(exc)
            continue
        finally:
            if bar is not None:
                bar.close()
        for item in items:
            if isinstance(item, RejectedEntry):
                collection.rejected.append(item)
                continue
            collection.read += 1
            collection.notes.extend(item.notes)
            _keep(best, item, collection.notes)
    collection.entries = [best[accession] for accession in sorted(best)]
    return collection


def _keep(best: dict[str, ProteinEntry], entry: ProteinEntry, notes: list[str]) -> None:
    current = best.get(entry.accession)
    if current is None:
        best[entry.accession] = entry
        return
    new_rank, old_rank = _rank(entry), _rank(current)
    if new_rank > old_rank:
        best[entry.accession] = entry
        notes.append(
            f"{entry.accession}: kept version {entry.entry_version} ({entry.source}) over "
            f"{current.entry_version} ({current.source})"
        )
    elif new_rank < old_rank:
        notes.append(
            f"{entry.accession}: kept version {current.entry_version} ({current.source}) over "
            f"{entry.entry_version} ({entry.source})"
        )
    elif _content(entry) != _content(current):
        notes.append(
            f"{entry.accession}: same version {entry.entry_version} in {current.source} and {entry.source} "
            f"with different content; kept the first"
        )
    else:
        notes.append(
            f"{entry.accession}: also in {entry.source} (same version and content); kept {current.source}"
        )
