"""Turning the raw fields a parser found into a checked ``ProteinEntry`` or a ``RejectedEntry``.

Every format parser ends here, so the rules are the same for all of them: the sequence must be
non-empty and made of ``ACDEFGHIKLMNPQRSTVWYBZXUOJ`` (kept as given), the length and CRC64 the file
carries must match the sequence (CRC64 computed by us), and every feature must lie inside the sequence
(an out-of-range feature rejects the whole entry: the file contradicts itself). Features with an unknown
end are dropped with a note (see ``features``), and so are features located on another isoform
(flat ``FT   BINDING  Q0E9H9-11:144``, XML ``<location sequence="...">``, JSON ``location.sequence``):
their positions do not refer to the canonical sequence that is stored.
"""

from __future__ import annotations

import re

from protxai_ray.uniprot.crc64 import crc64
from protxai_ray.uniprot.features import legacy_ligand
from protxai_ray.uniprot.records import Feature, ProteinEntry, RejectedEntry

RESIDUES = "ACDEFGHIKLMNPQRSTVWYBZXUOJ"
_BAD_RESIDUE = re.compile(f"[^{RESIDUES}]")

# (feature_type, start or None if unknown, end or None if unknown, description, ligand[, evidence]);
# evidence = ``features.evidence_codes`` of the feature (formats without evidence give 5-tuples: "").
RawFeature = tuple[str, int | None, int | None, str, str] | tuple[str, int | None, int | None, str, str, str]


def _bad_letters(sequence: str) -> str:
    found = sorted(set(_BAD_RESIDUE.findall(sequence)))
    return "".join(found[:10])


def build_entry(
    source: str,
    *,
    accession: str | None,
    entry_name: str,
    reviewed: bool,
    entry_version: int | None,
    sequence_version: int | None,
    sequence: str,
    carried_crc64: str | None,
    carried_length: int | None,
    organism: str,
    ec: list[str],
    go: list[str],
    features: list[RawFeature],
    modified: str = "",
    isoform_features: list[tuple[str, str]] | None = None,
) -> ProteinEntry | RejectedEntry:
    """Validate and assemble one entry; a contradiction yields a RejectedEntry with a one-line reason."""
    if not accession:
        return RejectedEntry(source, None, "entry has no accession")
    if not sequence:
        return RejectedEntry(source, accession, "empty sequence")
    if _BAD_RESIDUE.search(sequence):
        return RejectedEntry(
            source, accession, f"sequence contains invalid characters {_bad_letters(sequence)!r}"
        )
    length = len(sequence)
    if carried_length is not None and carried_length != length:
        return RejectedEntry(
            source, accession, f"sequence has {length} residues but the entry says {carried_length}"
        )
    checksum = crc64(sequence)
    if carried_crc64 and carried_crc64.upper() != checksum:
        return RejectedEntry(
            source,
            accession,
            f"CRC64 mismatch: entry says {carried_crc64.upper()}, sequence gives {checksum}",
        )
    kept: list[Feature] = []
    notes: list[str] = [
        f"{accession}: dropped {ftype} located on isoform {isoform} (positions refer to that isoform)"
        for ftype, isoform in isoform_features or ()
    ]
    for feature_type, start, end, description, ligand, *evidence in features:
        if start is None or end is None:
            where = f"{'?' if start is None else start}..{'?' if end is None else end}"
            notes.append(f"{accession}: dropped {feature_type} {where} (unknown end)")
            continue
        if start == 0 and end == 0 and feature_type == "initiator_methionine":
            # Pre-2000 convention: "INIT_MET 0 0" = a Met removed before the shown sequence.
            notes.append(f"{accession}: initiator_methionine at 0..0 (Met not in the sequence) dropped")
            continue
        if start < 1 or end > length or start > end:
            return RejectedEntry(
                source, accession, f"{feature_type} feature {start}..{end} outside the sequence (1..{length})"
            )
        if not ligand:
            ligand = legacy_ligand(feature_type, description)
        kept.append(Feature(feature_type, start, end, description, ligand, evidence[0] if evidence else ""))
    return ProteinEntry(
        accession=accession,
        entry_name=entry_name,
        reviewed=reviewed,
        entry_version=entry_version,
        sequence_version=sequence_version,
        sequence=sequence,
        crc64=checksum,
        organism=organism,
        ec=_unique(ec),
        go=_unique(go),
        features=kept,
        source=source,
        modified=modified,
        notes=notes,
    )


def _unique(values: list[str]) -> list[str]:
    """Order-preserving de-duplication (EC numbers repeat across a protein's names)."""
    return list(dict.fromkeys(values))
