"""Fault injection: each run ends with the store equal to an undisturbed run (0 rows lost or duplicated).

Drivers run as separate ``protxai attribute`` processes (own process group) joined to the session's Ray
head, so the test can kill them, their actors, or the S3 server mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from protxai_ray.pipeline import run_attribution
from protxai_ray.store.runs import RunManifests, committed_shards
from tests.pipeline.conftest import assert_same_rows, base_config, run_rows, start_driver

pytestmark = pytest.mark.slow

DRIVER_TIMEOUT_S = 400


def _wait_for_commits(store: str, run_id: str, at_least: int, driver: subprocess.Popen, timeout=300) -> dict:
    manifests = RunManifests(store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifest = manifests.read(run_id)
        if manifest and len(manifest["shards"]) >= at_least:
            return manifest
        if driver.poll() is not None:
            pytest.fail(f"driver exited with {driver.returncode} before {at_least} shard(s) were committed")
        time.sleep(0.2)
    pytest.fail(f"no {at_least} committed shard(s) of {run_id} after {timeout}s")


def _finish(driver: subprocess.Popen, log) -> None:
    try:
        code = driver.wait(timeout=DRIVER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        pytest.fail(f"driver hung; log:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def reference_rows(reference_run, release_store):
    config, summary = reference_run
    return run_rows(release_store, config.run_id), summary


def test_actor_killed_and_run_submitted_twice(reference_rows, release_store, model_dir, ray_head, tmp_path):
    """Two drivers of the same run at once; one of their actor processes is killed mid-run."""
    reference, summary = reference_rows
    logs = [tmp_path / "driver-a.log", tmp_path / "driver-b.log"]
    drivers = [start_driver(release_store, model_dir, "twice-run", ray_head.address, log) for log in logs]
    try:
        manifest = _wait_for_commits(release_store, "twice-run", 1, drivers[0])
        assert len(manifest["shards"]) < summary.shards, "run finished before the fault could be injected"
        host, pid = manifest["shards"][0]["worker"].rsplit(":", 1)
        try:
            os.kill(int(pid), signal.SIGKILL)  # a Ray worker of this test's head, running an actor
        except ProcessLookupError:
            pass  # that actor already finished: the second driver still exercises the concurrent commits
        for driver, log in zip(drivers, logs, strict=True):
            _finish(driver, log)
    finally:
        for driver in drivers:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
    final = RunManifests(release_store).read("twice-run")
    shards = [s["shard"] for s in final["shards"]]
    assert shards == sorted(set(shards)) and len(shards) == summary.shards
    assert final["finished"]
    assert_same_rows(release_store, "twice-run", reference)


def test_s3_outage_mid_run(reference_rows, release_store, model_dir, ray_head, seaweed, tmp_path):
    """The S3 server stops for a few seconds mid-run and comes back: writes retry with backoff."""
    reference, summary = reference_rows
    log = tmp_path / "driver.log"
    driver = start_driver(release_store, model_dir, "outage-run", ray_head.address, log)
    try:
        manifest = _wait_for_commits(release_store, "outage-run", 1, driver)
        assert len(manifest["shards"]) < summary.shards, "run finished before the fault could be injected"
        seaweed.stop()
        time.sleep(4)
        seaweed.start()
        _finish(driver, log)
    finally:
        if seaweed.process is None or seaweed.process.poll() is not None:
            seaweed.start()
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert_same_rows(release_store, "outage-run", reference)


def test_driver_killed_then_resumed(reference_rows, release_store, model_dir, ray_head, tmp_path):
    """Kill the driver after its first commits; the same --run-id resumes without recomputing them."""
    reference, summary = reference_rows
    log = tmp_path / "driver.log"
    driver = start_driver(release_store, model_dir, "killed-run", ray_head.address, log)
    try:
        _wait_for_commits(release_store, "killed-run", 1, driver)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    before = RunManifests(release_store).read("killed-run")
    committed = committed_shards(before)
    assert 0 < len(committed) < summary.shards, "run finished before the driver was killed"
    assert not before["finished"]

    resumed = run_attribution(
        base_config(release_store, model_dir, "killed-run", ray_address=ray_head.address)
    )
    assert set(resumed.computed_shards).isdisjoint(committed)  # finished shards not recomputed
    assert set(resumed.computed_shards) | set(resumed.skipped_shards) >= set(committed)
    after = RunManifests(release_store).read("killed-run")
    old_entries = {s["shard"]: s for s in before["shards"]}
    for entry in after["shards"]:
        if entry["shard"] in old_entries:
            assert entry == old_entries[entry["shard"]]  # same worker, same timing: never redone
    assert after["finished"] and len(after["shards"]) == summary.shards
    assert_same_rows(release_store, "killed-run", reference)
