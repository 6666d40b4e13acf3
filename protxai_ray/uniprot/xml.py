"""UniProt XML (``<uniprot xmlns="http://uniprot.org/uniprot">``), streamed entry by entry.

``iterparse`` hands over each finished ``<entry>``; it is converted and cleared and the root is
emptied, so memory stays at one entry whatever the file size. Malformed XML stops the file (an XML
parser cannot resynchronise on a non-seekable stream): the entries before the break come out, then one
RejectedEntry says where the XML broke and that the rest of the file was not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from xml.etree import ElementTree

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot.build import RawFeature, build_entry
from protxai_ray.uniprot.features import evidence_codes, xml_type
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry

_UNKNOWN = None


_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: str) -> str:
    """``{http://uniprot.org/uniprot}entry`` -> ``entry`` (memoised: a file uses a few dozen tags)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = _LOCAL_NAMES[tag] = tag.rpartition("}")[2]
    return name


def _position(element) -> int | None:
    """A <begin>/<end>/<position>: its number, or None when the status is unknown and no number is given."""
    value = element.get("position")
    if value is None:
        return _UNKNOWN
    return int(value)


def _feature(element, isoform: list[tuple[str, str]]) -> RawFeature | None:
    """One feature; None (recorded in ``isoform``) when its location is on another isoform. The 6th field
    holds the feature's evidence *keys* ("1 2"); ``_entry`` resolves them to ECO codes."""
    ftype = xml_type(element.get("type", ""))
    description = element.get("description", "")
    ligand = ""
    start = end = _UNKNOWN
    for child in element:
        tag = _local(child.tag)
        if tag == "location":
            if child.get("sequence"):
                isoform.append((ftype, child.get("sequence")))
                return None
            for part in child:
                ptag = _local(part.tag)
                if ptag == "begin":
                    start = _position(part)
                elif ptag == "end":
                    end = _position(part)
                elif ptag == "position":
                    start = end = _position(part)
        elif tag == "ligand":
            for part in child:
                if _local(part.tag) == "name":
                    ligand = (part.text or "").strip()
                    break
    return (ftype, start, end, description, ligand, element.get("evidence", ""))


def _entry(element, source: str) -> ProteinEntry | RejectedEntry:
    accession = None
    entry_name = ""
    organism = ""
    sequence = ""
    carried_crc = None
    carried_length = None
    sequence_version = None
    ec: list[str] = []
    go: list[str] = []
    features: list[RawFeature] = []
    isoform: list[tuple[str, str]] = []
    evidence_types: dict[str, str] = {}  # <evidence key="1" type="ECO:..."> (listed after the features)
    for child in element:
        tag = _local(child.tag)
        if tag == "evidence":
            evidence_types[child.get("key", "")] = child.get("type", "")
        elif tag == "feature":
            feature = _feature(child, isoform)
            if feature is not None:
                features.append(feature)
        elif tag == "dbReference":
            if child.get("type") == "GO":
                go.append(child.get("id", ""))
        elif tag == "accession":
            if accession is None:
                accession = (child.text or "").strip()
        elif tag == "name":
            entry_name = (child.text or "").strip()
        elif tag == "protein":
            ec.extend((e.text or "").strip() for e in child.iter() if _local(e.tag) == "ecNumber")
        elif tag == "organism":
            for name in child:
                if _local(name.tag) == "name" and name.get("type") == "scientific":
                    organism = (name.text or "").strip()
                    break
        elif tag == "sequence":
            sequence = "".join((child.text or "").split())
            carried_crc = child.get("checksum")
            length = child.get("length")
            carried_length = int(length) if length else None
            version = child.get("version")
            sequence_version = int(version) if version else None
    features = [
        (*feature[:5], evidence_codes(evidence_types.get(key, "") for key in feature[5].split()))
        for feature in features
    ]
    version = element.get("version")
    return build_entry(
        source,
        accession=accession,
        entry_name=entry_name,
        reviewed=element.get("dataset", "") == "Swiss-Prot",
        entry_version=int(version) if version else None,
        sequence_version=sequence_version,
        sequence=sequence,
        carried_crc64=carried_crc,
        carried_length=carried_length,
        organism=organism,
        ec=ec,
        go=go,
        features=features,
        modified=element.get("modified", ""),
        isoform_features=isoform,
    )


_ENTRY_TAGS = frozenset({"{http://uniprot.org/uniprot}entry", "entry"})


def parse_xml(stream: BinaryIO, source: str) -> Iterator[ProteinEntry | RejectedEntry]:
    """Yield one ProteinEntry/RejectedEntry per ``<entry>`` of a UniProt XML stream."""
    root = None
    last = None
    try:
        events = ElementTree.iterparse(stream, events=("start", "end"))
        _, root = next(events)  # the first start event is the root element
        if _local(root.tag) not in ("uniprot", "entry"):
            raise InvalidSource(source, f"XML but not UniProt XML (root element <{_local(root.tag)}>)")
        for event, element in events:
            # Hot loop (two events per XML element): compare raw tags, no name splitting.
            if event == "start" or element.tag not in _ENTRY_TAGS:
                continue
            try:
                item = _entry(element, source)
            except ValueError as exc:  # a non-numeric position or length attribute
                acc = element.findtext("{http://uniprot.org/uniprot}accession") or None
                item = RejectedEntry(source, acc, f"malformed entry: {exc}")
            last = item.accession
            yield item
            root.clear()  # drop finished entries: memory stays at one entry
    except StopIteration:
        raise InvalidSource(source, "empty XML document") from None
    except ElementTree.ParseError as exc:
        if root is None:
            raise InvalidSource(source, f"not well-formed XML: {exc}") from exc
        after = f" after entry {last}" if last else " before the first complete entry"
        yield RejectedEntry(
            source, None, f"malformed or truncated XML{after}: {exc}; the rest of the file is not read"
        )
