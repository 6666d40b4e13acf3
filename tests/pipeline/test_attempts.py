"""The per-shard attempt log the actors keep, and the ``attempts`` it puts into manifest entries."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from protxai_ray.pipeline.actor import attempts_path, read_attempts, record_attempt
from protxai_ray.pipeline.provenance import shard_entry
from protxai_ray.store.fs import Store


def test_attempts_are_numbered_in_order_and_none_is_lost(tmp_path):
    store = Store(tmp_path / "store")
    assert read_attempts(store, "r1", "00003") == []
    assert record_attempt(store, "r1", "00003", "host:1") == 1
    with ThreadPoolExecutor(4) as pool:  # concurrent attempts (two drivers): compare-and-swap, no lost record
        numbers = sorted(pool.map(lambda i: record_attempt(store, "r1", "00003", f"host:{i}"), range(2, 10)))
    assert numbers == list(range(2, 10))
    attempts = read_attempts(store, "r1", "00003")
    assert [a["worker"] for a in attempts][0] == "host:1" and len(attempts) == 9
    assert {a["worker"] for a in attempts} == {f"host:{i}" for i in range(1, 10)}
    assert all(a["job"] is None and a["started"] > 0 for a in attempts)  # no Ray here
    assert json.loads(store.read_bytes(attempts_path("r1", "00003")))["shard"] == "00003"
    assert read_attempts(store, "r1", "00004") == []


def test_manifest_entry_carries_the_attempt_number():
    row = {"shard": "00001", "proteins": 8, "failures": 0, "seconds": 2.0, "worker": "h:9", "attempts": 2}
    assert shard_entry(row).attempts == 2
    assert "attempts" not in shard_entry({**row, "attempts": None}).to_dict()  # rows of older code
