"""End to end on a local Ray head: 2 CPU actors, real proteins, real SeaweedFS store, DuckDB queries."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from protxai_ray.errors import ModelLoadError, RunError
from protxai_ray.pipeline import run_attribution
from protxai_ray.pipeline.plan import filter_proteins, make_plan, read_release_proteins
from protxai_ray.pipeline.run import descriptors, stream_shards
from protxai_ray.pipeline.shards import engine_options
from protxai_ray.store.fs import Store
from protxai_ray.store.runs import RunManifests, run_dir
from tests.conftest import PROJECT_ROOT
from tests.pipeline.conftest import RELEASE, WHERE, assert_same_rows, base_config, cli_args, run_rows
from tests.services.ray_head import venv_env


@pytest.fixture(scope="module")
def finished_run(reference_run):
    return reference_run


def _object_versions(store: str, run_id: str) -> dict[str, tuple]:
    s = Store(store)
    prefix = f"{s.prefix}/{run_dir(run_id)}/"
    listing = s.client.list_objects_v2(Bucket=s.bucket, Prefix=prefix)
    return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listing.get("Contents", [])}


def test_run_matches_engine_and_query(finished_run, release_store, model_dir):
    from protxai_ray.attribution import attribute_batch
    from protxai_ray.models import load_model
    from protxai_ray.store.duck import connect

    config, summary = finished_run
    proteins = filter_proteins(read_release_proteins(Store(release_store), RELEASE), WHERE)
    plan = make_plan(proteins, config.shard_size)
    assert summary.proteins == proteins.num_rows >= 50
    assert summary.computed_shards == plan.shard_ids and summary.skipped_shards == []
    model = load_model(str(model_dir), device="cpu")
    too_long = sum(1 for n in proteins["length"].to_pylist() if n > model.max_residues)
    assert summary.failures == too_long > 0
    assert summary.proteins - summary.failures >= 50

    con = connect(release_store)
    counts = dict(
        con.execute(
            "SELECT p.accession, count(*) FROM residues r JOIN proteins p USING (accession) "
            "WHERE r.run_id = ? AND p.release = ? AND r.position BETWEEN 0 AND p.length + 1 GROUP BY 1",
            [config.run_id, RELEASE],
        ).fetchall()
    )
    head_counts = dict(
        con.execute(
            "SELECT accession, count(*) FROM heads WHERE run_id = ? GROUP BY 1", [config.run_id]
        ).fetchall()
    )
    lengths = dict(zip(proteins["accession"].to_pylist(), proteins["length"].to_pylist(), strict=True))
    done = {a for a, n in lengths.items() if n <= model.max_residues}
    assert set(counts) == set(head_counts) == done
    for accession in done:
        assert counts[accession] == lengths[accession] + 2
        assert head_counts[accession] == model.num_layers * model.num_heads * (lengths[accession] + 2)
    failures = con.execute("SELECT count(*) FROM failures WHERE run_id = ?", [config.run_id]).fetchone()[0]
    assert failures == too_long
    runs = con.execute("SELECT finished, n_shards FROM runs WHERE run_id = ?", [config.run_id]).fetchone()
    assert runs[0] is not None and runs[1] == len(plan.shard_ids)

    # Equal to the engine called directly on the same proteins (one shard at a time, the run's settings).
    rows = run_rows(release_store, config.run_id)
    heads = rows["heads"]
    options = engine_options(config, "cpu")
    for shard in plan.shards[:3]:
        batch = [r for r in shard.to_pylist() if r["length"] <= model.max_residues]
        direct = attribute_batch(model, [r["sequence"] for r in batch], [-1] * len(batch), **options)
        for row, expected in zip(batch, direct, strict=True):
            got = con.execute(
                "SELECT relevance FROM heads WHERE run_id = ? AND accession = ? ORDER BY layer, head, position",
                [config.run_id, row["accession"]],
            ).fetchnumpy()["relevance"]
            np.testing.assert_allclose(got.reshape(expected.heads.shape), expected.heads, atol=1e-6, rtol=0)
            res = con.execute(
                "SELECT relevance FROM residues WHERE run_id = ? AND accession = ? ORDER BY position",
                [config.run_id, row["accession"]],
            ).fetchnumpy()["relevance"]
            np.testing.assert_allclose(res, expected.residues, atol=1e-6, rtol=0)
    assert heads.num_rows == sum(head_counts.values())
    con.close()

    manifest = RunManifests(release_store).read(config.run_id)
    assert manifest.model.sha256 == model.weights_sha256
    assert list(manifest.model.label_names) == list(model.label_names)
    assert manifest.method == {  # AttributionSettings.as_dict() of a fixed-step run
        "method": "gausslegendre",
        "steps": 8,
        "derivative": "spectral",
        "precision": "fp32",
    }
    assert manifest.code_version.startswith("0.1.0")
    assert all(s.extra["proteins_per_s"] > 0 for s in manifest.shards)


def test_rerunning_a_finished_run_changes_nothing(finished_run, release_store):
    config, _ = finished_run
    before = _object_versions(release_store, config.run_id)
    manifest_before = RunManifests(release_store).read(config.run_id)
    again = run_attribution(config)  # no Ray needed: every shard is committed
    assert again.computed_shards == [] and len(again.skipped_shards) == again.shards
    assert _object_versions(release_store, config.run_id) == before
    assert RunManifests(release_store).read(config.run_id) == manifest_before


@pytest.mark.slow
def test_ray_job_submit_writes_the_same_rows(finished_run, release_store, model_dir, ray_head):
    config, _ = finished_run
    args = cli_args(release_store, model_dir, "job-run", ray_head.address)[1:]
    args = args[: args.index("--ray-address")] + args[args.index("--ray-address") + 2 :]
    cmd = [
        str(PROJECT_ROOT / ".venv" / "bin" / "ray"),
        "job",
        "submit",
        "--address",
        ray_head.dashboard,
        "--working-dir",
        ".",
        "--",
        "python",
        "jobs/attribute.py",
        *args,
    ]
    if not (PROJECT_ROOT / ".venv" / "bin" / "ray").exists():
        cmd[0] = str(__import__("pathlib").Path(sys.executable).parent / "ray")
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=venv_env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "run_id=job-run" in done.stdout
    assert_same_rows(release_store, "job-run", run_rows(release_store, config.run_id))


def test_unreachable_ray_address_fails_fast(release_store, model_dir):
    from tests.services.seaweed import free_port

    config = base_config(release_store, model_dir, "bad-address", ray_address=f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(RunError, match="unreachable"):
        run_attribution(config)
    assert time.monotonic() - started < 30


def test_store_without_the_release(s3_store, model_dir):
    with pytest.raises(RunError, match="has no release 2024_01"):
        run_attribution(base_config(s3_store, model_dir, "no-release"))


def test_model_that_does_not_load(release_store, tmp_path, ray_head):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}')
    (broken / "pytorch_model.bin").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError):
        run_attribution(base_config(release_store, broken, "bad-model"))
    # The same failure inside the actors (model present on the driver, not on the workers): one error line.
    plan = make_plan(filter_proteins(read_release_proteins(Store(release_store), RELEASE), WHERE), 8)
    config = base_config(release_store, broken, "bad-model-actor", ray_address=ray_head.address, actors=1)
    started = time.monotonic()
    with pytest.raises((ModelLoadError, RunError)) as caught:
        list(stream_shards(config, descriptors(plan, {plan.shard_ids[0]})))
    assert "\n" not in str(caught.value) and "broken" in str(caught.value)
    assert time.monotonic() - started < 180
