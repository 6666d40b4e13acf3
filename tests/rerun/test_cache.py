"""The cache plan (pure function) on hand-made tables: what hits, what is recomputed, and why."""

from __future__ import annotations

import pyarrow as pa

from protxai_ray.rerun.cache import RunKey, plan_reuse
from protxai_ray.rerun.reuse import _remap
from protxai_ray.store.schemas import RESIDUES

KEY = RunKey(model_sha256="ab" * 32, target="label", method='{"steps": 4}')
LABELS = {"EC3": 1, "GO:0016020": 2}


def resolve(ec: list[str], go: list[str], feature_types: list[str]) -> int | None:
    if "transmembrane" in feature_types:
        go = [*go, "GO:0016020"]
    for term in [*(f"EC{e.split('.')[0]}" for e in ec), *go]:
        if term in LABELS:
            return LABELS[term]
    return 0


def proteins(rows: list[tuple[str, str, list[str], list[str]]]) -> pa.Table:
    acc, crc, ec, go = zip(*rows, strict=True)
    return pa.table({"accession": acc, "crc64": crc, "ec": ec, "go": go})


PARENT_PREDICTIONS = pa.table(
    {
        "accession": ["P1", "P2", "P3", "P4"],
        "crc64": ["C1", "C2", "C3", "C4"],
        "target_index": pa.array([1, 2, 0, 0], pa.int16()),
    }
)
PARENT_FAILURES = pa.table({"accession": ["LONG1", "LONG2"], "crc64": ["CL1", "CL2"]})
PREVIOUS = proteins(
    [
        ("P1", "C1", ["3.4.1.1"], []),
        ("P2", "C2", [], ["GO:0016020"]),
        ("P3", "C3", [], []),
        ("P4", "C4", [], []),
        ("LONG1", "CL1", [], []),
        ("LONG2", "CL2", [], []),
    ]
)
NEW = proteins(
    [
        ("P1", "C1", ["3.4.1.1"], ["GO:0005634"]),  # GO edit, class still EC3: hit
        ("P2", "C2", [], []),  # lost its membrane GO: class 2 -> 0: recompute
        ("P3", "C3x", [], []),  # sequence changed: recompute
        ("P5", "C4", [], []),  # new accession with P4's sequence and class: hit under P4's rows
        ("LONG1", "CL1", [], ["GO:0005634"]),  # failed before, same sequence and class: failure kept
        ("LONG2", "CL2", ["3.1.1.1"], []),  # failed before, but its class changed: try again
        ("P6", "C6", [], []),  # new: recompute
    ]
)


def test_label_target_recomputes_sequence_and_class_changes_only():
    plan = plan_reuse(KEY, KEY, NEW, PARENT_PREDICTIONS, PARENT_FAILURES, PREVIOUS, resolve)
    assert plan.reuse == {"P1": "P1", "P5": "P4"}
    assert plan.reuse_failures == {"LONG1": "LONG1"}
    assert plan.attribute == ["LONG2", "P2", "P3", "P6"]
    # P1's GO edit is an EC/GO change of the release but not of this model's label: not counted
    assert plan.reasons == {
        "LONG2": "label_changed",
        "P2": "label_changed",
        "P3": "sequence_changed",
        "P6": "new",
    }
    assert plan.reason_counts() == {
        "new": 1,
        "sequence_changed": 1,
        "label_changed": 2,
        "newly_selected": 0,
        "model_changed": 0,
    }


def test_feature_types_decide_the_label_and_unheld_proteins_are_newly_selected():
    """A transmembrane region gained (no EC/GO edit at all) moves P3 to the membrane class; P7, in the
    parent's release with the same sequence but not held by the parent run (its selection did not
    match then), is newly selected; Q1, same sequence as a held protein but new, reuses its rows."""
    previous = pa.table(
        {
            "accession": ["P3", "P7"],
            "crc64": ["C3", "C7"],
            "ec": [[], []],
            "go": [[], []],
            "feature_types": [[], ["transmembrane"]],
        }
    )
    new = pa.table(
        {
            "accession": ["P3", "P7", "Q1"],
            "crc64": ["C3", "C7", "C3"],
            "ec": [[], [], []],
            "go": [[], [], []],
            "feature_types": [["transmembrane"], ["transmembrane"], []],
        }
    )
    plan = plan_reuse(KEY, KEY, new, PARENT_PREDICTIONS, PARENT_FAILURES, previous, resolve)
    assert plan.reuse == {"Q1": "P3"}
    assert plan.reasons == {"P3": "label_changed", "P7": "newly_selected"}


def test_argmax_target_ignores_label_changes():
    key = RunKey(KEY.model_sha256, "argmax", KEY.method)
    plan = plan_reuse(key, key, NEW, PARENT_PREDICTIONS, PARENT_FAILURES, PREVIOUS, None)
    assert plan.reuse == {"P1": "P1", "P2": "P2", "P5": "P4"}
    assert plan.reuse_failures == {"LONG1": "LONG1", "LONG2": "LONG2"}
    assert plan.attribute == ["P3", "P6"]


def test_changed_weights_or_method_mean_no_hits():
    for current in (
        RunKey("cd" * 32, KEY.target, KEY.method),
        RunKey(KEY.model_sha256, KEY.target, '{"steps": 8}'),
    ):
        plan = plan_reuse(KEY, current, NEW, PARENT_PREDICTIONS, PARENT_FAILURES, PREVIOUS, resolve)
        assert plan.reuse == {} and plan.reuse_failures == {}
        assert plan.attribute == sorted(NEW["accession"].to_pylist())
        assert set(plan.reasons.values()) == {"model_changed"} and len(plan.reasons) == len(plan.attribute)


def test_remap_copies_rows_under_new_run_and_accession():
    rows = pa.table(
        {
            "run_id": ["old"] * 5,
            "accession": ["P4", "P4", "P1", "P1", "P9"],
            "crc64": ["C4", "C4", "C1", "C1", "C9"],
            "position": pa.array([1, 0, 0, 1, 0], pa.int32()),
            "residue": ["M", "<start>", "<start>", "M", "<start>"],
            "relevance": pa.array([0.5, 0.1, 0.2, 0.3, 0.9], pa.float32()),
        },
        schema=RESIDUES,
    )
    out = _remap(rows, {"P1": "P1", "P5": "P4", "P4": "P4"}, "new", ["accession", "position"])
    assert out.column("run_id").to_pylist() == ["new"] * 6
    assert list(zip(out["accession"].to_pylist(), out["position"].to_pylist(), strict=True)) == [
        ("P1", 0),
        ("P1", 1),
        ("P4", 0),
        ("P4", 1),
        ("P5", 0),
        ("P5", 1),
    ]
    assert out.filter(pa.compute.equal(out["accession"], "P5"))["relevance"].to_pylist() == [
        pa.scalar(0.1, pa.float32()).as_py(),
        0.5,
    ]
