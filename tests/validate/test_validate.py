"""`protxai validate` end to end, and that it FAILS when the engine or the statistics are broken.

The CLI run trains the anagram-task model once (module fixture, kept in a workdir); the break tests re-use
that model (``load_task``) and re-run attribution + statistics with one part broken on purpose.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import protxai_ray.attribution as attribution
import protxai_ray.stats.compute as stats_compute
from protxai_ray.cli import main
from protxai_ray.demo import DEMO_DATA
from protxai_ray.validate.check import ValidateConfig, run_validate
from protxai_ray.validate.discovery import TaskConfig, load_task


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("validate")
    status = main(["validate", "--workdir", str(workdir)])
    return status, workdir


@pytest.fixture(scope="module")
def trained(validated):
    _, workdir = validated
    return load_task(ValidateConfig().task, DEMO_DATA / "tmbed", workdir / "model")


def _check(tmp_path, trained):
    return run_validate(ValidateConfig(), workdir=tmp_path, log=lambda _: None, trained=trained)


def test_validate_command_passes(validated, capsys):
    status, workdir = validated
    assert status == 0
    # the run it checked is really in the store, committed by a manifest
    assert (workdir / "store" / "runs" / "run_id=validate" / "manifest.json").is_file()


def test_validate_passes_on_the_reused_model_and_finds_the_truth(tmp_path, trained):
    report = _check(tmp_path, trained)
    assert report.passed, report.lines()
    assert report.truth and report.significant["wilcoxon_r"]
    assert max(report.engine_errors) <= 0.05  # steps='auto'
    assert "PASS" in report.lines()[-1]


def _wrap_engine(monkeypatch, change):
    original = attribution.attribute_batch

    def broken(*args, **kwargs):
        return [dataclasses.replace(a, heads=change(a.heads)) for a in original(*args, **kwargs)]

    monkeypatch.setattr(attribution, "attribute_batch", broken)


def test_validate_fails_when_the_engine_shuffles_the_head_order(tmp_path, trained, monkeypatch):
    def shuffle(heads):  # the same seeded permutation of (layer, head) for every protein
        layers, per_layer, tokens = heads.shape
        order = np.random.default_rng(3).permutation(layers * per_layer)
        if (order == np.arange(order.size)).all():
            order = np.roll(order, 1)
        return heads.reshape(layers * per_layer, tokens)[order].reshape(heads.shape)

    _wrap_engine(monkeypatch, shuffle)
    report = _check(tmp_path, trained)
    assert not report.passed
    assert any("dense reference" in p for p in report.problems)


def test_validate_fails_when_the_engine_flips_the_sign(tmp_path, trained, monkeypatch):
    _wrap_engine(monkeypatch, lambda heads: -heads)
    report = _check(tmp_path, trained)
    assert not report.passed
    assert any("dense reference" in p for p in report.problems)


def test_validate_fails_without_the_bh_step(tmp_path, trained, monkeypatch):
    def no_adjustment(con, table, cells, family, p):  # p_adj = p: Benjamini-Hochberg dropped
        import pyarrow as pa

        con.register("stats_pvalues", pa.table({"cell": cells, "p": pa.array(p, mask=np.isnan(p))}))
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT cell, p AS p_adj FROM stats_pvalues")
        finally:
            con.unregister("stats_pvalues")

    monkeypatch.setattr(stats_compute, "_adjust", no_adjustment)
    report = _check(tmp_path, trained)
    assert not report.passed
    assert any("Benjamini-Hochberg" in p for p in report.problems)


def test_validate_fails_when_the_wilcoxon_tests_the_wrong_tail(tmp_path, trained, monkeypatch):
    original = stats_compute.signed_rank_greater

    def wrong_tail(n, n_nonzero, r_plus, tie_term, has_ties, ranks):
        total = n_nonzero * (n_nonzero + 1) / 2.0  # r_minus in place of r_plus: tests r < 0
        return original(n, n_nonzero, total - r_plus, tie_term, has_ties, ranks)

    monkeypatch.setattr(stats_compute, "signed_rank_greater", wrong_tail)
    report = _check(tmp_path, trained)
    assert not report.passed


def test_validate_fails_without_a_learned_signal(tmp_path):
    # One epoch on 64 proteins is not enough to learn the anagram task: the check must say FAIL.
    config = ValidateConfig(task=TaskConfig(epochs=1, n_train=64, n_test=40), n_attributed=10)
    report = run_validate(config, workdir=tmp_path, log=lambda _: None)
    assert not report.passed
    assert report.problems
