"""End to end on a synthetic local store: planted signal found, noise not, tables written and readable
through the store views, the CLI, and the clear errors / not-testable cells of issue 6."""

from __future__ import annotations

import math

import pytest

from protxai_ray.cli import main
from protxai_ray.errors import RunError
from protxai_ray.stats import compute_stats
from protxai_ray.store.duck import connect
from tests.stats.synthetic import (
    COMPOSITION_HEAD,
    COMPOSITION_LAYER,
    PLANTED_HEAD,
    PLANTED_LAYER,
    write_synthetic_run,
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic_run(
        str(tmp_path_factory.mktemp("stats") / "store"), n_proteins=24, seed=0
    )  # fixed data: no chance false positive


def test_planted_head_is_significant_and_noise_is_not(synthetic):
    summary = compute_stats(
        synthetic.store.uri, synthetic.run_id, annotations=["active_site", "binding_site"]
    )
    heads = summary.tables["head_enrichment"].to_pylist()
    active = [row for row in heads if row["annotation"] == "active_site"]
    planted = [row for row in active if (row["layer"], row["head"]) == (PLANTED_LAYER, PLANTED_HEAD)]
    assert len(planted) == 2 and all(row["significant"] and row["p_adj"] < 0.05 for row in planted)
    assert all(row["t_p_adj"] < 0.05 for row in planted)  # the t-test overlay agrees
    # planted on random residues: composition does not explain it (its summed relevance is mostly noise:
    # the positivity half of the seed's overlay is not significant here)
    assert all(row["aa_significant"] and row["aa_p_adj"] < 0.05 for row in planted)
    noise = [row for row in active if (row["layer"], row["head"]) != (PLANTED_LAYER, PLANTED_HEAD)]
    assert noise and not any(row["significant"] or row["overlay"] for row in noise)
    for cls in ("EC 1", "EC 2"):  # (one noise cell of these 12 × 12 draws reaches aa_p_adj 0.048: BH at 5 %)
        best = min((r for r in active if r["class"] == cls), key=lambda r: (r["aa_p_adj"], r["aa_p"]))
        assert (best["layer"], best["head"]) == (PLANTED_LAYER, PLANTED_HEAD)
    assert summary.top_heads["active_site"][0]["layer"] == PLANTED_LAYER
    assert summary.significant[("EC 1", "active_site")] == 1
    # the embedding carries the same planted signal
    residue = {(r["class"], r["annotation"]): r for r in summary.tables["residue_enrichment"].to_pylist()}
    assert residue[("EC 1", "active_site")]["p_adj"] < 0.05
    assert residue[("EC 1", "binding_site")]["p_adj"] > 0.05
    # binding sites only on even proteins = class EC 1: EC 2 cells are listed but not testable
    untestable = [row for row in heads if row["annotation"] == "binding_site" and row["class"] == "EC 2"]
    assert untestable and all(not r["testable"] and r["p"] is None and r["n"] == 0 for r in untestable)
    assert any("binding_site" in note and "EC 2" in note for note in summary.notes)
    # positivity is per head and class, BH over the 12 heads of each class
    positivity = summary.tables["head_positivity"]
    assert positivity.num_rows == 2 * 12 and all(positivity["testable"].to_pylist())


def test_composition_adjusted_test_rejects_a_residue_identity_head(tmp_path):
    """A head whose relevance depends only on the amino acid correlates with hydrophobic transmembrane
    ranges (r significant) but not beyond composition (r_aa_adjusted not significant)."""
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=60, composition=True, seed=3)
    summary = compute_stats(run.store.uri, run.run_id, annotations=["transmembrane", "hydrophobic"])
    rows = {
        (r["class"], r["annotation"], r["layer"], r["head"]): r
        for r in summary.tables["head_enrichment"].to_pylist()
    }
    for cls in ("EC 1", "EC 2"):
        tm = rows[(cls, "transmembrane", COMPOSITION_LAYER, COMPOSITION_HEAD)]
        assert tm["significant"] and tm["n"] == 10  # every third protein has a transmembrane range
        assert tm["testable"] and not tm["aa_significant"] and tm["aa_p_adj"] > 0.05
        assert tm["overlay"]  # the seed's overlay (positive relevance and r > 0) is fooled as well
        # the hydrophobic control is itself a function of residue identity: no partial r at all
        hydrophobic = rows[(cls, "hydrophobic", COMPOSITION_LAYER, COMPOSITION_HEAD)]
        assert hydrophobic["significant"] and hydrophobic["aa_n"] == 0 and hydrophobic["aa_p"] is None
    scores = summary.tables["protein_head_scores"].to_pandas()
    tm_scores = scores[(scores.annotation == "transmembrane") & (scores.layer == COMPOSITION_LAYER)]
    tm_scores = tm_scores[tm_scores["head"] == COMPOSITION_HEAD]
    assert tm_scores.r.median() > 0.3 and abs(tm_scores.r_aa_adjusted.median()) < 0.1


