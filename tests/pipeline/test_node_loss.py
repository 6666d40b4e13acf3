"""Node loss: a two-node local Ray cluster loses its worker node mid-run, and the run still ends with the
rows of an undisturbed run on the same cluster (full outer join: 0 lost, 0 extra, 0 changed).

The cluster is a head and a worker node on this machine, joined through 127.0.0.1 (``ray start``, 1 CPU
each, own temp dirs, ports and process groups), so each of the run's 2 actors sits on its own node. Once
a shard is committed and the worker node's actor is in the middle of another, the worker node's whole
process group (raylet, agents, the actor) is SIGKILLed; the head declares the node dead (fast health
checks), and a replacement node joins, as a Kubernetes operator would bring one back (with 1 CPU per node
the restarted actor has nowhere else to go). The lost actor's shard is attempted again by another worker:
its attempt log shows the lost actor's attempt and a later one, the manifest ``attempts >= 2``.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from protxai_ray.store.runs import RunManifests
from tests.pipeline.conftest import assert_same_rows, run_rows, start_driver
from tests.pipeline.faults import assert_retried, find_shard_holder, finish_driver, wait_for_commits
from tests.services.ray_head import RayHead, RayWorkerNode

pytestmark = pytest.mark.slow

# 32x the other pipeline tests' path points: a shard takes seconds, so the worker node's actor (which starts
# ~10 s after the head's on a loaded 2-core machine) gets shards of its own before the run ends.
STEPS = 256

# The head's GCS declares a node dead after ~3 missed 1 s health checks (default: 5 x 3 s).
FAST_NODE_DEATH = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, aws_env):
    """(head, worker node, list for replacement nodes): 1 CPU each; everything stopped by pid at the end."""
    workdir = tmp_path_factory.mktemp("ray-two-nodes")
    head = RayHead(workdir / "head", num_cpus=1, env_extra={**aws_env, **FAST_NODE_DEATH})
    head.start()
    nodes: list[RayWorkerNode] = []
    try:
        worker = RayWorkerNode(head, workdir / "worker", num_cpus=1, env_extra=dict(aws_env))
        nodes.append(worker)
        worker.start()
        yield head, worker, nodes
    finally:
        for node in nodes:
            node.stop()
        head.stop()


def _wait_dead(head: RayHead, node_id: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(n["node_id"] == node_id and n["state"] == "DEAD" for n in head.nodes()):
            return
        time.sleep(0.5)
    pytest.fail(f"the head did not declare node {node_id} dead within {timeout}s")


def test_worker_node_lost_mid_run(cluster, release_store, model_dir, tmp_path):
    head, worker, nodes = cluster
    alive = [n for n in head.nodes() if n["state"] == "ALIVE"]
    assert len(alive) == 2 and all(n["resources_total"].get("CPU") == 1 for n in alive)

    # The undisturbed reference, on the same two nodes.
    ref_log = tmp_path / "reference.log"
    finish_driver(
        start_driver(release_store, model_dir, "two-node-ref", head.address, ref_log, steps=STEPS), ref_log
    )
    reference = run_rows(release_store, "two-node-ref")
    total = len(RunManifests(release_store).read("two-node-ref").shards)

    log = tmp_path / "driver.log"
    driver = start_driver(release_store, model_dir, "node-loss-run", head.address, log, steps=STEPS)
    try:
        manifest = wait_for_commits(release_store, "node-loss-run", 1, driver)
        assert len(manifest.shards) < total, "run finished before the node could be lost"
        # the worker node's actor, in the middle of a shard of this run
        shard, proc = find_shard_holder(release_store, "node-loss-run", worker.pids, driver)
        killed_at = time.time()
        killed = worker.kill()
        assert proc.pid in killed, "the actor was not a process of the worker node"
        assert not psutil.wait_procs([proc], timeout=15)[1], "the actor survived its node"
        _wait_dead(head, worker.node_id)
        replacement = RayWorkerNode(
            head, tmp_path / "replacement", num_cpus=1, env_extra=dict(worker.env_extra)
        )
        nodes.append(replacement)
        replacement.start()
        finish_driver(driver, log)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()

    final = RunManifests(release_store).read("node-loss-run")
    assert final.finished and len(final.shards) == total
    entry = assert_retried(release_store, "node-loss-run", shard, proc.pid, killed_at)
    print(
        f"lost node {worker.node_id}: shard {shard} of actor {proc.pid} retried: {entry.attempts} attempts"
    )
    assert_same_rows(release_store, "node-loss-run", reference)
