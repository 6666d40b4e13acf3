"""ECO evidence codes per feature: the XML, flat (both FT layouts) and REST JSON parsers agree on the same
entry's features, on real UniProt records; TMbed records carry none; ``annotations.evidence`` is NULL then."""

from __future__ import annotations

import csv
import io

import pytest

from protxai_ray.uniprot import read_entries
from protxai_ray.uniprot.arrow import annotations_table
from protxai_ray.uniprot.features import evidence_codes
from protxai_ray.uniprot.records import ProteinEntry
from protxai_ray.uniprot.tmbed import parse_tmbed
from tests.conftest import UNIPROT_DATA


@pytest.fixture(scope="module")
def by_format() -> dict[str, dict[str, ProteinEntry]]:
    found: dict[str, dict[str, ProteinEntry]] = {}
    for fmt in ("xml", "flat", "json"):
        found[fmt] = {
            item.accession: item
            for path in sorted((UNIPROT_DATA / fmt).iterdir())
            for item in read_entries(str(path))
            if isinstance(item, ProteinEntry)
        }
    return found


def _features(entry: ProteinEntry) -> list[tuple]:
    return sorted((f.feature_type, f.start, f.end, f.evidence) for f in entry.features)


def test_formats_agree_on_the_evidence_of_the_same_entry(by_format):
    """Every accession read from two formats in the same entry version: identical (type, range, evidence)
    per feature — legacy flat {ECO} braces vs XML keys, 2019_11+ flat /evidence vs JSON, JSON vs XML."""
    with open(UNIPROT_DATA / "index.tsv") as handle:
        index = list(csv.DictReader(handle, delimiter="\t"))
    compared, with_evidence = 0, set()
    for row in index:
        formats = row["formats_available"].split(",")
        if len(formats) < 2:
            continue
        first, second = (by_format[f][row["accession"]] for f in formats[:2])
        if first.entry_version != second.entry_version:
            continue
        compared += 1
        assert _features(first) == _features(second), row["accession"]
        if any(f.evidence for f in first.features):
            with_evidence.add((row["accession"], tuple(formats[:2])))
    assert compared == 13
    assert {pair[1] for pair in with_evidence} == {("flat", "xml"), ("flat", "json"), ("json", "xml")}
    # O94603 (2019_11+ flat and JSON): similarity, sequence model and experimental evidence side by side
    assert _features(by_format["json"]["O94603"]) == [
        ("binding_site", 294, 294, "ECO:0000250"),
        ("binding_site", 297, 297, "ECO:0000255"),
        ("binding_site", 299, 299, "ECO:0000255"),
        ("binding_site", 314, 314, "ECO:0000250"),
        ("chain", 1, 948, ""),
        ("domain", 243, 402, "ECO:0000255"),
        ("mutagenesis", 307, 307, "ECO:0000269"),
    ]


def test_several_codes_per_feature(by_format):
    # XML evidence="k1 k2" -> two <evidence> elements with different types
    active = [f for f in by_format["xml"]["P0AA04"].features if f.feature_type == "active_site"]
    assert [(f.start, f.evidence) for f in active] == [(15, "ECO:0000255,ECO:0000269")]
    # 2019_11+ flat: an /evidence qualifier continued on the next FT line
    entry = by_format["flat"]["A0A0B4ESU9"]
    domain = next(f for f in entry.features if f.feature_type == "domain" and f.start == 394)
    assert domain.evidence == "ECO:0000255,ECO:0000305"
    # counts: most features of the current formats carry evidence
    for fmt in ("xml", "json"):
        features = [f for e in by_format[fmt].values() for f in e.features]
        assert sum(bool(f.evidence) for f in features) > 0.8 * len(features)


def test_evidence_codes_keeps_codes_only():
    assert evidence_codes(["ECO:0000269|PubMed:1, ECO:0000255|PROSITE-ProRule:PRU1", "ECO:0000269"]) == (
        "ECO:0000255,ECO:0000269"
    )
    assert evidence_codes(["EI1", "", None]) == ""  # pre-ECO keys and absent evidence


def test_tmbed_has_no_evidence_and_the_table_stores_null(by_format):
    record = b">Q9BEC7|EUKARYA|NO_SP|1\nMKTAYIAKQRLLLLLLAGG\n111HHHHHHHHHH222222\n"
    (entry,) = parse_tmbed(io.BytesIO(record), "test.fasta")
    assert [(f.feature_type, f.evidence) for f in entry.features] == [("transmembrane", "")]
    table = annotations_table("2024_01", [entry, by_format["json"]["O94603"]])
    evidence = table.column("evidence").to_pylist()
    assert evidence[0] is None and "ECO:0000269" in evidence and evidence.count(None) == 2  # + the chain
