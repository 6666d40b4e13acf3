"""Runs that are not what they seem: unfinished runs, and runs in which every protein failed.

* ``stats`` and ``report`` refuse an unfinished run (manifest ``finished`` null) in one line, leaving the
  store byte-identical, unless ``--allow-partial``; then the stats say ``partial`` (summary line, note,
  ``protxai.partial`` in each stats file's Parquet metadata) and the report warns.
* ``attribute`` exits 1 when every protein of the run failed, printing the count and the first reasons;
  a run with some failures exits 0 and names the first ones.

The attribution tests run the real driver and the real actor class in this process (``stream_shards``
replaced by a loop over ``AttributeShard``), so they need no Ray.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from protxai_ray.cli import main
from protxai_ray.stats.run import PARTIAL_KEY, unfinished
from protxai_ray.store.fs import Store
from protxai_ray.store.manifest import RunManifest, ShardEntry
from tests.conftest import UNIPROT_DATA
from tests.security.test_names_and_options import refused
from tests.stats.synthetic import write_synthetic_run

RUN = "run-synthetic"
JSON_FILE = str(UNIPROT_DATA / "json" / "entries_01.json")


def set_progress(uri: str, run_id: str, *, planned: int, finished: str | None) -> dict:
    """Give the run's manifest the pipeline's plan (``inputs``) and ``finished`` as an interrupted or a
    finished pipeline run has them (local or S3 store)."""
    store = Store(uri)
    rel = f"runs/run_id={run_id}/manifest.json"
    manifest = store.read_json(rel)
    manifest["inputs"] = {"proteins": planned, "shards": 3, "shard_size": 8}
    manifest["finished"] = finished
    store.write_json_atomic(rel, manifest)
    return manifest


@pytest.fixture
def unfinished_store(tmp_path, capsys) -> str:
    """8 proteins committed (one shard) of a run that planned 20 in 3 shards, not finished."""
    uri = str(tmp_path / "store")
    write_synthetic_run(uri, n_proteins=8, run_id=RUN)
    set_progress(uri, RUN, planned=20, finished=None)
    capsys.readouterr()
    return uri


def test_unfinished_describes_the_progress() -> None:
    shards = (ShardEntry("00000", proteins=8),)
    assert unfinished(RunManifest(finished=None, inputs={"proteins": 20, "shards": 3}, shards=shards)) == (
        "8 of 20 proteins, 1 of 3 shards committed"
    )
    assert unfinished(RunManifest(finished="2026-01-01", inputs={"proteins": 8}, shards=shards)) is None
    assert unfinished(None) is None


def test_stats_and_report_refuse_an_unfinished_run(unfinished_store, tmp_path, capsys) -> None:
    out = tmp_path / "report"
    for command in (
        ["stats", "--store", unfinished_store, "--run", RUN],
        ["report", "--store", unfinished_store, "--run", RUN, "--out", str(out)],
        ["report", "--store", unfinished_store, "--run", RUN, "--control-run", RUN, "--out", str(out)],
    ):
        err = refused(command, unfinished_store, capsys)
        assert f"run {RUN} is unfinished (8 of 20 proteins, 1 of 3 shards committed)" in err
        assert "--allow-partial" in err and f"--run-id {RUN}" in err
    assert not out.exists()


def test_s3_unfinished_run_and_bad_run_id_are_refused(s3_store, tmp_path, capsys) -> None:
    write_synthetic_run(s3_store, n_proteins=8, run_id=RUN)
    set_progress(s3_store, RUN, planned=20, finished=None)
    capsys.readouterr()
    err = refused(["stats", "--store", s3_store, "--run", RUN], s3_store, capsys)
    assert f"run {RUN} is unfinished (8 of 20 proteins" in err
    err = refused(
        ["report", "--store", s3_store, "--run", RUN, "--out", str(tmp_path / "r")], s3_store, capsys
    )
    assert f"run {RUN} is unfinished (8 of 20 proteins" in err
    err = refused(["stats", "--store", s3_store, "--run", "../../other"], s3_store, capsys)
    assert "not a run id" in err


def test_allow_partial_labels_the_stats_and_the_report(unfinished_store, tmp_path, capsys) -> None:
    assert main(["stats", "--store", unfinished_store, "--run", RUN, "--allow-partial"]) == 0
    out = capsys.readouterr().out
    assert f"PARTIAL: run {RUN} is unfinished (8 of 20 proteins, 1 of 3 shards committed)" in out
    assert "note: partial run: 8 of 20 proteins" in out
    files = sorted((Path(unfinished_store) / "runs" / f"run_id={RUN}" / "stats").rglob("*.parquet"))
    assert files
    for path in files:
        metadata = pq.read_schema(path).metadata
        assert metadata[PARTIAL_KEY] == b"8 of 20 proteins, 1 of 3 shards committed"
        assert b"protxai.schema_version" in metadata
    out_dir = tmp_path / "report"
    assert (
        main(["report", "--store", unfinished_store, "--run", RUN, "--out", str(out_dir), "--allow-partial"])
        == 0
    )
    err = capsys.readouterr().err
    assert f"warning: run {RUN} is unfinished (8 of 20 proteins, 1 of 3 shards committed)" in err
    assert (out_dir / "index.html").is_file()


def test_finished_run_stats_carry_no_partial_label(unfinished_store, capsys) -> None:
    set_progress(unfinished_store, RUN, planned=8, finished="2026-01-01T00:00:00+00:00")
    assert main(["stats", "--store", unfinished_store, "--run", RUN]) == 0
    out = capsys.readouterr().out
    assert "PARTIAL" not in out and "partial run" not in out
    for path in (Path(unfinished_store) / "runs" / f"run_id={RUN}" / "stats").rglob("*.parquet"):
        assert PARTIAL_KEY not in pq.read_schema(path).metadata


# ---- runs whose proteins fail ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A random BERT of at most 140 residues with labels class_0/class_1 (no UniProt entry matches them)."""
    from protxai_ray.models.random_init import write_random_model

    path = tmp_path_factory.mktemp("model") / "bert"
    return str(write_random_model(path, num_layers=1, num_heads=2, hidden=16, max_positions=142, seed=3))


