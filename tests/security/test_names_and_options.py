"""Run ids, GPU requests and attribution options are checked before anything is written.

Each bad input ends in one error line on stderr (no traceback), exit status 2, and a store whose every
file is byte-identical afterwards (nothing outside the store is written either). A corrupt run manifest,
a report asked for before the stats exist and a run without proteins are one line too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protxai_ray.cli import main
from protxai_ray.errors import InvalidRunId, check_run_id
from protxai_ray.pipeline import RunConfig
from protxai_ray.pipeline.run import gpu_capacity
from tests.conftest import UNIPROT_DATA
from tests.security.test_query_confinement import snapshot
from tests.stats.synthetic import write_synthetic_run

JSON_FILE = str(UNIPROT_DATA / "json" / "entries_01.json")
RUN = "run-synthetic"
BAD_RUN_IDS = ["../../../../X", "a/b", "", ".hidden", "-x", "a b", "a\nb", "run;rm", "x" * 129, "é"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    from protxai_ray.models.random_init import write_random_model

    path = tmp_path_factory.mktemp("model") / "bert"
    return str(write_random_model(path, num_layers=1, num_heads=2, hidden=16, max_positions=142, seed=3))


@pytest.fixture
def store(tmp_path, capsys) -> str:
    """A store with release 2024_01 ingested from UniProt JSON and a finished synthetic run (with stats
    computable) under release 2024_02."""
    uri = str(tmp_path / "store")
    assert main(["ingest", JSON_FILE, "--store", uri, "--release", "2024_01"]) == 0
    write_synthetic_run(uri, n_proteins=8, run_id=RUN, release="2024_02")
    capsys.readouterr()
    return uri


def refused(command: list[str], store: str, capsys, *, also_unwritten: Path | None = None) -> str:
    """Run ``command``: exit status 2, exactly one stderr line, no traceback, the store unchanged."""
    before = snapshot(store)
    capsys.readouterr()
    rc = main(command)
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert err.startswith(f"protxai {command[0]}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert snapshot(store) == before
    if also_unwritten is not None:
        assert not also_unwritten.exists()
    return err


def attribute(store: str, model: str, *extra: str) -> list[str]:
    return ["attribute", "--store", store, "--release", "2024_01", "--model", model, "--no-progress", *extra]


# ---- run ids -----------------------------------------------------------------------------------------


def test_check_run_id_accepts_generated_and_plain_ids() -> None:
    from protxai_ray.pipeline import new_run_id

    for run_id in (new_run_id(), "run-synthetic", "A.b_c-1", "x" * 128):
        assert check_run_id(run_id) == run_id
    for run_id in BAD_RUN_IDS:
        with pytest.raises(InvalidRunId, match="not a run id"):
            check_run_id(run_id)


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_attribute_refuses_a_bad_run_id(store, model_dir, run_id, tmp_path, capsys) -> None:
    err = refused(
        attribute(store, model_dir, f"--run-id={run_id}"), store, capsys, also_unwritten=tmp_path / "X"
    )
    assert "--run-id" in err and "not a run id" in err


def test_run_config_refuses_bad_run_ids(store, model_dir) -> None:
    """The Ray job script and the re-run build a RunConfig directly: it checks its run ids too."""
    with pytest.raises(InvalidRunId):
        RunConfig(store=store, release="2024_01", model=model_dir, run_id="../x")
    with pytest.raises(InvalidRunId):
        RunConfig(store=store, release="2024_01", model=model_dir, run_id="ok", parent_run="a/b")


@pytest.mark.parametrize("run_id", ["../../../../X", "a/b", "a b", "-x"])
@pytest.mark.parametrize("command", ["stats", "report", "report-control"])
def test_stats_and_report_refuse_a_bad_run_id(store, run_id, command, tmp_path, capsys) -> None:
    out = str(tmp_path / "report")
    args = {
        "stats": ["stats", "--store", store, f"--run={run_id}"],
        "report": ["report", "--store", store, f"--run={run_id}", "--out", out],
        "report-control": ["report", "--store", store, "--run", RUN, f"--control-run={run_id}", "--out", out],
    }[command]
    err = refused(args, store, capsys, also_unwritten=tmp_path / "X")
    assert "not a run id" in err
    assert not Path(out).exists()


@pytest.mark.parametrize("run_id", ["../../../../X", "a/b", "-x"])
@pytest.mark.parametrize("option", ["rerun --run-id", "rerun --from-run", "verify --run"])
def test_rerun_and_verify_refuse_a_bad_run_id(store, run_id, option, tmp_path, capsys) -> None:
    command, flag = option.split()
    args = [command, "--store", store, f"{flag}={run_id}"]
    if command == "rerun":
        args += ["--source", JSON_FILE, "--release", "2024_03"]
    err = refused(args, store, capsys, also_unwritten=tmp_path / "X")
    assert "not a run id" in err


# ---- GPUs ---------------------------------------------------------------------------------------------


def test_num_gpus_without_a_gpu_is_refused_before_the_run_starts(store, model_dir, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    err = refused(attribute(store, model_dir, "--num-gpus", "1", "--run-id", "gpu1"), store, capsys)
    assert "--num-gpus 1" in err and "no GPU" in err and "--num-gpus 0" in err
    assert not (Path(store) / "runs" / "run_id=gpu1").exists()


def test_more_gpu_actors_than_gpus_is_refused(store, model_dir, monkeypatch, capsys) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    err = refused(attribute(store, model_dir, "--num-gpus", "0.5", "--actors", "3"), store, capsys)
    assert "room for 2 actor(s)" in err and "fewer --actors" in err


def test_joined_cluster_gpus_are_counted_on_its_nodes(store, model_dir, monkeypatch, capsys) -> None:
    """Joining a cluster, the GPUs are the cluster's (``ray.nodes()``), not this machine's."""
    import ray

    import protxai_ray.pipeline.cluster as cluster

    monkeypatch.setattr(cluster, "connect", lambda address: False)
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0}}, {"Alive": False, "Resources": {"GPU": 4.0}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    err = refused(
        attribute(store, model_dir, "--num-gpus", "1", "--ray-address", "10.0.0.1:6379"), store, capsys
    )
    assert "the Ray cluster at 10.0.0.1:6379 has no GPU" in err


def test_gpu_capacity() -> None:
    assert gpu_capacity([0], 1) == 0
    assert gpu_capacity([1], 1) == 1
    assert gpu_capacity([1], 0.5) == 2
    assert gpu_capacity([1, 2], 0.25) == 12
    assert gpu_capacity([1, 2], 0.3) == 9
    assert gpu_capacity([3, 4], 2) == 3
    assert gpu_capacity([4], 0) == 0


# ---- attribution settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--precision", "fp8"], "unknown precision 'fp8'; choose one of fp32, tf32, bf16"),
        (["--method", "bogus"], "unknown quadrature method 'bogus'; choose one of gausslegendre"),
        (["--derivative", "bogus"], "unknown derivative 'bogus'; choose one of spectral, exact"),
        (["--steps", "0"], "--steps must be a positive integer or 'auto', not '0'"),
        (["--steps", "many"], "--steps must be a positive integer or 'auto', not 'many'"),
        (["--tolerance", "2"], "tolerance must be a relative error in (0, 1)"),
        (["--max-nodes", "10"], "max_nodes must be at least 48"),
        (["--steps", "8", "--method", "riemann_left"], "derivative 'spectral' needs gausslegendre nodes"),
        (["--num-gpus", "-1"], "num_gpus must be >= 0"),
        (["--actors", "0"], "actors must be >= 1"),
        (["--shard-size", "0"], "shard_size must be >= 1"),
    ],
)
def test_bad_settings_are_one_line_before_any_work(store, model_dir, extra, expected, capsys) -> None:
    err = refused(attribute(store, model_dir, *extra), store, capsys)
    assert expected in err


# ---- corrupt manifests, missing stats, runs without proteins ---------------------------------------------


def test_corrupt_run_manifest_is_one_line_everywhere(store, model_dir, tmp_path, capsys) -> None:
    manifest = Path(store) / "runs" / f"run_id={RUN}" / "manifest.json"
    manifest.write_text("{ not json")
    out = str(tmp_path / "report")
    for command in (
        ["stats", "--store", store, "--run", RUN],
        ["report", "--store", store, "--run", RUN, "--out", out],
        attribute(store, model_dir, "--run-id", RUN, "--steps", "4", "--derivative", "exact"),
    ):
        err = refused(command, store, capsys)
        assert "corrupt run manifest" in err and str(manifest) in err
    assert not Path(out).exists()


def test_report_before_stats_is_one_line(store, tmp_path, capsys) -> None:
    err = refused(["report", "--store", store, "--run", RUN, "--out", str(tmp_path / "r")], store, capsys)
    assert "no statistics" in err and f"protxai stats --run {RUN}" in err


def test_stats_and_report_of_a_run_without_proteins(store, tmp_path, capsys) -> None:
    """A finished run whose selection was empty: nothing to compute, said in one line."""
    run_dir = Path(store) / "runs" / "run_id=empty"
    run_dir.mkdir(parents=True)
    manifest = {"schema_version": "1", "run_id": "empty", "release": "2024_01", "target": "label",
                "model": {"path": "m", "sha256": "0" * 64, "label_names": ["a", "b"]},
                "method": {"steps": 4}, "started": "2026-01-01T00:00:00+00:00",
                "finished": "2026-01-01T00:00:01+00:00", "parent_run": None,
                "inputs": {"proteins": 0, "shards": 0}, "shards": []}  # fmt: skip
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    for command in (
        ["stats", "--store", store, "--run", "empty"],
        ["report", "--store", store, "--run", "empty", "--out", str(tmp_path / "r")],
    ):
        err = refused(command, store, capsys)
        assert "run 'empty' has no attributed protein (it has no proteins)" in err


def test_unknown_run_is_one_line(store, tmp_path, capsys) -> None:
    for command in (
        ["stats", "--store", store, "--run", "nope"],
        ["report", "--store", store, "--run", "nope", "--out", str(tmp_path / "r")],
    ):
        err = refused(command, store, capsys)
        assert "'nope' not found" in err
