"""The report's "Attribution vs attention" section on a real small store: a synthetic attribution run,
its attention pseudo-run from a random-weight BERT (``protxai analyze --attention-run``), both through
``protxai stats``. Its numbers against a direct numpy/scipy computation from ``protein_head_scores`` and
``head_enrichment``, its place on the page, and the one-line errors (with commands that work)."""

from __future__ import annotations

import html
import re
import shlex
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from protxai_ray.cli import main
from protxai_ray.errors import RunError
from protxai_ray.report import build_report
from protxai_ray.report.attention import ATTENTION_METHOD, attention_comparison, spearman
from protxai_ray.stats import compute_stats
from protxai_ray.store.duck import connect
from tests.report.conftest import ANNOTATIONS, assert_report_loads_no_torch
from tests.stats.synthetic import write_synthetic_run

SOURCE, ATTENTION, OTHER = "run-src", "run-attn", "run-other"
LAYERS, HEADS = 3, 4  # the synthetic run's shape; the random model has the same, so every head pairs


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from protxai_ray.models.random_init import write_random_model

    return write_random_model(
        tmp_path_factory.mktemp("report_attention_model") / "model",
        num_layers=LAYERS,
        num_heads=HEADS,
        hidden=32,
        intermediate=64,
        label_names=["EC 1", "EC 2"],
        initializer_range=0.3,  # peaked attention: heads differ from each other
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, model_dir):
    """``run-src`` (40 proteins, planted active-site head), its attention run ``run-attn``, and
    ``run-other`` (same proteins, no planted signal), each with stats for ANNOTATIONS."""
    from protxai_ray.analyses.attention import attention_run

    uri = str(tmp_path_factory.mktemp("report_attention") / "store")
    source = write_synthetic_run(uri, n_proteins=40, composition=True, seed=5, run_id=SOURCE)
    write_synthetic_run(uri, n_proteins=40, composition=True, seed=5, run_id=OTHER, planted=False)
    attention_run(source.store, SOURCE, ATTENTION, model_dir, log=lambda _: None)
    for run_id in (SOURCE, ATTENTION, OTHER):
        compute_stats(uri, run_id, annotations=ANNOTATIONS)
    return source.store


