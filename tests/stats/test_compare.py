"""Trained vs control (``compare_runs``): paired per-head differences of r with percentile bootstrap CIs,
checked against a direct numpy computation with the same seed."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from protxai_ray.errors import RunError
from protxai_ray.stats import compute_stats
from protxai_ray.stats.compare import bootstrap_means, compare_runs, resample_counts
from protxai_ray.store.duck import connect
from tests.stats.synthetic import PLANTED_HEAD, PLANTED_LAYER, write_synthetic_run

TRAINED, CONTROL = "run-trained", "run-control"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two runs on the same proteins: the planted active-site head, and the same noise without it."""
    uri = str(tmp_path_factory.mktemp("compare") / "store")
    trained = write_synthetic_run(uri, n_proteins=24, seed=0, run_id=TRAINED)
    write_synthetic_run(uri, n_proteins=24, seed=0, run_id=CONTROL, planted=False)
    for run_id in (TRAINED, CONTROL):
        compute_stats(uri, run_id, annotations=["active_site"], negative_controls=())
    return trained.store


def _paired_differences(store, cls: str, layer: int, head: int) -> np.ndarray:
    """d = r(trained) − r(control) of one head, proteins sorted by accession (the direct computation)."""
    rows = (
        connect(store)
        .execute(
            """SELECT s.accession, s.r - c.r
               FROM protein_head_scores AS s
               JOIN protein_head_scores AS c USING (accession, annotation, layer, head)
               JOIN predictions AS p ON p.accession = s.accession AND p.run_id = s.run_id
               WHERE s.run_id = ? AND c.run_id = ? AND s.annotation = 'active_site'
                 AND p.target_name = ? AND s.layer = ? AND s.head = ?
               ORDER BY s.accession""",
            [TRAINED, CONTROL, cls, layer, head],
        )
        .fetchall()
    )
    return np.array([d for _, d in rows])


def test_bootstrap_ci_equals_direct_numpy_with_the_same_seed(pair):
    result = compare_runs(pair.uri, TRAINED, CONTROL, resamples=1000, seed=7)
    assert result.written == [f"runs/run_id={TRAINED}/stats/head_comparison/control-{CONTROL}.parquet"]
    rows = {(r["class"], r["layer"], r["head"]): r for r in result.table.to_pylist()}
    assert len(rows) == 2 * 12 and result.proteins == 24
    for cls in ("EC 1", "EC 2"):
        d = _paired_differences(pair, cls, PLANTED_LAYER, PLANTED_HEAD)
        rng = np.random.default_rng([7, zlib.crc32(f"{cls}\tactive_site".encode())])
        idx = rng.integers(0, len(d), size=(1000, len(d)))
        low, high = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
        row = rows[(cls, PLANTED_LAYER, PLANTED_HEAD)]
        assert row["n"] == len(d) == 12
        assert row["mean_difference"] == pytest.approx(d.mean(), rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)
        assert row["mean_r"] - row["control_mean_r"] == pytest.approx(row["mean_difference"], abs=1e-12)
        assert row["ci_low"] > 0.2  # the planted head gains r over the control
        assert row["resamples"] == 1000 and row["seed"] == 7 and row["confidence"] == 0.95
    # every other head has the same relevance in both runs: difference 0 with a zero-width interval (up to
    # the last bits of DuckDB's parallel sums, whose order depends on thread scheduling)
    others = [r for key, r in rows.items() if key[1:] != (PLANTED_LAYER, PLANTED_HEAD)]
    for r in others:
        assert max(abs(r["mean_difference"]), abs(r["ci_low"]), abs(r["ci_high"])) < 1e-12
    # same seed → same table; another seed → another interval, same point estimate
    again = compare_runs(connect(pair), TRAINED, CONTROL, resamples=1000, seed=7)
    assert again.table.equals(result.table) and again.written == []
    other = compare_runs(connect(pair), TRAINED, CONTROL, resamples=1000, seed=8).table.to_pylist()
    planted = [
        r for r in other if (r["class"], r["layer"], r["head"]) == ("EC 1", PLANTED_LAYER, PLANTED_HEAD)
    ]
    ec1 = rows[("EC 1", PLANTED_LAYER, PLANTED_HEAD)]
    assert planted[0]["mean_difference"] == ec1["mean_difference"] and planted[0]["ci_low"] != ec1["ci_low"]


def test_written_comparison_is_a_store_view(pair):
    compare_runs(pair.uri, TRAINED, CONTROL, resamples=1000)
    con = connect(pair)
    best = con.execute(
        "SELECT layer, head FROM head_comparison WHERE run_id = ? AND control_run_id = ? AND class = 'EC 1' "
        "ORDER BY ci_low DESC LIMIT 1",
        [TRAINED, CONTROL],
    ).fetchone()
    assert best == (PLANTED_LAYER, PLANTED_HEAD)


def test_missing_values_resample_the_proteins_that_have_one():
    """A head with a NULL r for some protein: each resample's mean is over its drawn proteins with a value."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(9, 3))
    values[[0, 4], 1] = np.nan
    counts = resample_counts(np.random.default_rng(5), 9, 1000)
    n, mean, low, high = bootstrap_means(values, counts, 0.9)
    idx = np.random.default_rng(5).integers(0, 9, size=(1000, 9))
    for column in range(3):
        drawn = values[idx, column]
        means = np.nanmean(drawn, axis=1)
        assert (low[column], high[column]) == pytest.approx(tuple(np.percentile(means, [5, 95])), rel=1e-12)
        assert n[column] == np.sum(~np.isnan(values[:, column]))
        assert mean[column] == pytest.approx(np.nanmean(values[:, column]))
    one = bootstrap_means(values[:1], resample_counts(np.random.default_rng(0), 1, 1000), 0.95)
    assert np.isnan(one[2]).all() and np.isnan(one[3]).all()  # n < 2: no interval


def test_clear_errors(pair, tmp_path):
    with pytest.raises(ValueError, match="resamples"):
        compare_runs(pair.uri, TRAINED, CONTROL, resamples=100)
    with pytest.raises(RunError, match="compared with itself"):
        compare_runs(pair.uri, TRAINED, TRAINED)
    with pytest.raises(RunError, match="no protein_head_scores"):
        compare_runs(pair.uri, TRAINED, "run-unknown")
    result = compare_runs(pair.uri, TRAINED, CONTROL, annotations=["active_site", "motif"])
    assert any("motif" in note for note in result.notes)


def test_stats_command_compares_with_a_control(pair, capsys):
    from protxai_ray.cli import main

    args = ["stats", "--store", pair.uri, "--run", TRAINED, "--annotations", "active_site"]
    assert main([*args, "--control-run", CONTROL]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("  EC 1 × active_site:"))
    assert f"L{PLANTED_LAYER}H{PLANTED_HEAD} " in line  # the planted head's Δr interval lies above 0
    assert f"vs control {CONTROL}: 24 paired proteins" in out
    assert main([*args, "--control-run", "../x"]) == 2
