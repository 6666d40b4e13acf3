"""``read_entries(source)``: any UniProt source (path, s3://, http(s)://; gzip or not) -> entries.

The format is sniffed from the content (see ``sources.sniff_format``) and handed to its parser. Whole-
source problems (missing file, unreachable store, not UniProt, invalid JSON) raise InvalidSource; a bad
entry is a RejectedEntry in the stream and the other entries still come out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot.flat import parse_flat
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry
from protxai_ray.uniprot.rest_json import parse_json
from protxai_ray.uniprot.sources import open_source, sniff_format
from protxai_ray.uniprot.tmbed import parse_tmbed
from protxai_ray.uniprot.xml import parse_xml

PARSERS = {"xml": parse_xml, "flat": parse_flat, "json": parse_json, "tmbed": parse_tmbed}


def source_label(source: str, fmt: str) -> str:
    """What ``ProteinEntry.source`` records: ``tmbed:<file>`` for TMbed, else ``<source> (<format>)``."""
    if fmt == "tmbed":
        return f"tmbed:{os.path.basename(source) if '://' not in source else source}"
    return f"{source} ({fmt})"


def entry_format(label: str) -> str:
    """The format an entry came from, read back from its ``source`` label (``xml``/``flat``/``json``/``tmbed``)."""
    if label.startswith("tmbed:"):
        return "tmbed"
    return label.rsplit(" (", 1)[-1].rstrip(")") if label.endswith(")") else ""


def detect_format(source: str) -> str:
    """``xml``/``flat``/``json``/``tmbed`` of a source, read from its first bytes."""
    opened = open_source(source)
    try:
        return sniff_format(opened.stream, source)
    finally:
        opened.close()


def read_entries(
    source: str,
    on_bytes: Callable[[int], None] | None = None,
    on_size: Callable[[int | None], None] | None = None,
) -> Iterator[ProteinEntry | RejectedEntry]:
    """Stream the entries of one source, good ones as ProteinEntry, bad ones as RejectedEntry.

    For progress bars: ``on_size(total)`` is called once with the source's size in bytes (None when the
    server does not say), then ``on_bytes(n)`` with each chunk of source bytes read.
    """
    opened = open_source(source, on_bytes)
    if on_size is not None:
        on_size(opened.size)
    try:
        fmt = sniff_format(opened.stream, source)
        label = source_label(source, fmt)
        try:
            yield from PARSERS[fmt](opened.stream, label)
        except OSError as exc:  # the source stopped answering mid-stream (network, disk)
            raise InvalidSource(source, f"read failed after {opened.raw.bytes_read} bytes: {exc}") from exc
        if opened.truncated:
            yield RejectedEntry(
                label,
                None,
                f"gzip data truncated ({opened.truncation_error}); entries after the break are lost",
            )
    finally:
        opened.close()
