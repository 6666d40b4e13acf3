"""UniProt flat text (``.dat``/``.txt``), every era found in the shipped data.

* ID line: ``ID   NAME   Reviewed;   282 AA.`` / ``Unreviewed;`` and the pre-2004
  ``ID   NAME   STANDARD;   PRT;   282 AA.`` / ``PRELIMINARY;`` (STANDARD/Reviewed -> reviewed).
* DT lines with versions (``DT   09-APR-2025, entry version 46.``) and the pre-2003 form
  ``DT   01-AUG-1988 (Rel. 08, Created)`` without versions: entry/sequence version are None then.
  ``modified`` is the latest DT date (ISO), like XML's ``modified`` attribute.
* DE: ``EC=1.2.3.4`` (2008+) and free text ``(EC 1.2.3.4)`` (older).
* FT: the 2019_11+ layout ``FT   KEY             from..to`` with ``/note=``, ``/ligand=`` qualifiers, and the
  older ``FT   KEY      from     to       description.`` (a feature line with two position columns).
  Legacy keys METAL/NP_BIND/CA_BIND (before 2022_03) keep their own canonical names. Feature evidence:
  the ECO codes of ``/evidence=`` (2019_11+) or of the ``{ECO:...}`` braces ending the description (older).
* An entry that does not end with ``//`` before the end of the file is rejected as truncated.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import BinaryIO

from protxai_ray.uniprot.build import RawFeature, build_entry
from protxai_ray.uniprot.features import evidence_codes, flat_type
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry

_EC_NEW = re.compile(r"EC=([0-9n.\-]+)")
_EC_OLD = re.compile(r"\(EC ([0-9n.\-]+)\)")
_DATE = re.compile(r"(\d\d)-([A-Z]{3})-(\d{4})")
_ENTRY_VERSION = re.compile(r"entry version (\d+)")
_SEQUENCE_VERSION = re.compile(r"sequence version (\d+)")
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_SCI_NAME_PART = re.compile(r"^[a-z]")
_EVIDENCE = re.compile(r"\s*\{ECO:[^}]*\}\.?")
# Pre-2019 evidence qualifiers in feature text; XML/JSON carry them as status/evidence, not description.
_STATUS = re.compile(r"\s*\((?:By similarity|Potential|Probable)\)", re.IGNORECASE)


def _iso(day: str, month: str, year: str) -> str:
    return f"{year}-{_MONTHS.get(month, 0):02d}-{day}"


def _position(text: str) -> int | None:
    """``12``, ``<1``, ``>120``, ``?47`` -> the number; ``?`` or empty -> None (unknown)."""
    digits = text.lstrip("<>?")
    return int(digits) if digits.isdigit() else None


def _organism(text: str) -> str:
    """Scientific name from an OS line: keep ``(strain ...)``-style groups, stop at ``(Human)``-style ones."""
    text = text.strip().rstrip(".")
    head, sep, rest = text.partition(" (")
    if not sep:
        return text.split(", and", 1)[0]
    name = head
    # Split the parenthesised groups at top level.
    groups: list[str] = []
    depth = 0
    current = ""
    for char in "(" + rest:
        if char == "(":
            if depth == 0:
                current = ""
            else:
                current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                groups.append(current)
            else:
                current += char
        elif depth > 0:
            current += char
        elif char == "," and not groups:
            break
    for group in groups:
        if not _SCI_NAME_PART.match(group):
            break
        name += f" ({group})"
    return name


def _features(lines: list[str], isoform: list[tuple[str, str]]) -> list[RawFeature]:
    """Features of the canonical sequence; those located on another isoform go to ``isoform``."""
    features: list[RawFeature] = []
    # key, start, end, qualifiers {name: value}, legacy description parts
    current: list | None = None
    qualifier = None

    def finish() -> None:
        if current is None:
            return
        key, start, end, quals, legacy = current
        if start == "isoform":
            isoform.append((flat_type(key), end))
            return
        if legacy is not None:
            text = " ".join(legacy)
            evidence = evidence_codes(_EVIDENCE.findall(text))
            description = _EVIDENCE.sub("", text).strip()
            if description.endswith("."):
                description = description[:-1]
            description = _STATUS.sub("", description).strip()
            if description.lower() in ("by similarity", "potential", "probable"):
                description = ""
        else:
            description = quals.get("note", "")
            evidence = evidence_codes([quals.get("evidence", "")])
        features.append((flat_type(key), start, end, description, quals.get("ligand", ""), evidence))

    for line in lines:
        if line[5] != " ":  # a new feature
            finish()
            parts = line[5:].split()
            key = parts[0]
            if len(parts) == 2:  # 2019_11+: KEY from..to
                location = parts[1]
                if ":" in location:  # P12345-2:10..20 refers to isoform P12345-2
                    current = [key, "isoform", location.partition(":")[0], {}, None]
                    qualifier = None
                    continue
                first, _, last = location.partition("..")
                start = _position(first)
                end = _position(last) if last else start
                current = [key, start, end, {}, None]
            else:  # older: KEY from to description
                start = _position(parts[1]) if len(parts) > 1 else None
                end = _position(parts[2]) if len(parts) > 2 else start
                current = [key, start, end, {}, parts[3:]]
            qualifier = None
            continue
        if current is None:
            continue
        text = line[21:].strip()
        if current[4] is not None:  # older layout: continuation of the description, or /FTId=
            if not text.startswith("/FTId="):
                current[4].append(text)
            continue
        if text.startswith("/"):
            name, _, value = text[1:].partition("=")
            qualifier = name
            current[3][name] = value.strip('"')
        elif qualifier is not None:
            current[3][qualifier] = (current[3][qualifier] + " " + text.rstrip('"')).strip()
    finish()
    return features


def _entry(lines: list[str], source: str) -> ProteinEntry | RejectedEntry:
    accession = None
    entry_name = ""
    reviewed = False
    entry_version = sequence_version = None
    modified = ""
    de: list[str] = []
    os_lines: list[str] = []
    go: list[str] = []
    ft: list[str] = []
    sequence_parts: list[str] = []
    carried_crc = None
    carried_length = None
    in_sequence = False
    for line in lines:
        code = line[:2]
        if in_sequence:
            if code == "  ":
                sequence_parts.append(line)
                continue
            in_sequence = False
        if code == "FT":
            ft.append(line)
        elif code == "DR":
            if line.startswith("DR   GO;"):
                go.append(line[9:].split(";", 1)[0].strip())
        elif code == "ID":
            parts = line.split()
            entry_name = parts[1]
            status = parts[2].rstrip(";")
            reviewed = status in ("Reviewed", "STANDARD")
        elif code == "AC":
            if accession is None:
                accession = line[5:].split(";", 1)[0].strip()
        elif code == "DT":
            match = _DATE.search(line)
            if match:
                iso = _iso(*match.groups())
                modified = max(modified, iso)
            if "entry version" in line:
                entry_version = int(_ENTRY_VERSION.search(line).group(1))
            elif "sequence version" in line:
                sequence_version = int(_SEQUENCE_VERSION.search(line).group(1))
        elif code == "DE":
            de.append(line[5:])
        elif code == "OS":
            os_lines.append(line[5:])
        elif code == "SQ":
            parts = line.split()
            in_sequence = True
            for i, token in enumerate(parts):
                if token.startswith("AA;") and i > 0:
                    carried_length = int(parts[i - 1])
                elif token == "CRC64;" and i > 0:
                    carried_crc = parts[i - 1]
    description = " ".join(part.strip() for part in de)
    isoform: list[tuple[str, str]] = []
    features = _features(ft, isoform)
    ec = _EC_NEW.findall(description) or _EC_OLD.findall(description)
    return build_entry(
        source,
        accession=accession,
        entry_name=entry_name,
        reviewed=reviewed,
        entry_version=entry_version,
        sequence_version=sequence_version,
        sequence="".join(sequence_parts).replace(" ", "").replace("\n", ""),
        carried_crc64=carried_crc,
        carried_length=carried_length,
        organism=_organism(" ".join(part.strip() for part in os_lines)),
        ec=ec,
        go=go,
        features=features,
        modified=modified,
        isoform_features=isoform,
    )


def parse_flat(stream: BinaryIO, source: str) -> Iterator[ProteinEntry | RejectedEntry]:
    """Yield one ProteinEntry/RejectedEntry per ``ID ... //`` block of a flat-text stream."""
    lines: list[str] = []
    # Lines keep their newline: every field reader below strips or splits, so no per-line rstrip.
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
    for line in text:
        if line[:2] == "//":
            if lines:
                yield _safe_entry(lines, source)
            lines = []
            continue
        if not lines and line.isspace():
            continue
        lines.append(line)
    if lines:
        accession = next((ln[5:].split(";", 1)[0].strip() for ln in lines if ln.startswith("AC ")), None)
        yield RejectedEntry(source, accession, "truncated entry: end of file before the closing '//'")


def _safe_entry(lines: list[str], source: str) -> ProteinEntry | RejectedEntry:
    try:
        return _entry(lines, source)
    except (ValueError, IndexError, AttributeError) as exc:
        accession = next((ln[5:].split(";", 1)[0].strip() for ln in lines if ln.startswith("AC ")), None)
        return RejectedEntry(source, accession, f"malformed flat entry: {exc}")