@pytest.fixture
def release_store(tmp_path, monkeypatch, capsys) -> str:
    """Release 2024_01 (UniProt JSON); the driver's Ray stream replaced by in-process actor calls."""
    import protxai_ray.pipeline.run as pipeline_run
    from protxai_ray.pipeline.actor import AttributeShard

    def in_process(config, rows):
        actor = AttributeShard(config.replace(accessions=None, where=None))
        for row in rows:
            yield from actor(pa.Table.from_pylist([row])).to_pylist()

    monkeypatch.setattr(pipeline_run, "stream_shards", in_process)
    uri = str(tmp_path / "store")
    assert main(["ingest", JSON_FILE, "--store", uri, "--release", "2024_01"]) == 0
    capsys.readouterr()
    return uri


def attribute(store: str, model: str, run_id: str, target: str) -> list[str]:
    return [
        "attribute", "--store", store, "--release", "2024_01", "--model", model, "--run-id", run_id,
        "--where", "length < 150", "--target", target, "--steps", "4", "--derivative", "exact",
        "--shard-size", "2", "--no-progress",
    ]  # fmt: skip


def test_a_run_whose_every_protein_failed_exits_1(release_store, model_dir, capsys) -> None:
    """4 proteins under 150 residues: one longer than the model's 140, three without a class of the
    model's label map (target 'label')."""
    assert main(attribute(release_store, model_dir, "allfail", "label")) == 1
    out, err = capsys.readouterr()
    assert out == "run_id=allfail\n"
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    line = errors[0]
    assert line.startswith("protxai attribute: error: all 4 protein(s) of run allfail failed")
    assert "P00698: sequence of 147 residues exceeds the model's limit of 140 residues" in line
    assert "no class of the model matches the entry" in line
    manifest = json.loads((Path(release_store) / "runs" / "run_id=allfail" / "manifest.json").read_text())
    assert manifest["finished"] and manifest["summary"] == {"proteins": 4, "failures": 4, "shards": 2}
    # resuming the committed run says the same
    assert main(attribute(release_store, model_dir, "allfail", "label")) == 1
    assert "all 4 protein(s) of run allfail failed" in capsys.readouterr().err
    # and there is nothing to compute stats of
    err = refused(["stats", "--store", release_store, "--run", "allfail"], release_store, capsys)
    assert "has no attributed protein (all 4 of its proteins failed)" in err


def test_a_run_with_some_failures_exits_0_and_names_them(release_store, model_dir, capsys) -> None:
    assert main(attribute(release_store, model_dir, "somefail", "argmax")) == 0
    err = capsys.readouterr().err
    assert "proteins=4 failures=1" in err
    assert "1 protein(s) failed (the failures table has every reason); first: P00698: sequence of 147" in err
    assert "error" not in err
