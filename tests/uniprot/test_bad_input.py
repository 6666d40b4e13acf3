"""Bad input: each case rejects only the bad entry (with a one-line reason naming it) or the whole source.

Fixtures are small edits of real entries from the shipped data, written to tmp_path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot import read_entries
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry
from tests.conftest import UNIPROT_DATA


def _flat_entries(n: int) -> list[str]:
    text = (UNIPROT_DATA / "flat" / "modern_ft2019_11plus_01.dat").read_text()
    return [block.lstrip("\n") + "\n//\n" for block in text.split("\n//")[:n]]


def _xml_entries(n: int) -> tuple[str, list[str]]:
    text = (UNIPROT_DATA / "xml" / "entries_04.xml").read_text()
    head = text[: text.index("<entry")]
    return head, re.findall(r"<entry .*?</entry>\n", text, re.S)[:n]


def _json_entries(n: int) -> list[dict]:
    return json.loads((UNIPROT_DATA / "json" / "entries_01.json").read_text())["results"][:n]


def _accession(flat_entry: str) -> str:
    return re.search(r"^AC   (\w+);", flat_entry, re.M).group(1)


def _read(path: Path) -> tuple[list[ProteinEntry], list[RejectedEntry]]:
    items = list(read_entries(str(path)))
    return [i for i in items if isinstance(i, ProteinEntry)], [
        i for i in items if isinstance(i, RejectedEntry)
    ]


def _edit_sequence(entry: str, edit) -> str:
    """``entry`` with its sequence lines (between SQ and //) replaced by ``edit(lines)``."""
    head, sq, tail = entry.partition("\nSQ   ")
    sq_line, _, body = tail.partition("\n")
    return head + sq + sq_line + "\n" + edit(body[: -len("//\n")]) + "//\n"


def _flat_case(tmp_path: Path, bad: str, good: list[str]) -> tuple[list[ProteinEntry], list[RejectedEntry]]:
    path = tmp_path / "case.dat"
    path.write_text(good[0] + bad + "".join(good[1:]))
    return _read(path)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda body: body.replace("M", "1", 1), r"invalid characters '1'"),
        (lambda body: body.replace("A", "*", 1), r"invalid characters '\*'"),
        (lambda body: "", r"empty sequence"),
    ],
    ids=["digit", "unknown-letter", "empty"],
)
def test_bad_flat_sequence_rejects_that_entry_only(tmp_path, edit, reason):
    entries = _flat_entries(4)
    bad = _edit_sequence(entries[1], edit)
    good, rejected = _flat_case(tmp_path, bad, [entries[0], *entries[2:]])
    assert [e.accession for e in good] == [_accession(e) for e in (entries[0], *entries[2:])]
    assert len(rejected) == 1
    assert rejected[0].accession == _accession(entries[1])
    assert re.search(reason, rejected[0].reason)
    assert "case.dat" in str(rejected[0]) and _accession(entries[1]) in str(rejected[0])


def test_crc64_mismatch_rejected(tmp_path):
    entries = _flat_entries(3)
    bad = re.sub(r"(\w{16}) CRC64;", "0123456789ABCDEF CRC64;", entries[1], count=1)
    good, rejected = _flat_case(tmp_path, bad, [entries[0], entries[2]])
    assert len(good) == 2 and len(rejected) == 1
    assert "CRC64 mismatch" in rejected[0].reason and "0123456789ABCDEF" in rejected[0].reason


def test_feature_outside_sequence_rejected(tmp_path):
    entries = _flat_entries(3)
    length = int(re.search(r"^SQ   SEQUENCE +(\d+) AA;", entries[1], re.M).group(1))
    feature = re.search(r"^FT   (\w+) +(\d+)\.\.(\d+)$", entries[1], re.M)
    start = int(feature.group(2))
    bad = entries[1].replace(feature.group(0), f"{feature.group(0).rsplit('..', 1)[0]}..{length + 5}", 1)
    good, rejected = _flat_case(tmp_path, bad, [entries[0], entries[2]])
    assert len(good) == 2 and len(rejected) == 1
    assert f"{start}..{length + 5} outside the sequence (1..{length})" in rejected[0].reason


def test_flat_entry_without_terminator_at_end_of_file(tmp_path):
    entries = _flat_entries(3)
    path = tmp_path / "cut.dat"
    path.write_text(entries[0] + entries[1] + entries[2][: -len("//\n")])
    good, rejected = _read(path)
    assert [e.accession for e in good] == [_accession(entries[0]), _accession(entries[1])]
    assert len(rejected) == 1 and rejected[0].accession == _accession(entries[2])
    assert "'//'" in rejected[0].reason


def test_malformed_xml_keeps_entries_before_the_break(tmp_path):
    head, entries = _xml_entries(3)
    path = tmp_path / "broken.xml"
    path.write_text(head + entries[0] + entries[1] + entries[2][: len(entries[2]) // 2])
    good, rejected = _read(path)
    assert len(good) == 2
    assert len(rejected) == 1
    assert f"after entry {good[-1].accession}" in rejected[0].reason
    assert "XML" in rejected[0].reason and "broken.xml" in str(rejected[0])


def test_bad_xml_entry_crc_and_sequence(tmp_path):
    head, entries = _xml_entries(3)
    bad_crc = re.sub(r'checksum="\w+"', 'checksum="FFFFFFFFFFFFFFFF"', entries[1], count=1)
    path = tmp_path / "crc.xml"
    path.write_text(head + entries[0] + bad_crc + entries[2] + "</uniprot>\n")
    good, rejected = _read(path)
    assert len(good) == 2 and len(rejected) == 1 and "CRC64 mismatch" in rejected[0].reason


def test_invalid_json_is_invalid_source(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"results": _json_entries(2)})[:-40])
    with pytest.raises(InvalidSource, match=r"bad\.json.*: invalid JSON"):
        list(read_entries(str(path)))


def test_bad_json_entry_rejected(tmp_path):
    entries = _json_entries(3)
    entries[1]["sequence"]["value"] = (
        entries[1]["sequence"]["value"][:10] + "9" + entries[1]["sequence"]["value"][11:]
    )
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(entries))  # a bare list is accepted too
    good, rejected = _read(path)
    assert len(good) == 2 and len(rejected) == 1
    assert rejected[0].accession == entries[1]["primaryAccession"] and "'9'" in rejected[0].reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"chrom\tstart\tend\n1\t2\t3\n", "not a UniProt"),
        (b"", "empty file"),
        (b'<?xml version="1.0"?><html><body/></html>', "not UniProt XML"),
        (b'{"data": []}', "not UniProt REST JSON"),
    ],
    ids=["tsv", "empty", "html", "json-other"],
)
def test_non_uniprot_source(tmp_path, content, message):
    path = tmp_path / "other.txt"
    path.write_bytes(content)
    with pytest.raises(InvalidSource, match=message) as caught:
        list(read_entries(str(path)))
    assert "other.txt" in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidSource, match="no such file"):
        list(read_entries(str(tmp_path / "absent.xml")))
