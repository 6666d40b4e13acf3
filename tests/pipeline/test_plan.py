"""Shard plan: proteins of a release, filtered, sorted by (length, accession), cut into stable shards."""

from __future__ import annotations

import pyarrow as pa
import pytest

from protxai_ray.errors import RunError
from protxai_ray.pipeline.plan import filter_proteins, make_plan, read_release_proteins
from protxai_ray.store.fs import Store
from protxai_ray.store.releases import read_release
from tests.pipeline.conftest import RELEASE


def _proteins(n: int) -> pa.Table:
    lengths = [(i * 37) % 50 + 5 for i in range(n)]
    return pa.table(
        {
            "accession": [f"P{i:05d}" for i in range(n)],
            "crc64": [f"{i:016X}" for i in range(n)],
            "length": pa.array(lengths, pa.int32()),
            "sequence": ["A" * n_ for n_ in lengths],
            "ec": [[] for _ in range(n)],
            "go": [[] for _ in range(n)],
        }
    )


def test_plan_is_sorted_chunked_and_stable():
    table = _proteins(23)
    plan = make_plan(table, 5)
    assert plan.shard_ids == ["00000", "00001", "00002", "00003", "00004"]
    assert [t.num_rows for t in plan.shards] == [5, 5, 5, 5, 3]
    keys = [(r["length"], r["accession"]) for t in plan.shards for r in t.to_pylist()]
    assert keys == sorted(keys)
    shuffled = table.take(list(range(22, -1, -1)))
    again = make_plan(shuffled, 5)
    assert again.digest == plan.digest  # input order does not matter
    assert [t.to_pylist() for t in again.shards] == [t.to_pylist() for t in plan.shards]
    assert make_plan(table.slice(0, 22), 5).digest != plan.digest


def test_filters_and_errors():
    table = _proteins(30)
    assert filter_proteins(table, "length < 20").num_rows == sum(
        1 for x in table["length"].to_pylist() if x < 20
    )
    assert filter_proteins(table, accessions=("P00003", "P00007", "NOPE"))["accession"].to_pylist() == [
        "P00003",
        "P00007",
    ]
    with pytest.raises(RunError, match="--where"):
        filter_proteins(table, "no_such_column > 1")
    with pytest.raises(RunError, match="more than once"):
        make_plan(pa.concat_tables([table, table.slice(0, 1)]), 5)


def test_release_read_from_store(release_store):
    proteins = read_release_proteins(Store(release_store), RELEASE)
    assert proteins.num_rows == 200
    assert proteins.column_names == ["accession", "crc64", "length", "sequence", "ec", "go", "feature_types"]
    types = dict(zip(proteins["accession"].to_pylist(), proteins["feature_types"].to_pylist(), strict=True))
    annotations = read_release(Store(release_store), RELEASE, "annotations").to_pylist()
    expected: dict[str, set[str]] = {}
    for row in annotations:
        expected.setdefault(row["accession"], set()).add(row["feature_type"])
    assert any(types.values())
    assert types == {a: sorted(expected.get(a, ())) for a in types}
    with pytest.raises(RunError, match="has no release 1999_01.*2024_01"):
        read_release_proteins(Store(release_store), "1999_01")


def test_empty_accession_list_selects_nothing():
    """A re-run whose release needs nothing re-attributed plans with ``accessions=()``: no protein, no
    shard (it used to raise ArrowTypeError: string vs null)."""
    table = _proteins(10)
    for where in (None, "length < 20"):
        empty = filter_proteins(table, where, accessions=())
        assert empty.num_rows == 0 and empty.column_names == table.column_names
        plan = make_plan(empty, 5)
        assert plan.shard_ids == [] and plan.total_proteins == 0
    assert filter_proteins(table, accessions=None).num_rows == 10
