"""The report on synthetic runs with known answers: a planted active-site head and a head that only
tracks residue identity (composition), against a control run without the planted signal."""

from __future__ import annotations

import pandas as pd
import pytest

from protxai_ray.report import build_report
from protxai_ray.report.analyses import significant_heads
from protxai_ray.report.build import control_comparison
from protxai_ray.stats import compute_stats
from protxai_ray.store.duck import connect
from tests.stats.synthetic import PLANTED_HEAD, PLANTED_LAYER, write_synthetic_run

ANNOTATIONS = ["active_site", "transmembrane"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("report") / "store")
    write_synthetic_run(uri, n_proteins=60, composition=True, seed=3, run_id="run-model")
    control = write_synthetic_run(
        uri, n_proteins=60, composition=True, seed=3, run_id="run-control", planted=False
    )
    for run_id in ("run-model", "run-control"):
        compute_stats(uri, run_id, annotations=ANNOTATIONS)
    return control.store


def test_control_comparison_separates_planted_signal_from_composition(runs):
    table = control_comparison(connect(runs), "run-model", "run-control", ANNOTATIONS).set_index(
        ["annotation", "test"]
    )
    # the planted head: found by r and by the composition-adjusted test in the model, not in the control
    # (aa also passes one noise head of EC 1 at aa_p_adj 0.047: BH controls the false discovery rate at 5 %)
    con = connect(runs)
    for test in ("r", "aa"):
        assert (PLANTED_LAYER, PLANTED_HEAD) in significant_heads(con, "run-model", "active_site", test)
        assert (PLANTED_LAYER, PLANTED_HEAD) not in significant_heads(con, "run-control", "active_site", test)
        row = table.loc[("active_site", test)]
        assert row.significant_heads >= 1 and row.control_significant_heads == 0 and row.jaccard == 0.0
    # the composition head is the same in both runs: r and the seed overlay find it in both (Jaccard 1),
    # the composition-adjusted test in neither (nothing to compare: n/a)
    for test in ("r", "overlay"):
        row = table.loc[("transmembrane", test)]
        assert row.significant_heads == row.control_significant_heads == 1 and row.jaccard == 1.0
    row = table.loc[("transmembrane", "aa")]
    assert row.significant_heads == row.control_significant_heads == 0 and pd.isna(row.jaccard)


def test_report_writes_every_section_and_figure(runs, tmp_path):
    index = build_report(connect(runs), "run-model", tmp_path / "out", control_run="run-control")
    page = index.read_text()
    for heading in (
        "Head-level enrichment",
        "Composition-adjusted head enrichment",
        "Seed overlay",
        "Control run",
    ):
        assert heading in page
    names = {path.name for path in (tmp_path / "out").glob("*.png")}
    for cls in ("EC_1", "EC_2"):
        for annotation in ANNOTATIONS:
            assert f"heatmap_{cls}_{annotation}.png" in names
            assert f"heatmap_aa_{cls}_{annotation}.png" in names
            assert f"heatmap_overlay_{cls}_{annotation}.png" in names
    assert "embedding_enrichment.png" in names and "pca_head_profiles.png" in names
