"""The store's one lock (store/lock.py) on a local directory and on real SeaweedFS S3 (conditional PUT)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from protxai_ray.store.fs import Store, encode_json
from protxai_ray.store.lock import Locked, StoreLock

REL = "locks/rerun-release=2024_05.json"


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return Store(request.getfixturevalue("s3_store"))


def _plant(store: Store, **fields) -> None:
    """A lock object left by another holder (as a killed process leaves it)."""
    now = time.time()
    body = {"owner": "someone", "host": "elsewhere", "pid": 1, "acquired": now, "heartbeat": now}
    body.update({"expires": now + 3600, **fields})
    store.write_bytes_atomic(REL, encode_json(body))


def test_second_holder_is_refused_until_release(store):
    first = StoreLock(store, REL, what="re-run of release 2024_05").acquire()
    with pytest.raises(Locked, match="is being written by another process .*pid"):
        StoreLock(store, REL).acquire()
    with StoreLock(store, "locks/rerun-release=2024_06.json"):  # another name: independent
        pass
    first.release()
    assert not store.exists(REL)
    with StoreLock(store, REL):
        pass


def test_live_holder_keeps_its_lock_by_heartbeat(store):
    holder = StoreLock(store, REL, ttl_s=0.6).acquire()
    try:
        first = json.loads(store.read_bytes(REL))
        time.sleep(1.0)  # longer than the TTL: only the heartbeat keeps it alive
        later = json.loads(store.read_bytes(REL))
        assert later["owner"] == holder.owner and later["heartbeat"] > first["heartbeat"]
        with pytest.raises(Locked):
            StoreLock(store, REL).acquire()
    finally:
        holder.release()


def test_expired_lock_is_taken_over_and_old_owner_cannot_delete_it(store):
    _plant(store, expires=time.time() - 1)
    fresh = StoreLock(store, REL).acquire()
    assert json.loads(store.read_bytes(REL))["owner"] == fresh.owner
    fresh.release()
    assert not store.exists(REL)


def test_dead_local_process_lock_is_taken_over_at_once(store):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _plant(store, host=socket.gethostname(), pid=int(dead.stdout))  # unexpired, but its process is gone
    with StoreLock(store, REL) as lock:
        assert json.loads(store.read_bytes(REL))["owner"] == lock.owner


def test_live_foreign_host_lock_is_respected(store):
    _plant(store)  # another host, not expired: it may be alive
    with pytest.raises(Locked, match="elsewhere pid 1"):
        StoreLock(store, REL).acquire()
    assert json.loads(store.read_bytes(REL))["owner"] == "someone"  # untouched


def test_exactly_one_of_many_concurrent_takers_wins(store):
    _plant(store, expires=time.time() - 1)  # a dead holder: every taker races for the takeover
    winners, losers = [], []
    barrier = threading.Barrier(6)

    def take() -> None:
        lock = StoreLock(store, REL)
        barrier.wait()
        try:
            lock.acquire()
            winners.append(lock)
        except Locked:
            losers.append(lock)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 5
    winners[0].release()


def test_lock_object_names_its_holder_and_is_readable_by_others(tmp_path):
    store = Store(tmp_path)
    with StoreLock(store, REL) as lock:
        path = tmp_path / REL
        info = json.loads(path.read_text())
        assert info["owner"] == lock.owner and info["host"] == socket.gethostname()
        assert info["expires"] > info["heartbeat"] >= info["acquired"]
        assert path.stat().st_mode & 0o044 == 0o044  # group/other readable, like the data
    assert not (tmp_path / REL).exists()
