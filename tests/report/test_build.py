"""The report on synthetic runs with known answers (fixtures in conftest.py): what it lists as findings,
what it leaves out, its sections and figures, and that it never loads torch."""

from __future__ import annotations

import re
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest

from protxai_ray.report import build_report, data
from protxai_ray.report.analyses import significant_heads
from protxai_ray.report.build import control_comparison
from protxai_ray.report.data import MIN_N, findings, report_annotations
from protxai_ray.store.duck import connect
from tests.report.conftest import ANNOTATIONS, assert_report_loads_no_torch
from tests.stats.synthetic import COMPOSITION_HEAD, COMPOSITION_LAYER, PLANTED_HEAD, PLANTED_LAYER


def test_control_comparison_separates_planted_signal_from_composition(runs):
    table = control_comparison(connect(runs), "run-model", "run-control", ANNOTATIONS).set_index(
        ["annotation", "test"]
    )
    # the planted head: found by r and by the composition-adjusted test in the model, not in the control
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


def _findings_rows(page: str) -> list[list[str]]:
    table = re.search(r"<table class='findings'>(.*?)</table>", page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows
    ]


def test_findings_lead_the_page_with_effect_sizes_control_and_links(report):
    page = report.read_text()
    # the order a reader needs: the run, contents, findings, control, faithfulness, accuracy, figures
    marks = ["<table class='meta'>", "<nav>", "id='findings'", "id='control'", "id='faithfulness'"]
    marks += ["id='accuracy'", "id='heatmaps-r'", "id='tracks'"]
    positions = [page.index(mark) for mark in marks]
    assert positions == sorted(positions)
    for text in (
        "run-model",
        "2024_01",
        "synthetic",
        "3 layers × 4 heads",
        "tolerance 0.01",
        "1 of 60 proteins",
    ):
        assert text in page.split("<nav>")[0]
    rows = _findings_rows(page)
    planted = f"L{PLANTED_LAYER} H{PLANTED_HEAD}"
    composition = f"L{COMPOSITION_LAYER} H{COMPOSITION_HEAD}"
    by_head = {(r[0], r[1], r[2]): r for r in rows}
    for cls in ("EC 1", "EC 2"):
        row = by_head[("active_site", cls, planted)]
        assert int(row[3]) >= MIN_N and float(row[4]) > 0 and row[9] == "no"  # not in the control
    # the composition head is significant in the control too; EC 1 × transmembrane has n = 9 (its
    # unconverged protein is left out of the stats), so its significant head is not listed
    assert by_head[("transmembrane", "EC 2", composition)][9] == "yes"
    assert ("transmembrane", "EC 1", composition) not in by_head
    assert f"1 significant head(s) of cells with n &lt; {MIN_N}" in page or f"cells with n < {MIN_N}" in page
    assert all(float(r[4]) > 0 and int(r[3]) >= MIN_N for r in rows)
    # each head links to its tracks (drawn for the listed heads) and the anchors exist
    for anchor in set(re.findall(r"href='#([^']+)'", page)):
        assert f"id='{anchor}'" in page, anchor
    assert "href='#tracks-active_site'>" + planted in page
    assert "protxai analyze --store S --run run-model" in page  # no analyze tables: the hint


