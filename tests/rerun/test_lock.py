"""The store lock on a local directory and on real SeaweedFS S3 (conditional PUT)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from protxai_ray.rerun.lock import ReleaseLocked, StoreLock


@pytest.fixture(params=["local", "s3"])
def store_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_store")


def test_second_holder_is_refused_until_release(store_uri):
    first = StoreLock(store_uri, "rerun-release=2024_05")
    first.acquire()
    with pytest.raises(ReleaseLocked, match="held by"):
        StoreLock(store_uri, "rerun-release=2024_05").acquire()
    with StoreLock(store_uri, "rerun-release=2024_06"):  # another release: independent
        pass
    first.release()
    with StoreLock(store_uri, "rerun-release=2024_05"):
        pass


def test_expired_lock_is_taken_over_and_old_owner_cannot_delete_it(store_uri):
    stale = StoreLock(store_uri, "rerun-release=2024_05", ttl_s=0.05)
    stale.acquire()
    time.sleep(0.2)
    fresh = StoreLock(store_uri, "rerun-release=2024_05")
    fresh.acquire()
    stale.release()  # the dead holder coming back must not remove the new holder's lock
    with pytest.raises(ReleaseLocked):
        StoreLock(store_uri, "rerun-release=2024_05").acquire()
    fresh.release()


def test_exactly_one_of_many_concurrent_takers_wins(store_uri):
    StoreLock(store_uri, "warmup").acquire()  # create the bucket prefix / directory first
    winners, losers = [], []
    barrier = threading.Barrier(6)

    def take() -> None:
        lock = StoreLock(store_uri, "rerun-release=2030_01")
        barrier.wait()
        try:
            lock.acquire()
            winners.append(lock)
        except ReleaseLocked:
            losers.append(lock)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 5


def test_lock_object_names_its_holder(tmp_path):
    lock = StoreLock(str(tmp_path), "rerun-release=2024_05")
    with lock:
        info = json.loads((tmp_path / "locks" / "rerun-release=2024_05.json").read_text())
        assert info["owner"] == lock.owner and info["expires"] > info["acquired"]
    assert not (tmp_path / "locks" / "rerun-release=2024_05.json").exists()
