"""The parsed form of one UniProt entry, shared by every format parser (xml, flat, json, tmbed).

Parsers yield ``ProteinEntry`` for good entries and ``RejectedEntry`` for bad ones so that one bad entry
never stops a file. Positions are UniProt's: 1-based, inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Feature:
    """One sequence feature, type normalised to snake_case of UniProt's XML name (``active_site``...)."""

    feature_type: str
    start: int  # 1-based
    end: int  # 1-based, inclusive
    description: str = ""
    ligand: str = ""
    evidence: str = ""  # ECO codes of the feature's evidence, sorted and ","-joined ("" = none given)


@dataclass(slots=True)
class ProteinEntry:
    """One UniProtKB entry with every field of the ``proteins`` and ``annotations`` tables."""

    accession: str
    entry_name: str
    reviewed: bool
    entry_version: int | None
    sequence_version: int | None
    sequence: str
    crc64: str  # 16 upper-case hex digits, computed by us
    organism: str = ""
    ec: list[str] = field(default_factory=list)
    go: list[str] = field(default_factory=list)
    features: list[Feature] = field(default_factory=list)
    source: str = ""  # file (or URL) and format it came from, e.g. "entries_01.xml (xml)"
    modified: str = ""  # ISO date of last modification when the format gives one (tie-breaks versions)
    notes: list[str] = field(default_factory=list)  # what the parser changed or dropped (e.g. unknown ends)

    @property
    def length(self) -> int:
        return len(self.sequence)


@dataclass(frozen=True, slots=True)
class RejectedEntry:
    """An entry that could not be ingested, with the reason in one line."""

    source: str
    accession: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: entry {self.accession or '?'}: {self.reason}"
