"""BH families that do not depend on what else the store holds, evidence-restricted annotations
(``T:experimental`` / ``T:predicted``) and the ``signal`` negative control, on a synthetic store whose
release is re-ingested with extra features (a newer entry version of every protein)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from protxai_ray.stats import compute_stats
from protxai_ray.store.releases import ReleaseRows, write_release
from protxai_ray.store.schemas import ANNOTATIONS
from tests.stats.synthetic import write_synthetic_run

TESTED = ["active_site", "binding_site", "transmembrane"]
CONTROLS = {"hydrophobic", "positive", "tm_hydrophobic", "tm_positive"}


def _reingest(run, extra: list[dict], evidence=None) -> None:
    """Ingest every protein again as entry version 2 with its features plus ``extra`` (and, given
    ``evidence``: accession → code, the transmembrane features' evidence)."""
    annotations = run.annotations
    if evidence is not None:
        codes = [
            evidence.get(acc) if kind == "transmembrane" else None
            for acc, kind in zip(
                annotations.column("accession").to_pylist(),
                annotations.column("feature_type").to_pylist(),
                strict=True,
            )
        ]
        annotations = annotations.set_column(
            annotations.schema.get_field_index("evidence"),
            ANNOTATIONS.field("evidence"),
            pa.array(codes, pa.string()),
        )
    rows = [{"release": run.release, **row} for row in extra]
    annotations = pa.concat_tables([annotations, pa.Table.from_pylist(rows, schema=ANNOTATIONS)])
    proteins = run.proteins.set_column(
        run.proteins.schema.get_field_index("entry_version"),
        "entry_version",
        pa.array([2] * run.proteins.num_rows, pa.int32()),
    )
    write_release(
        run.store,
        run.release,
        ReleaseRows(proteins, annotations, ["test"] * proteins.num_rows, proteins.num_rows),
    )


def _extra(run, kind: str, first: int, last: int, every: int = 1) -> list[dict]:
    return [
        {"accession": acc, "feature_type": kind, "start": first, "end": last}
        for i, acc in enumerate(run.proteins.column("accession").to_pylist())
        if i % every == 0
    ]


def _residue(summary) -> dict[tuple[str, str], dict]:
    return {(r["class"], r["annotation"]): r for r in summary.tables["residue_enrichment"].to_pylist()}


def test_restricted_family_ignores_unrelated_annotations_and_default_family_is_every_type_tested(tmp_path):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=24, seed=0)
    before = compute_stats(run.store.uri, run.run_id, annotations=TESTED)
    _reingest(run, _extra(run, "zinc_finger", 2, 12) + _extra(run, "coiled_coil", 20, 30, every=2))
    after = compute_stats(run.store.uri, run.run_id, annotations=TESTED)
    old, new = _residue(before), _residue(after)
    assert set(old) == set(new) and len(old) == 2 * len(TESTED)
    for key, row in old.items():  # residue level (family: class) and heads (class x annotation) unchanged
        assert (new[key]["p"], new[key]["p_adj"], new[key]["aa_p_adj"]) == (
            row["p"],
            row["p_adj"],
            row["aa_p_adj"],
        )
    assert (
        before.tables["head_enrichment"]
        .column("p_adj")
        .equals(after.tables["head_enrichment"].column("p_adj"))
    )

    # no restriction: every feature type on the run's proteins plus the sequence controls is tested, and
    # the residue-level family of class c is exactly the testable ones of them in c
    everything = compute_stats(run.store.uri, run.run_id)
    assert set(everything.annotations) == {*TESTED, "zinc_finger", "coiled_coil", *CONTROLS}
    rows = everything.tables["residue_enrichment"].to_pylist()
    for cls in ("EC 1", "EC 2"):
        family = [r for r in rows if r["class"] == cls and r["testable"]]
        assert {r["annotation"] for r in family} >= {"active_site", "zinc_finger", "hydrophobic"}
        expected = stats.false_discovery_control([r["p"] for r in family], method="bh")
        assert [r["p_adj"] for r in family] == pytest.approx(list(expected), rel=1e-12)
        untestable = [r for r in rows if r["class"] == cls and not r["testable"]]
        assert all(r["p_adj"] is None for r in untestable)  # not hypotheses of the family
    # and per head the family stays class x annotation: the same heads, the same p_adj as restricted
    heads = everything.tables["head_enrichment"]
    active = heads.filter(pc.equal(heads["annotation"], "active_site"))
    restricted = after.tables["head_enrichment"].filter(
        pc.equal(after.tables["head_enrichment"]["annotation"], "active_site")
    )
    assert active.column("p_adj").equals(restricted.column("p_adj"))


