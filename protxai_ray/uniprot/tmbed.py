"""TMbed 3-line FASTA (header, sequence, per-residue topology letters), e.g. its cross-validation folds.

Headers: ``>Q9BEC7|EUKARYA|NO_SP|1`` (UniProt accession first; kingdom; signal-peptide class) or
``>5mzs_A|Q05098|PFEA_PSEAE`` (PDB chain | UniProt accession | entry name). Labels (TMbed data README):
``H``/``h`` transmembrane alpha helix, ``B``/``b`` transmembrane beta strand, ``S`` signal peptide,
``1`` inside, ``2`` outside, ``U`` unknown/unresolved. Upper case is TMbed's in->out orientation and
lower case out->in.

Each maximal run of one membrane letter becomes a ``transmembrane`` feature (a change of letter, e.g.
``HHHhhh``, starts a new segment), each run of ``S`` a ``signal`` feature. TMbed records carry no review
status or versions: reviewed False, versions None, CRC64 computed from the sequence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from protxai_ray.uniprot.build import RawFeature, build_entry
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry

LABELS = frozenset("BbHhS12U")
_SEGMENT = re.compile(r"H+|h+|B+|b+|S+")
_DESCRIPTIONS = {
    "H": ("transmembrane", "alpha-helix, in->out"),
    "h": ("transmembrane", "alpha-helix, out->in"),
    "B": ("transmembrane", "beta-strand, in->out"),
    "b": ("transmembrane", "beta-strand, out->in"),
    "S": ("signal", "signal peptide"),
}


def header_fields(header: str) -> tuple[str, str]:
    """(accession, entry name) from a TMbed header line without the ``>``."""
    fields = header.strip().split("|")
    if len(fields) == 3:  # pdbid_chain | accession | entry name
        return fields[1], fields[2]
    return fields[0], ""


def topology_features(labels: str) -> list[RawFeature]:
    """Transmembrane/signal features (1-based inclusive) from a per-residue label string."""
    features: list[RawFeature] = []
    for match in _SEGMENT.finditer(labels):
        feature_type, description = _DESCRIPTIONS[match.group()[0]]
        features.append((feature_type, match.start() + 1, match.end(), description, ""))
    return features


def _record(header: str, sequence: str, labels: str, source: str) -> ProteinEntry | RejectedEntry:
    accession, entry_name = header_fields(header)
    if len(labels) != len(sequence):
        return RejectedEntry(
            source, accession, f"{len(labels)} topology labels for a sequence of {len(sequence)} residues"
        )
    unknown = set(labels) - LABELS
    if unknown:
        return RejectedEntry(source, accession, f"unknown topology labels {''.join(sorted(unknown))!r}")
    return build_entry(
        source,
        accession=accession,
        entry_name=entry_name,
        reviewed=False,
        entry_version=None,
        sequence_version=None,
        sequence=sequence,
        carried_crc64=None,
        carried_length=None,
        organism="",
        ec=[],
        go=[],
        features=topology_features(labels),
    )


def parse_tmbed(stream: BinaryIO, source: str) -> Iterator[ProteinEntry | RejectedEntry]:
    """Yield one entry per 3-line TMbed record; a record cut short at the end is rejected."""
    record: list[str] = []
    for raw in stream:
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        if line.startswith(">") and record:
            yield RejectedEntry(source, header_fields(record[0])[0], "TMbed record without topology line")
            record = []
        if not record and not line.startswith(">"):
            yield RejectedEntry(source, None, f"TMbed line outside a record: {line[:30]!r}")
            continue
        record.append(line[1:] if not record else line)
        if len(record) == 3:
            yield _record(record[0], record[1], record[2], source)
            record = []
    if record:
        yield RejectedEntry(source, header_fields(record[0])[0], "truncated TMbed record at end of file")
