"""`protxai ingest SRC… --store S --release R`: UniProt files into the store's release R.

Exit status: 0 when every entry of every source was ingested; 1 when the valid entries were ingested but
some entries were rejected or a whole source was unreadable (each listed on stderr, one line); 2 (a
ProtxaiError) when nothing valid was read — then nothing is written.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

from protxai_ray.errors import InvalidSource
from protxai_ray.store.fs import Store
from protxai_ray.store.releases import ReleaseSummary, validate_release_name
from protxai_ray.uniprot.arrow import write_entries

HELP = "parse UniProt files (XML, flat, JSON, TMbed; .gz ok; local, s3:// or http(s)://) into the store"

_FORMAT = re.compile(r"\((\w+)\)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="UniProt file, s3:// object or URL")
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--release", required=True, help="release name, e.g. 2024_01")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while parsing")


def entry_format(source_label: str) -> str:
    """``xml``/``flat``/``json``/``tmbed`` from a ProteinEntry.source label."""
    if source_label.startswith("tmbed:"):
        return "tmbed"
    match = _FORMAT.search(source_label)
    return match.group(1) if match else "?"


def collect_sources(sources: list[str], progress: bool):
    """Collect every readable source; returns (collection, unreadable: list[InvalidSource]).

    Sources are parsed one by one so that an unreadable one is reported without losing the others, then
    combined with the same rule as ``collect_entries`` (highest entry version, then latest modified
    date, then first read).
    """
    from protxai_ray.uniprot.collect import Collection, collect_entries

    combined = Collection()
    best: dict = {}
    unreadable: list[InvalidSource] = []
    for source in sources:
        try:
            part = collect_entries([source], progress=progress)
        except InvalidSource as exc:
            unreadable.append(exc)
            continue
        combined.rejected += part.rejected
        combined.notes += part.notes
        combined.read += part.read
        for entry in part.entries:
            current = best.get(entry.accession)
            if current is None or _rank(entry) > _rank(current):
                if current is not None:
                    combined.notes.append(
                        f"{entry.accession}: kept version {entry.entry_version} ({entry.source}) over "
                        f"{current.entry_version} ({current.source})"
                    )
                best[entry.accession] = entry
    combined.entries = [best[accession] for accession in sorted(best)]
    return combined, unreadable


def _rank(entry) -> tuple[int, str]:
    return (entry.entry_version if entry.entry_version is not None else -1, entry.modified or "")


def print_summary(collection, summary: ReleaseSummary, store_uri: str) -> None:
    per_format = Counter(entry_format(e.source) for e in collection.entries)
    per_feature = Counter(f.feature_type for e in collection.entries for f in e.features)
    print(f"release {summary.release} in {store_uri}")
    print(f"  entries ingested: {len(collection.entries)} ({collection.read} read, duplicates merged)")
    for fmt, count in sorted(per_format.items()):
        print(f"    {fmt:<8} {count:>8}")
    print(
        f"  release now holds {summary.proteins} proteins, {summary.annotations} annotations "
        f"(added {summary.added}, replaced {summary.replaced}, already stored {summary.kept})"
    )
    if per_feature:
        print("  features of the ingested entries:")
        width = max(len(name) for name in per_feature)
        for name, count in sorted(per_feature.items(), key=lambda item: (-item[1], item[0])):
            print(f"    {name:<{width}} {count:>8}")
    for note in summary.notes:
        print(f"  note: {note}")


def run(args: argparse.Namespace) -> int:
    release = validate_release_name(args.release)
    store = Store(args.store)  # fails fast on an unreachable endpoint or refused keys
    progress = not args.no_progress and sys.stderr.isatty()
    collection, unreadable = collect_sources(list(args.sources), progress)
    for exc in unreadable:
        print(f"unreadable source: {exc}", file=sys.stderr)
    for rejected in collection.rejected:
        print(f"rejected: {rejected}", file=sys.stderr)
    if not collection.entries:
        what = f"{len(collection.rejected)} rejected entries" if collection.rejected else "no entries"
        raise InvalidSource(
            ", ".join(args.sources), f"nothing to ingest ({what}, {len(unreadable)} unreadable)"
        )
    summary = write_entries(store, release, collection, sources=list(args.sources))
    print_summary(collection, summary, store.uri)
    if collection.rejected or unreadable:
        print(
            f"  {len(collection.rejected)} entries rejected, {len(unreadable)} sources unreadable (see stderr)"
        )
        return 1
    return 0
