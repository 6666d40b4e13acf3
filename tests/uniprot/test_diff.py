"""Release diff against the real release pairs (changes.tsv) and hand-made cases of each change kind."""

from __future__ import annotations

import csv

import pytest

from protxai_ray.store.schemas import RELEASE_CHANGES as STORE_RELEASE_CHANGES
from protxai_ray.uniprot.arrow import annotations_table, proteins_table
from protxai_ray.uniprot.collect import collect_entries
from protxai_ray.uniprot.diff import (
    CHANGE_KINDS,
    RELEASE_CHANGES,
    change_counts,
    diff_releases,
    states_from_entries,
    states_from_tables,
)
from protxai_ray.uniprot.records import Feature, ProteinEntry
from tests.conftest import UNIPROT_DATA

RELEASES = UNIPROT_DATA / "releases"


@pytest.fixture(scope="module")
def pair():
    a = collect_entries([str(RELEASES / "release_a" / f) for f in ("entries.xml", "entries.dat")])
    b = collect_entries([str(RELEASES / "release_b" / f) for f in ("entries.xml", "entries.dat")])
    return a.entries, b.entries


@pytest.fixture(scope="module")
def expected(pair) -> dict[str, dict[str, str]]:
    """changes.tsv per accession; an accession in both formats has one row per format, and we take the
    row of the format whose entries ``collect_entries`` kept (the one the diff sees)."""
    with open(RELEASES / "changes.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    kept = {e.accession: ("xml" if "(xml)" in e.source else "flat") for e in pair[1]}
    by_acc: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["accession"] not in by_acc or row["format"] == kept.get(row["accession"]):
            by_acc[row["accession"]] = row
    return by_acc


def test_real_pair_flags_match_changes_tsv(pair, expected):
    old, new = pair
    changes = diff_releases(states_from_entries(old), states_from_entries(new), "2024_02", "2024_01")
    got = {row["accession"]: row for row in changes.to_pylist()}
    assert set(got) == set(expected)
    for acc, row in expected.items():
        for flag in ("sequence_changed", "ec_changed", "go_changed"):
            assert got[acc][flag] == (row[flag] == "True"), (acc, flag)
        if row["features_changed"] == "True":  # per-type counts differ => the feature multiset differs
            assert got[acc]["annotations_changed"], acc
    counts = change_counts(changes)
    assert counts["any_sequence_changed"] == sum(r["sequence_changed"] == "True" for r in expected.values())
    assert counts["any_ec_changed"] == sum(r["ec_changed"] == "True" for r in expected.values())
    assert counts["new"] == counts["deleted"] == 0
    assert sum(counts[k] for k in CHANGE_KINDS) == len(expected)


def test_states_from_store_tables_equal_states_from_entries(pair):
    _, new = pair
    from_tables = states_from_tables(proteins_table("r", new), annotations_table("r", new))
    assert from_tables == states_from_entries(new)


def test_schema_is_the_store_view_schema():
    assert RELEASE_CHANGES.equals(STORE_RELEASE_CHANGES)


def _entry(acc: str, seq: str = "MKTAYIAK", **kw) -> ProteinEntry:
    from protxai_ray.uniprot.crc64 import crc64

    base = dict(entry_name=f"{acc}_X", reviewed=True, entry_version=1, sequence_version=1, sequence=seq)
    base.update(kw)
    return ProteinEntry(accession=acc, crc64=crc64(base["sequence"]), **base)


def test_each_kind_and_precedence():
    site = Feature("active_site", 3, 3, "Nucleophile")
    old = [
        _entry("A1"),  # unchanged (description wording only)
        _entry("A2"),  # deleted
        _entry("A3", go=["GO:0016020"], features=[site]),  # sequence + label + features: sequence wins
        _entry("A4", ec=["3.4.21.4"]),  # label (EC)
        _entry("A5", features=[site]),  # annotations
        _entry("A6", sequence_version=1),  # sequence version bumped, same sequence
    ]
    new = [
        _entry("A1"),
        _entry("A3", "MKTAYIAKQ", sequence_version=2, go=[], features=[]),
        _entry("A4", ec=["3.4.21.5"]),
        _entry("A5", features=[Feature("active_site", 4, 4, "Nucleophile")]),
        _entry("A6", sequence_version=2),
        _entry("A7"),  # new
    ]
    old[0].features = [Feature("motif", 1, 3, "old wording")]
    new[0].features = [Feature("motif", 1, 3, "new wording")]
    rows = {
        r["accession"]: r
        for r in diff_releases(states_from_entries(old), states_from_entries(new), "b", "a").to_pylist()
    }
    assert {acc: r["change"] for acc, r in rows.items()} == {
        "A1": "unchanged",
        "A2": "deleted",
        "A3": "sequence_changed",
        "A4": "label_changed",
        "A5": "annotations_changed",
        "A6": "sequence_changed",
        "A7": "new",
    }
    assert rows["A3"]["label_changed"] and rows["A3"]["go_changed"] and rows["A3"]["annotations_changed"]
    assert rows["A4"]["ec_changed"] and not rows["A4"]["go_changed"]
    assert rows["A2"]["crc64_new"] is None and rows["A7"]["crc64_old"] is None
    assert rows["A7"]["is_new"] and rows["A2"]["is_deleted"]
    assert rows["A6"]["crc64_old"] == rows["A6"]["crc64_new"]
    assert all(r["release"] == "b" and r["previous_release"] == "a" for r in rows.values())
