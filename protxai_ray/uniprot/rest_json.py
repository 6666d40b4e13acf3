"""UniProt REST JSON: a list of entries or ``{"results": [...]}``, current and 2019-2020 beta schemas.

Current schema: ``entryType`` "UniProtKB reviewed (Swiss-Prot)", feature types "Active site", ...,
cross-references under ``uniProtKBCrossReferences[].database``. Beta schema: ``entryType`` "Swiss-Prot",
XML-style lower-case feature types ("mutagenesis site"), cross-references with ``databaseType``.
Location modifiers: EXACT/OUTSIDE keep the value; UNKNOWN (no value) drops the feature with a note.
Feature evidence: the ECO codes of ``evidences[].evidenceCode`` (``features.evidence_codes``).

The document is decoded with ``json.load`` (REST pages are bounded in size; the standard library has no
streaming decoder); text that is not valid JSON is an InvalidSource naming the file and position.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import BinaryIO

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot.build import RawFeature, build_entry
from protxai_ray.uniprot.features import evidence_codes, json_type
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry


def _ec_numbers(node, found: list[str]) -> list[str]:
    """Every ``ecNumbers[].value`` anywhere under the protein description (names, contains, includes)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ecNumbers" and isinstance(value, list):
                found.extend(e["value"] for e in value if isinstance(e, dict) and e.get("value"))
            else:
                _ec_numbers(value, found)
    elif isinstance(node, list):
        for item in node:
            _ec_numbers(item, found)
    return found


def _end(point: dict | None) -> int | None:
    if not point or point.get("modifier") == "UNKNOWN" or point.get("value") is None:
        return None
    return int(point["value"])


def _features(entry: dict, isoform: list[tuple[str, str]]) -> list[RawFeature]:
    features: list[RawFeature] = []
    for feature in entry.get("features") or []:
        location = feature.get("location") or {}
        if location.get("sequence"):  # positions on another isoform
            isoform.append((json_type(feature.get("type", "")), location["sequence"]))
            continue
        ligand = feature.get("ligand") or {}
        evidences = feature.get("evidences") or []
        features.append(
            (
                json_type(feature.get("type", "")),
                _end(location.get("start")),
                _end(location.get("end")),
                feature.get("description") or "",
                ligand.get("name", "") if isinstance(ligand, dict) else "",
                evidence_codes(e.get("evidenceCode") for e in evidences if isinstance(e, dict)),
            )
        )
    return features


def _reviewed(entry_type: str) -> bool:
    lowered = entry_type.lower()
    return "swiss-prot" in lowered and "unreviewed" not in lowered


def _entry(entry: dict, source: str) -> ProteinEntry | RejectedEntry:
    accession = entry.get("primaryAccession")
    sequence = entry.get("sequence") or {}
    audit = entry.get("entryAudit") or {}
    references = entry.get("uniProtKBCrossReferences") or entry.get("dbReferences") or []
    go = [
        ref.get("id", "")
        for ref in references
        if (ref.get("database") or ref.get("databaseType") or ref.get("type")) == "GO"
    ]
    length = sequence.get("length")
    isoform: list[tuple[str, str]] = []
    features = _features(entry, isoform)
    return build_entry(
        source,
        accession=accession,
        entry_name=entry.get("uniProtkbId", ""),
        reviewed=_reviewed(entry.get("entryType", "")),
        entry_version=audit.get("entryVersion"),
        sequence_version=audit.get("sequenceVersion"),
        sequence=sequence.get("value") or "",
        carried_crc64=sequence.get("crc64"),
        carried_length=int(length) if length is not None else None,
        organism=(entry.get("organism") or {}).get("scientificName", ""),
        ec=_ec_numbers(entry.get("proteinDescription") or {}, []),
        go=go,
        features=features,
        modified=audit.get("lastAnnotationUpdateDate", ""),
        isoform_features=isoform,
    )


def parse_json(stream: BinaryIO, source: str) -> Iterator[ProteinEntry | RejectedEntry]:
    """Yield one ProteinEntry/RejectedEntry per entry object of a REST JSON document."""
    try:
        document = json.load(io.TextIOWrapper(stream, encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidSource(source, f"invalid JSON: {exc}") from exc
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        entries = document["results"]
    elif isinstance(document, list):
        entries = document
    elif isinstance(document, dict) and "primaryAccession" in document:
        entries = [document]
    else:
        raise InvalidSource(source, 'JSON but not UniProt REST JSON (expected a list or {"results": [...]})')
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "primaryAccession" not in entry:
            yield RejectedEntry(
                source, None, f"JSON item {index} is not a UniProt entry (no primaryAccession)"
            )
            continue
        if entry.get("entryType") == "Inactive":
            reason = (entry.get("inactiveReason") or {}).get("inactiveReasonType", "inactive")
            yield RejectedEntry(
                source, entry["primaryAccession"], f"inactive entry ({reason.lower()}), no sequence"
            )
            continue
        try:
            yield _entry(entry, source)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            yield RejectedEntry(source, entry.get("primaryAccession"), f"malformed JSON entry: {exc!r}")