def _direct(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per class × annotation × head and per cell, from the stats tables with numpy and scipy only."""
    scores = con.execute(
        "SELECT run_id, accession, annotation, layer, head, r FROM protein_head_scores WHERE run_id IN (?, ?)",
        [SOURCE, ATTENTION],
    ).df()
    classes = con.execute(
        "SELECT accession, target_name AS class FROM predictions WHERE run_id = ?", [SOURCE]
    ).df()
    keys = ["accession", "annotation", "layer", "head"]
    ours = scores[scores.run_id == SOURCE].drop(columns="run_id")
    theirs = scores[scores.run_id == ATTENTION].drop(columns="run_id")
    paired = ours.merge(theirs, on=keys, suffixes=("", "_att")).merge(classes, on="accession")
    enrichment = con.execute(
        "SELECT run_id, class, annotation, layer, head, significant FROM head_enrichment WHERE run_id IN (?, ?)",
        [SOURCE, ATTENTION],
    ).df()
    significant = {
        run_id: {
            (c, a, int(layer), int(head))
            for c, a, layer, head in frame.loc[
                frame.significant, ["class", "annotation", "layer", "head"]
            ].itertuples(index=False)
        }
        for run_id, frame in enrichment.groupby("run_id")
    }
    heads, cells = [], []
    for (cls, annotation), cell in paired.groupby(["class", "annotation"]):
        proteins = sorted(cell.accession.unique())  # every protein with a pair for any head, by accession
        rng = np.random.default_rng([0, zlib.crc32(f"{cls}\t{annotation}".encode())])
        idx = rng.integers(0, len(proteins), size=(2000, len(proteins)))
        means = {}
        for (layer, head), rows in cell.groupby(["layer", "head"]):
            d = np.full(len(proteins), np.nan)
            both = rows.r.notna() & rows.r_att.notna()
            d[[proteins.index(a) for a in rows.accession[both]]] = (rows.r - rows.r_att)[both]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                boots = np.nanmean(d[idx], axis=1)
            low, high = np.nanpercentile(boots, [2.5, 97.5])
            mean_r, attention_mean_r = rows.r[both].mean(), rows.r_att[both].mean()
            means[(int(layer), int(head))] = (mean_r, attention_mean_r)
            heads.append(
                {
                    "class": cls,
                    "annotation": annotation,
                    "layer": int(layer),
                    "head": int(head),
                    "n": int(both.sum()),
                    "mean_r": mean_r,
                    "attention_mean_r": attention_mean_r,
                    "mean_difference": np.mean(d[~np.isnan(d)]),
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        a, b = (np.array([m[i] for m in means.values()]) for i in (0, 1))
        rho = stats.spearmanr(a, b)
        mine = {k for k in significant.get(SOURCE, set()) if k[:2] == (cls, annotation)}
        other = {k for k in significant.get(ATTENTION, set()) if k[:2] == (cls, annotation)}
        cells.append(
            {
                "class": cls,
                "annotation": annotation,
                "significant": len(mine),
                "attention_significant": len(other),
                "both": len(mine & other),
                "spearman_rho": rho.statistic,
                "spearman_p": rho.pvalue,
            }
        )
    return pd.DataFrame(heads), pd.DataFrame(cells)


def test_the_comparison_matches_numpy_and_scipy(store):
    con = connect(store)
    compared = attention_comparison(con, SOURCE, ATTENTION, ANNOTATIONS, "received")
    heads, cells = _direct(con)
    key = ["class", "annotation", "layer", "head"]
    got = compared.heads.merge(heads, on=key, suffixes=("", "_direct"))
    assert len(got) == len(heads) == len(compared.heads) == 2 * len(ANNOTATIONS) * LAYERS * HEADS
    assert (got.n == got.n_direct).all()
    for column in ("mean_r", "attention_mean_r", "mean_difference", "ci_low", "ci_high"):
        assert np.allclose(got[column], got[f"{column}_direct"], rtol=0, atol=1e-12, equal_nan=True), column
    assert (got.ci_low <= got.mean_difference).all() and (got.mean_difference <= got.ci_high).all()
    by_cell = compared.cells.merge(cells, on=["class", "annotation"], suffixes=("", "_direct"))
    assert len(by_cell) == len(cells) == len(compared.cells) == 2 * len(ANNOTATIONS)
    for column in ("significant", "attention_significant", "both"):
        assert (by_cell[column] == by_cell[f"{column}_direct"]).all(), column
    assert np.allclose(by_cell.spearman_rho, by_cell.spearman_rho_direct, atol=1e-12)
    assert np.allclose(by_cell.spearman_p, by_cell.spearman_p_direct, atol=1e-12)
    # the planted active-site head is significant in the attribution run, not an artefact of attention
    assert by_cell.set_index("annotation").loc["active_site", "significant"].min() >= 1
    for c in compared.cells.itertuples(index=False):
        cell = compared.heads[(compared.heads["class"] == c[0]) & (compared.heads.annotation == c.annotation)]
        assert c.above_zero == (cell.ci_low > 0).sum() and c.below_zero == (cell.ci_high < 0).sum()
        assert c.heads == LAYERS * HEADS and c.n == cell.n.max()
        assert c.status == ("shown" if c.n >= 10 else "n < 10: not interpreted")
        assert list(cell.mean_difference) == sorted(cell.mean_difference, reverse=True)  # largest Δr first
    # 40 proteins: active_site in every protein (20 per class), transmembrane in every third (< 10 per class)
    status = compared.cells.set_index(["annotation", "class"]).status
    assert (status["active_site"] == "shown").all() and (status["transmembrane"] != "shown").all()


def test_spearman_is_scipys_over_the_finite_entries():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=12), rng.normal(size=12)
    b[3], a[7] = np.nan, np.inf
    ok = np.isfinite(a) & np.isfinite(b)
    expected = stats.spearmanr(a[ok], b[ok])
    assert spearman(a, b) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    ties = np.array([1.0, 1.0, 2.0, 3.0, 3.0])
    assert np.isclose(spearman(ties, ties[::-1])[0], stats.spearmanr(ties, ties[::-1]).statistic)
    assert all(np.isnan(spearman(np.ones(5), np.arange(5.0))))  # constant: no rank correlation
    assert all(np.isnan(spearman(np.arange(2.0), np.arange(2.0))))  # fewer than 3 heads


def test_the_method_name_is_the_analyses_one():
    from protxai_ray.analyses.attention import METHOD

    assert ATTENTION_METHOD == METHOD


def _section(page: str) -> str:
    return page[page.index("<h2 id='attention'>") :].split("<h2", 2)[1]


def _rows(html_table: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html_table.split("<tbody>")[1], re.S)
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in rows
    ]


def test_report_section_after_the_control_shows_the_numbers(store, tmp_path):
    con = connect(store)
    page = build_report(
        con, SOURCE, tmp_path / "out", store=store, control_run=OTHER, attention_run=ATTENTION
    ).read_text()
    marks = ["<table class='meta'>", "<nav>", "id='findings'", "id='control'", "id='attention'"]
    marks += ["id='faithfulness'", "id='accuracy'"]
    positions = [page.index(mark) for mark in marks]
    assert positions == sorted(positions)
    assert "href='#attention'>Attribution vs attention</a>" in page.split("</nav>")[0]
    assert "attention run" in page.split("<nav>")[0]  # the header says which attention run
    compared = attention_comparison(con, SOURCE, ATTENTION, ANNOTATIONS, "received")
    section = _section(page)
    assert "<code>received</code>" in section
    summary = _rows(re.search(r"<table class='attention'>(.*?)</table>", section, re.S).group(1))
    assert [(r[0], r[1]) for r in summary] == list(
        zip(compared.cells.annotation, compared.cells["class"], strict=True)
    )
    assert [r[0] for r in summary] == sorted((r[0] for r in summary), key=ANNOTATIONS.index)  # shown order
    for row, cell in zip(summary, compared.cells.itertuples(index=False), strict=True):
        assert row[2:7] == [
            str(v) for v in (cell.n, cell.heads, cell.significant, cell.attention_significant, cell.both)
        ]
        assert row[7] == f"{cell.spearman_rho:.2f} (p {cell.spearman_p:.2g})"
        assert row[8:] == [str(cell.above_zero), str(cell.below_zero), cell.status]
    # every head of a cell side by side, largest Δr first
    first = compared.heads[(compared.heads["class"] == "EC 1") & (compared.heads.annotation == "active_site")]
    table = section.split("<summary>active_site · EC 1: every head, largest Δr first</summary>")[1]
    heads = _rows(table.split("</table>")[0])
    assert len(heads) == LAYERS * HEADS
    for row, h in zip(heads, first.itertuples(index=False), strict=True):
        assert row[0] == f"L{h.layer} H{h.head}" and row[1] == str(h.n)
        assert row[2:4] == [f"{h.mean_r:.3f}", f"{h.attention_mean_r:.3f}"]
        assert row[4] == f"{h.mean_difference:.3f} [{h.ci_low:.3f}, {h.ci_high:.3f}]"
        assert row[5:] == ["✓" if h.significant else "–", "✓" if h.attention_significant else "–"]
    for anchor in set(re.findall(r"href='#([^']+)'", page)):
        assert f"id='{anchor}'" in page, anchor


def test_no_section_without_the_flag(store, tmp_path):
    page = build_report(connect(store), SOURCE, tmp_path / "out", store=store).read_text()
    assert "id='attention'" not in page and "attention run" not in page


def _error(store, tmp_path, run_id: str, attention: str) -> str:
    with pytest.raises(RunError) as caught:
        build_report(connect(store), run_id, tmp_path / "out", store=store, attention_run=attention)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_errors_name_the_fix(store, tmp_path):
    uri = store.uri
    message = _error(store, tmp_path, SOURCE, "run-missing")
    assert message.startswith("attention run 'run-missing' not found in the store")
    assert f"`protxai analyze --store {uri} --run {SOURCE} --attention-run run-missing`" in message
    message = _error(store, tmp_path, OTHER, ATTENTION)
    assert f"attention run '{ATTENTION}' was made from run '{SOURCE}', not from '{OTHER}'" in message
    assert f"--run {OTHER} --attention-run" in message
    message = _error(store, tmp_path, SOURCE, OTHER)
    assert message.startswith(f"run '{OTHER}' is not an attention run")
    with pytest.raises(ValueError, match="needs store"):
        build_report(connect(store), SOURCE, tmp_path / "out", attention_run=ATTENTION)


def test_no_stats_names_the_exact_stats_command_and_it_works(store, model_dir, tmp_path, capsys):
    from protxai_ray.analyses.attention import attention_run

    attention_run(store, SOURCE, "run-attn-bare", model_dir, log=lambda _: None)
    message = _error(store, tmp_path, SOURCE, "run-attn-bare")
    command = f"protxai stats --store {store.uri} --run run-attn-bare --annotations active_site,transmembrane"
    assert (
        message == f"attention run 'run-attn-bare' has no stats yet: run `{command}`, then the report again"
    )
    compute_stats(store, "run-attn-bare", annotations=["active_site"])  # one of the two shown
    message = _error(store, tmp_path, SOURCE, "run-attn-bare")
    assert message.startswith("attention run 'run-attn-bare' has no stats for transmembrane: run `")
    command = re.search(r"`(protxai stats [^`]+)`", message).group(1)
    assert main(shlex.split(command)[1:]) == 0  # the command as printed, through the CLI
    capsys.readouterr()
    page = build_report(connect(store), SOURCE, tmp_path / "out", store=store, attention_run="run-attn-bare")
    assert "id='attention'" in page.read_text()


def test_cli_report_attention_run(store, tmp_path, capsys):
    args = [
        "report",
        "--store",
        str(store.base),
        "--run",
        SOURCE,
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    assert main([*args, "--attention-run", ATTENTION]) == 0
    assert "id='attention'" in (tmp_path / "out" / "index.html").read_text()
    capsys.readouterr()
    assert main([*args, "--attention-run", "run-missing"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("protxai report: error: attention run 'run-missing' not found") and "\n" not in err
    assert main([*args, "--attention-run", "../x"]) == 2
    assert "--attention-run '../x': not a run id" in capsys.readouterr().err


def test_report_with_attention_never_imports_torch(store, tmp_path):
    assert_report_loads_no_torch(
        ["--store", str(store.base), "--run", SOURCE, "--attention-run", ATTENTION, "--out", str(tmp_path),
         "--no-progress"]
    )  # fmt: skip
    assert "id='attention'" in (tmp_path / "index.html").read_text()