def test_findings_leave_out_negative_median_r_and_small_cells():
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE head_enrichment AS SELECT * FROM (VALUES
             ('r', 'A', 'motif', 0, 0, 20, 0.001, 0.5, false, false, true, true),
             ('r', 'A', 'motif', 0, 1, 20, 0.002, 0.5, false, false, true, true),
             ('r', 'A', 'active_site', 0, 0, 6, 0.01, 0.5, false, false, true, true),
             ('r', 'A', 'chain', 0, 0, 20, 0.001, 0.5, false, false, true, true))
           t(run_id, class, annotation, layer, head, n, p_adj, aa_p_adj, aa_significant, overlay,
             significant, testable)"""
    )
    con.execute(
        "CREATE TABLE predictions AS SELECT 'r' AS run_id, 'A' AS target_name, 'P' || i AS accession FROM range(3) s(i)"
    )
    rows = []
    for i in range(3):
        rows += [
            ("motif", 0, 0, 0.3),
            ("motif", 0, 1, -0.2 + 0.01 * i),
            ("active_site", 0, 0, 0.4),
            ("chain", 0, 0, 0.5),
        ]
    scores = pd.DataFrame(
        [("r", f"P{i // 4}", *row, 0.5) for i, row in enumerate(rows)],
        columns=["run_id", "accession", "annotation", "layer", "head", "r", "rra"],
    )
    con.register("protein_head_scores", scores)
    shown = report_annotations(con, "r")
    assert "chain" not in shown and shown == ["active_site", "motif"]  # the paper's defaults, in order
    found = findings(con, "r", shown)
    assert [(r.annotation, r.layer, r.head) for r in found.heads.itertuples()] == [("motif", 0, 0)]
    assert found.not_positive == 1 and found.small_n == 1
    status = found.cells.set_index("annotation")["status"]
    assert status["active_site"].startswith("n < 10") and status["motif"] == "shown"
    assert np.isclose(found.heads["median_r"].iloc[0], 0.3)


def test_small_cells_are_not_drawn(tmp_path):
    from protxai_ray.stats import compute_stats
    from tests.stats.synthetic import write_synthetic_run

    uri = str(tmp_path / "store")
    write_synthetic_run(uri, n_proteins=24, seed=1, run_id="small")  # transmembrane: 4 proteins per class
    compute_stats(uri, "small", annotations=ANNOTATIONS)
    index = build_report(connect(uri), "small", tmp_path / "out")
    page = index.read_text()
    assert "Not drawn (n &lt; 10): EC 1 · transmembrane (n = 4)" in page
    assert not list((tmp_path / "out").glob("heatmap*transmembrane*.png"))
    rows = _findings_rows(page) if "class='findings'" in page else []
    assert all(row[0] != "transmembrane" for row in rows)


def test_report_writes_every_section_and_figure(report):
    page = report.read_text()
    for heading in (
        "Head-level enrichment",
        "Composition-adjusted head enrichment",
        "Seed overlay",
        "Control run",
    ):
        assert heading in page
    out = report.parent
    names = {path.name for path in out.glob("*.png")}
    # every cell with n ≥ 10 in all three tests; EC 1 × transmembrane (n = 9) is not drawn
    for cls, annotation in (("EC_1", "active_site"), ("EC_2", "active_site"), ("EC_2", "transmembrane")):
        for prefix in ("heatmap", "heatmap_aa", "heatmap_overlay"):
            assert f"{prefix}_{cls}_{annotation}.png" in names
    assert (
        "embedding_enrichment.png" in names and "pca_head_profiles.png" in names and "head_error.png" in names
    )
    assert "faithfulness.png" not in names and "heatmap_EC_1_transmembrane.png" not in names
    for src in re.findall(r"<img src=['\"]([^'\"]+)['\"]", page):
        assert (out / src).is_file() and (out / src).stat().st_size > 1000, src


def test_faithfulness_section_is_drawn_from_the_analyze_tables(runs, tmp_path):
    import pyarrow as pa

    from protxai_ray.analyses.run import write_analysis_tables
    from protxai_ray.analyses.summary import summarize_drops

    rng = np.random.default_rng(0)
    drops = pd.DataFrame(
        [
            (f"P{p}", n, kind, d, rng.normal(n * (kind == "top"), 0.5))
            for p in range(12)
            for n in (1, 2, 4)
            for kind in ("top", "random")
            for d in range(10)
        ],
        columns=["accession", "n", "kind", "draw", "drop"],
    )
    summary = summarize_drops(drops).assign(
        run_id="run-control", confidence=0.95, replacement="composition", seed=0
    )
    write_analysis_tables(
        runs,
        "run-control",
        {
            "faithfulness_drops": pa.Table.from_pandas(drops.assign(run_id="run-control")),
            "faithfulness": pa.Table.from_pandas(summary),
        },
    )
    page = build_report(connect(runs), "run-control", tmp_path / "out", store=runs).read_text()
    section = page.split("id='faithfulness'>")[1].split("<h2")[0]
    assert "faithfulness.png" in section and "protxai analyze --store" not in section
    assert (tmp_path / "out" / "faithfulness.png").stat().st_size > 1000
    row = summary.iloc[-1]
    assert f"{row.diff_mean:.3g} [{row.diff_ci_low:.3g}, {row.diff_ci_high:.3g}]" in section
    assert "top-4 residues drop the target logit by" in page.split("<nav>")[0]


def test_report_never_imports_torch_or_the_models(runs, tmp_path):
    assert_report_loads_no_torch(["--store", str(runs.base), "--run", "run-model", "--out", str(tmp_path)])
    assert (tmp_path / "index.html").is_file()


@pytest.mark.parametrize("module", ["protxai_ray.report", "protxai_ray.commands.report"])
def test_importing_the_report_does_not_load_torch(module):
    code = (
        f"import sys, {module}; assert 'torch' not in sys.modules and 'protxai_ray.models' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode == 0


def test_control_section_shows_paired_effect_sizes(runs, tmp_path):
    """With ``protxai stats --control-run`` done, the control section leads with paired Δr intervals."""
    import shutil

    from protxai_ray.stats.compare import compare_runs

    store = str(tmp_path / "store")
    shutil.copytree(runs.uri, store)
    compare_runs(store, "run-model", "run-control", ["active_site"])
    con = connect(store)
    effects = data.effect_sizes(con, "run-model", "run-control", ["active_site"])
    first = effects.groupby("class").head(1)
    assert set(zip(first["layer"], first["head"], strict=True)) == {(PLANTED_LAYER, PLANTED_HEAD)}
    assert (first.ci_low > 0).all()
    page = build_report(
        con, "run-model", tmp_path / "out", store=store, control_run="run-control"
    ).read_text()
    section = page[page.index("id='control'") :]
    assert "mean_difference" in section and "Paired effect sizes not computed" not in page
