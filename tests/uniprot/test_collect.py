"""collect_entries: highest entry version wins whatever the order; ties keep the first, with a note."""

from __future__ import annotations

import csv
import gzip
import re

import pytest

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot.collect import collect_entries
from tests.conftest import UNIPROT_DATA

RELEASES = UNIPROT_DATA / "releases"


def _changes(fmt: str) -> dict[str, dict]:
    with open(RELEASES / "changes.tsv") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {row["accession"]: row for row in rows if row["format"] == fmt}


def test_newest_version_wins_in_either_order():
    old, new = str(RELEASES / "release_a" / "entries.dat"), str(RELEASES / "release_b" / "entries.dat")
    changes = _changes("flat")
    forward = collect_entries([old, new])
    backward = collect_entries([new, old])
    assert [e.accession for e in forward.entries] == [e.accession for e in backward.entries]
    assert len(forward.entries) == 209
    for a, b in zip(forward.entries, backward.entries, strict=True):
        assert a.source == b.source and a.source.startswith(new), a.accession
        row = changes[a.accession]
        if row["new_entry_version"]:
            assert a.entry_version == int(row["new_entry_version"])
        else:  # pre-2003 entries: told apart by their DT dates
            assert a.entry_version is None and a.modified == row["new_modified"]
    assert any("kept version" in note for note in forward.notes)


def test_same_version_different_content_keeps_first_and_notes(tmp_path):
    text = (UNIPROT_DATA / "flat" / "legacy_pre2019_11_02.dat").read_text()
    first = text.split("\n//")[0].lstrip("\n") + "\n//\n"
    accession = re.search(r"^AC   (\w+);", first, re.M).group(1)
    changed = re.sub(r"^(DR   GO; GO:\d+;.*\n)", "", first, count=1, flags=re.M)
    if changed == first:  # no GO line: add one instead
        changed = first.replace("\nSQ   ", "\nDR   GO; GO:0016020; C:membrane; IEA:InterPro.\nSQ   ", 1)
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    a.write_text(first)
    b.write_bytes(gzip.compress(changed.encode()))
    collection = collect_entries([str(a), str(b)], progress=True)
    assert len(collection.entries) == 1 and collection.entries[0].source.startswith(str(a))
    assert any(accession in n and "different content" in n for n in collection.notes)
    same = collect_entries([str(a), str(a)])
    assert len(same.entries) == 1 and not any("different content" in n for n in same.notes)
    assert any("same version and content" in n for n in same.notes)


def test_unreadable_source_raises_or_is_recorded(tmp_path):
    good = str(UNIPROT_DATA / "flat" / "legacy_pre2019_11_02.dat")
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": [')
    with pytest.raises(InvalidSource, match="bad.json"):
        collect_entries([good, str(bad)])
    collection = collect_entries([str(bad), good], skip_unreadable=True)
    assert len(collection.entries) == 24
    assert len(collection.unreadable) == 1 and "invalid JSON" in str(collection.unreadable[0])
