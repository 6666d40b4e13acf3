"""`protxai validate` end to end: tiny model, real engine, real store, real DuckDB statistics."""

from __future__ import annotations

from protxai_ray.cli import main
from protxai_ray.validate.check import ValidateConfig, run_validate


def test_validate_command_passes(capsys, tmp_path):
    status = main(["validate", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "PASS" in out and "AUROC" in out
    # the run it checked is really in the store, committed by a manifest
    assert (tmp_path / "store" / "runs" / "run_id=validate" / "manifest.json").is_file()


def test_validate_fails_without_a_learned_signal(tmp_path):
    # One epoch is not enough for the tiny model to learn the motif: the check must say FAIL, not pass.
    report = run_validate(
        ValidateConfig(epochs=1, n_train=64, n_test=24), workdir=tmp_path, log=lambda _: None
    )
    assert not report.passed
    assert report.problems