def test_tables_are_written_and_replace_earlier_stats(synthetic):
    first = compute_stats(synthetic.store.uri, synthetic.run_id, annotations=["active_site"])
    assert {path.split("/")[3] for path in first.written} == {
        "protein_head_scores",
        "protein_residue_scores",
        "head_enrichment",
        "residue_enrichment",
        "head_positivity",
    }
    base = f"runs/run_id={synthetic.run_id}/stats/head_enrichment"
    synthetic.store.write_bytes_atomic(
        f"{base}/stale.parquet", synthetic.store.read_bytes(f"{base}/part-0.parquet")
    )
    compute_stats(synthetic.store.uri, synthetic.run_id, annotations=["active_site", "hydrophobic"])
    assert synthetic.store.list(base) == [f"{base}/part-0.parquet"]
    con = connect(synthetic.store)
    annotations = con.execute(
        "SELECT DISTINCT annotation FROM head_enrichment WHERE run_id = ? ORDER BY 1", [synthetic.run_id]
    ).fetchall()
    assert annotations == [("active_site",), ("hydrophobic",)]
    n_scores = con.execute("SELECT count(*) FROM protein_head_scores").fetchone()[0]
    assert (
        n_scores
        == con.execute(
            "SELECT count(*) * 12 FROM (SELECT DISTINCT accession, annotation FROM protein_residue_scores)"
        ).fetchone()[0]
    )


def test_cli_prints_summary_and_errors(synthetic, capsys):
    assert (
        main(
            [
                "stats",
                "--store",
                synthetic.store.uri,
                "--run",
                synthetic.run_id,
                "--annotations",
                "active_site,motif",
                "--classes",
                "EC 1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "top heads for active_site: class=EC 1" in out and f"layer={PLANTED_LAYER} head={PLANTED_HEAD}" in out
    assert "annotation 'motif': no protein of the run has it (not testable)" in out
    assert len(out.splitlines()) <= 12 and "stats tables under runs/run_id=" in out
    assert main(["stats", "--store", synthetic.store.uri, "--run", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert "run 'no-such-run' not found" in err and synthetic.run_id in err
    assert (
        main(["stats", "--store", synthetic.store.uri, "--run", synthetic.run_id, "--classes", "EC 9"]) == 2
    )
    assert "EC 9" in capsys.readouterr().err


def test_run_without_heads_is_a_clear_error(tmp_path):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=4, with_heads=False)
    with pytest.raises(RunError, match="has no head relevance"):
        compute_stats(run.store.uri, run.run_id)


def test_class_with_one_protein_is_not_testable(tmp_path):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=5, classes=("EC 1", "EC 2", "EC 3", "EC 4"))
    summary = compute_stats(connect(run.store), run.run_id, annotations=["hydrophobic"])
    rows = summary.tables["head_positivity"].to_pylist()
    single = [row for row in rows if row["class"] in ("EC 2", "EC 3", "EC 4")]
    assert single and all(not r["testable"] and r["note"] == "n < 2" and r["p"] is None for r in single)
    assert all(r["p_adj"] is None or not math.isnan(r["p_adj"]) for r in rows)
    assert any("EC 2" in note and "< 2" in note for note in summary.notes)
    assert summary.written == []  # a bare connection: nothing written without a store


def test_saved_queries_run_on_the_written_tables(synthetic):
    from protxai_ray.stats.saved_queries import saved_queries, saved_query

    compute_stats(synthetic.store.uri, synthetic.run_id, annotations=["active_site", "binding_site"])
    con = connect(synthetic.store)
    params = {
        "run_id": synthetic.run_id,
        "annotation": "active_site",
        "layer": PLANTED_LAYER,
        "head": PLANTED_HEAD,
    }
    results = {name: con.execute(saved_query(name, **params)).fetchall() for name in saved_queries()}
    assert results["top_heads_for_annotation"][0][1:3] == (PLANTED_LAYER, PLANTED_HEAD)
    assert len(results["proteins_most_aligned_with_annotation"]) == 20
    assert results["proteins_most_aligned_with_annotation"][0][2] > 0.3  # planted head: high r on top
    assert {row[0] for row in results["embedding_enrichment_per_class"]} == {"EC 1", "EC 2"}
    assert sum(row[2] for row in results["significant_heads_per_layer"]) == 2
    with pytest.raises(KeyError, match="no saved query"):
        saved_query("nope")


def test_proteins_above_the_runs_tolerance_are_left_out_and_named(tmp_path, capsys):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=24, tolerance=0.01, unconverged=3)
    summary = compute_stats(run.store.uri, run.run_id, annotations=["active_site"])
    bad = sorted(run.predictions.column("accession").to_pylist()[:3])
    assert summary.tolerance == 0.01 and sorted(a for a, _ in summary.excluded) == bad
    assert all(error == pytest.approx(0.05) for _, error in summary.excluded)
    assert summary.proteins == 21
    scored = summary.tables["protein_head_scores"].column("accession").to_pylist()
    assert not set(bad) & set(scored)
    everything = compute_stats(run.store.uri, run.run_id, annotations=["active_site"], include_unconverged=True)
    assert everything.proteins == 24 and everything.excluded == []
    assert any("above the head-error tolerance" in note for note in everything.notes)
    assert main(["stats", "--store", run.store.uri, "--run", run.run_id, "--annotations", "active_site"]) == 0
    out = capsys.readouterr().out
    assert f"excluded 3 protein(s) with head error above the run's tolerance 0.01: {bad[0]}" in out