def test_signal_is_a_flagged_negative_control_with_its_own_family(tmp_path):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=24, seed=0)
    without = compute_stats(run.store.uri, run.run_id, annotations=["active_site", "transmembrane"])
    assert "signal" not in without.annotations  # not present: not tested
    _reingest(run, _extra(run, "signal", 1, 18, every=2))
    summary = compute_stats(run.store.uri, run.run_id, annotations=["active_site", "transmembrane"])
    assert summary.annotations == ["active_site", "transmembrane", "signal"]  # tested although not asked
    assert any("'signal' is tested as a negative control" in note for note in summary.notes)
    for table in ("head_enrichment", "residue_enrichment"):
        rows = summary.tables[table].to_pylist()
        signal = [r for r in rows if r["annotation"] == "signal"]
        assert signal and all(r["note"].endswith("negative control") for r in signal)
        assert all(
            r["note"] is None or "negative control" not in r["note"]
            for r in rows
            if r["annotation"] != "signal"
        )
    testable = [r for r in summary.tables["residue_enrichment"].to_pylist() if r["annotation"] == "signal"]
    assert all(r["p_adj"] == r["p"] for r in testable if r["testable"])  # a family of its own (one per class)
    old, new = _residue(without), _residue(summary)
    for key, row in old.items():  # the requested annotations' p_adj are not touched by the control
        assert new[key]["p_adj"] == row["p_adj"]
    off = compute_stats(run.store.uri, run.run_id, annotations=["active_site"], negative_controls=())
    assert off.annotations == ["active_site"]


def test_evidence_restricted_annotations(tmp_path):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=24, seed=0)
    accessions = run.proteins.column("accession").to_pylist()
    # transmembrane on every third protein: experimental, predicted (two codes), or no evidence in turn
    tm = [a for i, a in enumerate(accessions) if i % 3 == 0]
    evidence = {}
    for i, accession in enumerate(tm):
        evidence[accession] = ["ECO:0000269", "ECO:0000255,ECO:0000305", None][i % 3]
    evidence[tm[-1]] = "ECO:0000255,ECO:0000269"  # any experimental code makes a feature experimental
    _reingest(run, [], evidence=evidence)
    names = ["transmembrane", "transmembrane:experimental", "transmembrane:predicted"]
    summary = compute_stats(run.store.uri, run.run_id, annotations=names)
    scores = summary.tables["protein_residue_scores"].to_pylist()
    found = {name: {r["accession"] for r in scores if r["annotation"] == name} for name in names}
    assert found["transmembrane"] == set(tm)
    assert found["transmembrane:experimental"] == {a for a, e in evidence.items() if e and "ECO:0000269" in e}
    assert found["transmembrane:predicted"] == {
        a for a, e in evidence.items() if e == "ECO:0000255,ECO:0000305"
    }
    sizes = {(r["accession"], r["annotation"]): r["n_annotated"] for r in scores}
    for accession in found["transmembrane:experimental"]:
        assert sizes[(accession, "transmembrane:experimental")] == sizes[(accession, "transmembrane")]
    # the unrestricted default does not add evidence-restricted types
    assert not any(":" in name for name in compute_stats(run.store.uri, run.run_id).annotations)
