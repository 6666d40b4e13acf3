"""Helpers of the fault tests (``test_faults.py``, ``test_node_loss.py``): wait for a driver's commits, find
and kill an actor in the middle of a shard, check that shard was retried, find the store's retry warnings."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from protxai_ray.pipeline.actor import read_attempts
from protxai_ray.store.fs import Store
from protxai_ray.store.runs import RunManifests, committed_shards, run_dir

DRIVER_TIMEOUT_S = 400


def wait_for_commits(store: str, run_id: str, at_least: int, driver: subprocess.Popen, timeout=300) -> dict:
    manifests = RunManifests(store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifest = manifests.read(run_id)
        if manifest and len(manifest.shards) >= at_least:
            return manifest
        if driver.poll() is not None:
            pytest.fail(f"driver exited with {driver.returncode} before {at_least} shard(s) were committed")
        time.sleep(0.2)
    pytest.fail(f"no {at_least} committed shard(s) of {run_id} after {timeout}s")


def finish_driver(driver: subprocess.Popen, log) -> None:
    try:
        code = driver.wait(timeout=DRIVER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        pytest.fail(f"driver hung; log:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]


def shard_in_progress(st: Store, run_id: str, pids: set[int]) -> tuple[str, int] | None:
    """(shard, pid): an uncommitted shard of the run being attributed right now by a live actor among
    ``pids`` (its only attempt is that actor's, and none of its files is written yet), or None."""
    committed = committed_shards(RunManifests(st).read(run_id))
    host = socket.gethostname()
    started = {
        rel.split("/")[-1][len("shard-") : -len(".json")] for rel in st.list(f"{run_dir(run_id)}/attempts")
    }
    for shard in sorted(started - committed):
        attempts = read_attempts(st, run_id, shard)
        if len(attempts) != 1:
            continue
        worker_host, pid = attempts[0]["worker"].rsplit(":", 1)
        if worker_host != host or int(pid) not in pids or not psutil.pid_exists(int(pid)):
            continue
        if st.exists(f"{run_dir(run_id)}/predictions/shard-{shard}.parquet"):
            continue  # already writing its files: killing it now might not interrupt the shard
        return shard, int(pid)
    return None


def find_shard_holder(
    store: str, run_id: str, pids: Callable[[], set[int]], driver: subprocess.Popen, timeout=300
) -> tuple[str, psutil.Process]:
    """Wait for a live actor among ``pids()`` attributing an uncommitted shard: (shard, its process)."""
    st = Store(store, check=False)  # one client for all polls: a shard takes about a second
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = shard_in_progress(st, run_id, pids())
        if found:
            shard, pid = found
            return shard, psutil.Process(pid)  # alive a moment ago; NoSuchProcess here fails the test
        if driver.poll() is not None:
            workers = {
                rel.split("/")[-1]: [a["worker"] for a in json.loads(st.read_bytes(rel))["attempts"]]
                for rel in st.list(f"{run_dir(run_id)}/attempts")
            }
            pytest.fail(
                f"driver exited with {driver.returncode} before an actor among {sorted(pids())} was found "
                f"mid-shard; attempts: {workers}"
            )
        time.sleep(0.05)
    pytest.fail(f"no actor of {run_id} found attributing a shard after {timeout}s")


def kill_shard_holder(
    store: str, run_id: str, pids: Callable[[], set[int]], driver: subprocess.Popen
) -> tuple[str, int, float]:
    """SIGKILL a live actor (a process among ``pids()``) mid-shard; returns (shard, pid, kill time)."""
    shard, proc = find_shard_holder(store, run_id, pids, driver)
    killed_at = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs([proc], timeout=15)
    assert not alive, f"actor {proc.pid} survived SIGKILL"
    return shard, proc.pid, killed_at


def assert_retried(store: str, run_id: str, shard: str, pid: int, killed_at: float) -> dict:
    """The killed actor's shard was attempted again after the kill and committed by another worker."""
    manifest = RunManifests(store).read(run_id)
    entry = next(s for s in manifest.shards if s.shard == shard)
    attempts = read_attempts(Store(store, check=False), run_id, shard)
    assert attempts[0]["worker"].endswith(f":{pid}"), attempts
    later = [a for a in attempts if a["started"] > killed_at]
    assert later and all(not a["worker"].endswith(f":{pid}") for a in later), attempts
    assert entry.attempts >= 2 and not entry.extra["worker"].endswith(f":{pid}"), entry
    return entry


def retry_warnings(run_id: str, logs: list[Path]) -> list[str]:
    """The store's "write ... failed (...); retrying" warnings about files of ``run_id`` in ``logs``, each
    as ``"LOG FILE NAME: line"``."""
    pattern = re.compile(rf"write {re.escape(run_dir(run_id))}/\S+ failed \(.*\); retrying")
    found = []
    for path in logs:
        with contextlib.suppress(OSError):  # a log rotated away meanwhile
            text = path.read_text(errors="replace")
            found += [f"{path.name}: {line}" for line in text.splitlines() if pattern.search(line)]
    return found


def ray_logs(head) -> list[Path]:
    """The head's worker and driver log files (an actor's stderr lands in ``worker-*.err``)."""
    return sorted(Path(head.temp_dir).glob("session_*/logs/*.err")) + sorted(
        Path(head.temp_dir).glob("session_*/logs/*.out")
    )
