"""Fault injection: each run ends with the store equal to an undisturbed run (0 rows lost or duplicated).

Drivers run as separate ``protxai attribute`` processes (own process group) joined to the session's Ray
head, so the test can kill them, their actors, or the S3 server mid-run. Each test also proves its fault
hit the run: the killed actor was alive and attributing an uncommitted shard of the run, and that shard
was attempted again afterwards (its attempt log, ``attempts`` in the manifest); during the S3 outage a
write of the run failed and was retried (the store's retry warning in the driver's or a worker's log).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from protxai_ray.pipeline import run_attribution
from protxai_ray.store.runs import RunManifests, committed_shards
from tests.pipeline.conftest import assert_same_rows, base_config, run_rows, start_driver
from tests.pipeline.faults import (
    assert_retried,
    finish_driver,
    kill_shard_holder,
    ray_logs,
    retry_warnings,
    wait_for_commits,
)

pytestmark = pytest.mark.slow


# 32x the path points of the other pipeline tests: a shard takes seconds rather than a fraction of one, so
# a run lasts long enough after its first commit for the test to catch an actor in the middle of a shard.
STEPS = 256


@pytest.fixture(scope="module")
def reference_rows(release_store, model_dir, ray_head, tmp_path_factory):
    """(rows, shard count) of an undisturbed run with the fault tests' settings, on the session's head."""
    log = tmp_path_factory.mktemp("fault-reference") / "driver.log"
    finish_driver(
        start_driver(release_store, model_dir, "fault-reference", ray_head.address, log, STEPS), log
    )
    manifest = RunManifests(release_store).read("fault-reference")
    assert manifest.finished
    return run_rows(release_store, "fault-reference"), len(manifest.shards)


def test_actor_killed_and_run_submitted_twice(reference_rows, release_store, model_dir, ray_head, tmp_path):
    """An actor of a running driver is killed in the middle of a shard, and the same run is submitted a
    second time at once: both drivers finish, the lost shard is attempted again, no row lost or doubled.

    The second driver starts right after the kill (not before): started together, both drivers attempt
    the same shards in the same order, so a killed actor's shard would be finished by the other driver
    anyway and the kill would prove nothing."""
    reference, total = reference_rows
    logs = [tmp_path / "driver-a.log", tmp_path / "driver-b.log"]
    drivers = [start_driver(release_store, model_dir, "twice-run", ray_head.address, logs[0], STEPS)]
    try:
        manifest = wait_for_commits(release_store, "twice-run", 1, drivers[0])
        assert len(manifest.shards) < total, "run finished before the fault could be injected"
        # an actor of this run (a worker process of this test's head) alone on an uncommitted shard
        shard, pid, killed_at = kill_shard_holder(release_store, "twice-run", ray_head.pids, drivers[0])
        drivers.append(start_driver(release_store, model_dir, "twice-run", ray_head.address, logs[1], STEPS))
        for driver, log in zip(drivers, logs, strict=True):
            finish_driver(driver, log)
    finally:
        for driver in drivers:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
    final = RunManifests(release_store).read("twice-run")
    shards = [s.shard for s in final.shards]
    assert shards == sorted(set(shards)) and len(shards) == total
    assert final.finished
    assert_retried(release_store, "twice-run", shard, pid, killed_at)
    assert_same_rows(release_store, "twice-run", reference)


def test_s3_outage_mid_run(reference_rows, release_store, model_dir, ray_head, seaweed, tmp_path):
    """The S3 server stops mid-run until a write of the run has failed, then comes back: writes retry with
    backoff and the run completes with the reference rows."""
    reference, total = reference_rows
    log = tmp_path / "driver.log"
    driver = start_driver(release_store, model_dir, "outage-run", ray_head.address, log, STEPS)
    try:
        manifest = wait_for_commits(release_store, "outage-run", 1, driver)
        assert len(manifest.shards) < total, "run finished before the fault could be injected"
        assert retry_warnings("outage-run", [log, *ray_logs(ray_head)]) == []
        seaweed.stop()
        deadline = time.monotonic() + 90  # within the store's 120 s retry budget
        while not (hit := retry_warnings("outage-run", [log, *ray_logs(ray_head)])):
            if driver.poll() is not None or time.monotonic() > deadline:
                pytest.fail("no write of the run was attempted while S3 was down")
            time.sleep(0.5)
        seaweed.start()
        finish_driver(driver, log)
    finally:
        if seaweed.process is None or seaweed.process.poll() is not None:
            seaweed.start()
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    print(f"{len(hit)} write(s) retried during the outage, first: {hit[0][:300]}")
    assert "connect" in hit[0].lower(), hit[0]  # refused: the server was down, not a bad request
    final = RunManifests(release_store).read("outage-run")
    assert final.finished and len(final.shards) == total
    assert_same_rows(release_store, "outage-run", reference)


def test_driver_killed_then_resumed(reference_rows, release_store, model_dir, ray_head, tmp_path):
    """Kill the driver after its first commits; the same --run-id resumes without recomputing them."""
    reference, total = reference_rows
    log = tmp_path / "driver.log"
    driver = start_driver(release_store, model_dir, "killed-run", ray_head.address, log, STEPS)
    try:
        wait_for_commits(release_store, "killed-run", 1, driver)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    before = RunManifests(release_store).read("killed-run")
    committed = committed_shards(before)
    assert 0 < len(committed) < total, "run finished before the driver was killed"
    assert not before.finished

    resumed = run_attribution(
        base_config(release_store, model_dir, "killed-run", ray_address=ray_head.address, steps=STEPS)
    )
    assert set(resumed.computed_shards).isdisjoint(committed)  # finished shards not recomputed
    assert set(resumed.computed_shards) | set(resumed.skipped_shards) >= set(committed)
    after = RunManifests(release_store).read("killed-run")
    old_entries = {s.shard: s for s in before.shards}
    for entry in after.shards:
        if entry.shard in old_entries:
            assert entry == old_entries[entry.shard]  # same worker, same timing: never redone
    assert after.finished and len(after.shards) == total
    assert_same_rows(release_store, "killed-run", reference)
