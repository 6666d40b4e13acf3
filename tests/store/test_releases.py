"""Releases: manifest commit point, merge by entry version, idempotent re-ingest, failed writes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from protxai_ray.errors import StoreError
from protxai_ray.store import releases as store_releases
from protxai_ray.store.fs import Store
from protxai_ray.store.lock import Locked
from protxai_ray.store.releases import (
    list_releases,
    read_release,
    read_release_manifest,
    release_files,
    release_lock,
    validate_release_name,
)
from protxai_ray.uniprot.arrow import write_entries
from protxai_ray.uniprot.records import Feature, ProteinEntry


def entry(accession: str, version: int | None, sequence: str = "MKTAYIAK", features=()) -> ProteinEntry:
    from protxai_ray.uniprot.crc64 import crc64

    return ProteinEntry(
        accession=accession,
        entry_name=f"{accession}_HUMAN",
        reviewed=True,
        entry_version=version,
        sequence_version=1,
        sequence=sequence,
        crc64=crc64(sequence),
        organism="Homo sapiens",
        ec=["3.4.21.4"],
        go=["GO:0016020"],
        features=list(features),
        source="test (xml)",
    )


def collection(*entries: ProteinEntry) -> SimpleNamespace:
    return SimpleNamespace(entries=list(entries), rejected=[], notes=[])


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return Store(request.getfixturevalue("s3_store"))


def test_release_names_are_validated() -> None:
    for good in ("2024_01", "release_a", "r-1.2"):
        assert validate_release_name(good) == good
    for bad in ("", "..", "a/b", "2024 01", "x=y"):
        with pytest.raises(StoreError):
            validate_release_name(bad)


def test_write_then_read_sorted_rows(store: Store) -> None:
    motif = Feature("motif", 2, 4, "RGD")
    site = Feature("active_site", 5, 5)
    write_entries(store, "2024_01", collection(entry("Q2", 3, features=[motif, site]), entry("P1", 1)))
    proteins = read_release(store, "2024_01", "proteins")
    assert proteins.column("accession").to_pylist() == ["P1", "Q2"]
    assert proteins.column("release").to_pylist() == ["2024_01", "2024_01"]
    assert proteins.column("length").to_pylist() == [8, 8]
    annotations = read_release(store, "2024_01", "annotations")
    assert [(r["feature_type"], r["start"], r["end"]) for r in annotations.to_pylist()] == [
        ("motif", 2, 4),
        ("active_site", 5, 5),
    ]
    manifest = read_release_manifest(store, "2024_01")
    assert manifest.counts == {
        "proteins": 2,
        "annotations": 2,
        "feature_types": {"active_site": 1, "motif": 1},
    }
    assert list_releases(store) == ["2024_01"]


def test_reingest_is_idempotent_and_merge_keeps_highest_version(store: Store) -> None:
    first = collection(entry("P1", 2, features=[Feature("motif", 1, 2)]), entry("P2", 5))
    write_entries(store, "r", first)
    before = (read_release(store, "r", "proteins"), read_release(store, "r", "annotations"))
    summary = write_entries(store, "r", first)
    assert (summary.added, summary.replaced, summary.kept) == (0, 0, 2)
    assert read_release(store, "r", "proteins").equals(before[0])
    assert read_release(store, "r", "annotations").equals(before[1])
    # only the current generation's files remain
    assert len(store.list("releases/release=r/proteins")) == 1
    assert release_files(store, "r", "proteins")[0].startswith("releases/release=r/proteins/part-g0002-")

    newer = entry("P1", 3, sequence="MKTAYIAKQR", features=[Feature("transmembrane", 2, 9)])
    older = entry("P2", 4, sequence="MMMM")
    summary = write_entries(store, "r", collection(newer, older, entry("P3", None)))
    assert (summary.added, summary.replaced, summary.kept) == (1, 1, 1)
    rows = {r["accession"]: r for r in read_release(store, "r", "proteins").to_pylist()}
    assert sorted(rows) == ["P1", "P2", "P3"]
    assert rows["P1"]["entry_version"] == 3 and rows["P1"]["length"] == 10
    assert rows["P2"]["entry_version"] == 5  # the stored, newer version stays
    assert rows["P3"]["entry_version"] is None
    annotations = read_release(store, "r", "annotations").to_pylist()
    assert [(a["accession"], a["feature_type"]) for a in annotations] == [("P1", "transmembrane")]


def test_same_version_different_sequence_is_noted(tmp_path) -> None:
    store = Store(tmp_path)
    write_entries(store, "r", collection(entry("P1", 2)))
    summary = write_entries(store, "r", collection(entry("P1", 2, sequence="MKKK")))
    assert summary.kept == 1 and "P1" in summary.notes[0]
    assert read_release(store, "r", "proteins").column("sequence").to_pylist() == ["MKTAYIAK"]


def test_failed_ingest_leaves_no_visible_parquet(store: Store, monkeypatch) -> None:
    write_entries(store, "r", collection(entry("P1", 1)))
    committed = store.list("releases/release=r")
    real_write = store_releases.write_parquet_atomic

    def fail_on_annotations(st, rel, table, schema):
        if "/annotations/" in rel:
            raise OSError("simulated crash while writing annotations")
        real_write(st, rel, table, schema)

    monkeypatch.setattr(store_releases, "write_parquet_atomic", fail_on_annotations)
    with pytest.raises(OSError):
        write_entries(store, "r", collection(entry("P1", 2), entry("P9", 1)))
    with pytest.raises(OSError):
        write_entries(store, "new", collection(entry("P1", 2)))
    monkeypatch.undo()
    assert store.list("releases/release=r") == committed  # old generation intact, lock released
    assert store.list("releases/release=new") == []
    assert list_releases(store) == ["r"]
    assert read_release(store, "r", "proteins").column("entry_version").to_pylist() == [1]


def test_concurrent_writer_is_refused_by_the_lock(store: Store) -> None:
    with release_lock(store, "r"):
        with pytest.raises(Locked, match="being written"):
            write_entries(store, "r", collection(entry("P1", 1)))
    write_entries(store, "r", collection(entry("P1", 1)))  # lock released on exit
    assert list_releases(store) == ["r"]


def test_missing_release_is_a_store_error(tmp_path) -> None:
    with pytest.raises(StoreError, match="no release"):
        read_release(Store(tmp_path), "2099_01", "proteins")


def test_main_set_counts(ingested) -> None:
    """The main set ingested: one row per distinct accession, entries per collection."""
    store = Store(ingested.local)
    proteins = read_release(store, ingested.release, "proteins")
    assert proteins.num_rows == len(ingested.collection.entries) == 1066
    assert proteins.column("accession").to_pylist() == sorted(
        e.accession for e in ingested.collection.entries
    )
    expected = sum(len(e.features) for e in ingested.collection.entries)
    assert read_release(store, ingested.release, "annotations").num_rows == expected
