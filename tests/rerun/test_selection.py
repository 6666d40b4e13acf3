"""How a re-run finds its parent's selection from run manifests (no tables read unless needed)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from protxai_ray.errors import RunError
from protxai_ray.rerun.selection import Selection, recorded_selection, run_selection
from protxai_ray.store.manifest import RunManifest


def _root(where=None, accessions=None) -> RunManifest:
    return RunManifest(parent_run=None, inputs={"where": where, "accessions": accessions})


def _rerun(parent: str, selection: dict | None = None) -> RunManifest:
    return RunManifest(
        parent_run=parent,
        inputs={"where": None, "accessions": 3},
        rerun=None if selection is None else {"selection": selection},
    )


def _never(run_id, manifest):
    raise AssertionError(f"read the tables of {run_id}")


def test_where_is_inherited_down_a_chain_of_reruns():
    runs = {
        "root": _root("length <= 150"),
        "old": _rerun("root"),  # made before re-runs recorded their selection
        "new": _rerun("old", {"where": "length <= 150", "accessions": None}),
    }
    for run_id in runs:
        assert run_selection(runs, run_id, _never) == Selection(where="length <= 150")
    assert run_selection({"all": _root()}, "all", _never).everything


def test_accession_list_is_what_the_root_run_holds():
    runs = {"root": _root(accessions=5), "old": _rerun("root")}
    held = {"root": {"P2", "P1"}}
    got = run_selection(runs, "old", lambda rid, m: held[rid])
    assert got == Selection(accessions=("P1", "P2")) and recorded_selection(runs["root"]) is None
    # an old re-run whose parent is gone: the proteins it holds
    assert run_selection({"old": _rerun("gone")}, "old", lambda rid, m: {"Q1"}) == Selection(
        accessions=("Q1",)
    )


def test_signature_apply_and_describe():
    a = Selection.from_dict({"where": "length < 3", "accessions": ["B", "A", "A"]})
    assert a.accessions == ("A", "B") and a.signature() == Selection("length < 3", ("A", "B")).signature()
    assert a.signature() != Selection("length < 3").signature()
    assert Selection.from_dict(a.as_dict()) == a
    assert a.describe() == "--where 'length < 3' and 2 listed accessions"
    table = pa.table({"accession": ["A", "B", "C"], "length": pa.array([2, 5, 1], pa.int32())})
    assert a.apply(table)["accession"].to_pylist() == ["A"]
    with pytest.raises(RunError, match="selection"):
        Selection(where="1=1; COPY proteins TO 'x'").apply(table)
