"""The scheduled job (jobs/rerun_release.py) against a real SeaweedFS store: lock held -> refused and
nothing written; then one run does the work (target=argmax: only sequence changes are recomputed);
the next run on the same release says "up to date" and does nothing; a run interrupted before it was
marked complete is resumed under the same run id."""

from __future__ import annotations

import importlib.util
import io
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import replace

import pytest

from protxai_ray.models.random_init import write_random_model
from protxai_ray.pipeline import RunConfig, run_attribution
from protxai_ray.rerun import rerun_lock
from protxai_ray.store.duck import connect
from protxai_ray.store.fs import open_store
from protxai_ray.store.releases import list_releases
from protxai_ray.store.runs import RunManifests
from protxai_ray.uniprot.collect import collect_entries
from tests.conftest import PROJECT_ROOT
from tests.rerun.conftest import FILES, LABELS, RELEASES, ingest, start_local_ray, write_subset
from tests.rerun.http_source import UniProtMirror

OLD, NEW = "2024_01", "2024_03"


@pytest.fixture(scope="module")
def s3_vars(seaweed):
    """AWS_* for the whole module (Ray actors inherit the driver's environment when Ray starts)."""
    env = seaweed.env()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    import ray

    started = start_local_ray()  # one Ray for both runs of the test, started with the AWS_* above
    yield env
    if started:
        ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _small_pair(tmp_path) -> tuple[set[str], set[str]]:
    """Eight short accessions of the real pair, two of them with a changed sequence."""
    old = {e.accession: e for e in collect_entries([str(RELEASES / "release_a" / f) for f in FILES]).entries}
    new = {e.accession: e for e in collect_entries([str(RELEASES / "release_b" / f) for f in FILES]).entries}
    short = sorted((max(old[a].length, new[a].length), a) for a in old)
    changed = {a for _, a in short if old[a].crc64 != new[a].crc64 and old[a].length <= 200}
    unchanged = [a for _, a in short if a not in changed][: 8 - len(changed)]
    keep = changed | set(unchanged)
    write_subset(RELEASES / "release_a", keep, tmp_path / "a")
    write_subset(RELEASES / "release_b", keep, tmp_path / "b")
    return keep, changed


def _job(*argv: str) -> tuple[int, str]:
    spec = importlib.util.spec_from_file_location(
        "job_rerun_release", PROJECT_ROOT / "jobs" / "rerun_release.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = module.main(list(argv))
    return status, out.getvalue() + err.getvalue()


def test_scheduled_job_on_s3_lock_work_then_up_to_date(s3_vars, seaweed, tmp_path):
    seaweed.create_bucket("protxai-scheduled")
    store = "s3://protxai-scheduled/store"
    keep, changed = _small_pair(tmp_path)
    assert len(keep) == 8 and len(changed) == 2
    model = write_random_model(
        tmp_path / "model", "bert", num_layers=1, num_heads=2, hidden=8, num_labels=len(LABELS)
    )
    ingest(store, OLD, [str(tmp_path / "a" / f) for f in FILES])
    parent = run_attribution(
        RunConfig(
            store=store, release=OLD, model=str(model), target="argmax", steps=2, shard_size=4, progress=False
        )
    )
    with UniProtMirror(tmp_path / "b", release=NEW) as mirror:
        argv = ["--store", store, "--source", *(f"{mirror.url}/{f}" for f in FILES), "--no-progress"]
        with rerun_lock(store, NEW):  # another scheduled run is processing NEW
            status, out = _job(*argv)
            assert status == 3 and "another job is processing" in out, out
        assert list_releases(open_store(store)) == [OLD] and mirror.downloads == 0

        status, out = _job(*argv)
        assert status == 0, out
        run_id = re.search(r"run_id=(\S+)", out).group(1)
        manifest = RunManifests(store).read(run_id)
        assert manifest.parent_run == parent.run_id
        # argmax: the many GO/EC edits of the pair do not change what is attributed, sequence edits do
        assert manifest.rerun["reattributed"] == 2 and manifest.rerun["reused"] == 6
        assert manifest.rerun["changes"]["any_go_changed"] > 0
        print("phase timings:", manifest.rerun["timings"])
        downloads = mirror.downloads

        status, out = _job(*argv)
        assert status == 0 and "up to date" in out and f"run_id={run_id}" in out
        assert mirror.downloads == downloads  # the second run read the release name only

        # A crash after the pipeline but before the re-run was marked complete: the next scheduled run
        # resumes the same run (committed shards kept, reuse shards rewritten identically), no duplicates.
        def crash(manifest):
            return replace(
                manifest,
                rerun={**manifest.rerun, "complete": False},
                shards=tuple(s for s in manifest.shards if not s.shard.startswith("reuse-")),
            )

        manifests = RunManifests(store)
        before = manifests.read(run_id)
        manifests.update(run_id, crash)
        status, out = _job(*argv)
        assert status == 0 and f"run_id={run_id}" in out and "up to date" not in out, out
        after = manifests.read(run_id)
        assert after.rerun["complete"] and after.shards == before.shards
        con = connect(store)
        dupes = con.execute(
            "SELECT count(*) - count(DISTINCT (accession, layer, head, position)) FROM heads WHERE run_id = ?",
            [run_id],
        ).fetchone()[0]
        assert dupes == 0
        assert con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchone()[0] == 8
    assert set(RunManifests(store).list_run_ids()) == {parent.run_id, run_id}
