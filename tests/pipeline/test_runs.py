"""Run manifests: create/resume, compare-and-swap shard commits (local flock, S3 If-Match), finish."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from protxai_ray.errors import StoreError
from protxai_ray.store.manifest import RunManifest, ShardEntry
from protxai_ray.store.runs import RunManifests, committed_shards, shard_files


def _header(fingerprint: str = "f1") -> RunManifest:
    return RunManifest(schema_version="1", run_id="r", release="2024_01", fingerprint=fingerprint)


def _entry(shard: str, proteins: int = 3) -> ShardEntry:
    return ShardEntry(shard, proteins=proteins, failures=0, files=shard_files(shard))


@pytest.fixture(params=["local", "s3"])
def manifests(request, tmp_path) -> RunManifests:
    if request.param == "local":
        return RunManifests(str(tmp_path / "store"))
    store = request.getfixturevalue("s3_store")
    return RunManifests(store)


def test_create_commit_finish_and_resume(manifests):
    assert manifests.read("r") is None
    created = manifests.create("r", _header())
    assert created.shards == () and created.finished is None
    manifests.commit_shard("r", _entry("00001"))
    manifests.commit_shard("r", _entry("00000"))
    again = manifests.commit_shard("r", _entry("00000", proteins=99))  # already committed: kept as is
    assert [s.shard for s in again.shards] == ["00000", "00001"]
    assert again.shards[0].proteins == 3
    assert again.shards[0].files["heads"] == "heads/shard-00000.parquet"
    resumed = manifests.create("r", _header())  # same fingerprint: resume, shards kept
    assert committed_shards(resumed) == {"00000", "00001"}
    finished = manifests.finish("r", "2026-01-01T00:00:00+00:00", {"proteins": 6})
    assert finished.finished == "2026-01-01T00:00:00+00:00"
    assert manifests.finish("r", "later", {}).finished == "2026-01-01T00:00:00+00:00"
    assert manifests.list_run_ids() == ["r"]


def test_resume_with_other_settings_is_refused(manifests):
    manifests.create("r", _header("f1"))
    with pytest.raises(StoreError, match="different inputs or settings"):
        manifests.create("r", _header("f2"))


def test_concurrent_commits_are_never_lost(manifests):
    """16 writers racing on one manifest: compare-and-swap keeps every shard exactly once."""
    manifests.create("r", _header())
    shards = [f"{i:05d}" for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: RunManifests(manifests.store_uri).commit_shard("r", _entry(s)), shards * 2))
    final = manifests.read("r")
    assert [s.shard for s in final.shards] == shards
