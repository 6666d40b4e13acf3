"""Store paths cannot escape the store, and what the store writes is readable like the data."""

from __future__ import annotations

import stat

import pytest

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store
from protxai_ray.store.manifest import RunManifest
from protxai_ray.store.runs import RunManifests


@pytest.mark.parametrize("uri", ["s3://bucket/a/../b", "s3://bucket/./x", "s3:///nobucket"])
def test_s3_uris_with_dot_segments_or_no_bucket_are_refused(uri) -> None:
    with pytest.raises(StoreError):
        Store(uri, check=False)


@pytest.mark.parametrize("rel", ["../x", "runs/../../x", "a//b", "", "runs/./x"])
def test_relative_paths_cannot_leave_the_store(rel, tmp_path) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(StoreError, match="invalid store path"):
        store.write_bytes_atomic(rel, b"x")
    assert not (tmp_path / "x").exists()


def test_manifests_are_readable_like_the_data(tmp_path) -> None:
    """Colleagues sharing a store read shards (0644) and must read the manifests that list them too."""
    store = Store(tmp_path / "store")
    RunManifests(store).create("r1", RunManifest(fingerprint="f"))
    store.write_bytes_atomic("runs/run_id=r1/heads/shard-00000.parquet", b"data")
    for rel in ("runs/run_id=r1/manifest.json", "runs/run_id=r1/heads/shard-00000.parquet"):
        mode = stat.S_IMODE((tmp_path / "store" / rel).stat().st_mode)
        assert mode & 0o044 == 0o044, (rel, oct(mode))
