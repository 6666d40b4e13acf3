"""Store over a local directory and a real SeaweedFS S3 server: I/O, atomicity, locks, errors, retries."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from protxai_ray.errors import StoreError
from protxai_ray.store.fs import Store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "store")
    return Store(request.getfixturevalue("s3_store"))


def test_write_read_list_delete(store: Store) -> None:
    assert store.list() == [] and not store.exists("a/b.bin")
    store.write_bytes_atomic("a/b.bin", b"hello")
    store.write_json_atomic("a/c/d.json", {"x": [1, 2]})
    store.write_bytes_atomic("e.bin", b"")
    assert store.read_bytes("a/b.bin") == b"hello"
    assert store.read_json("a/c/d.json") == {"x": [1, 2]}
    assert store.read_bytes("e.bin") == b""
    assert store.exists("a/b.bin") and not store.exists("a/nope")
    assert store.list() == ["a/b.bin", "a/c/d.json", "e.bin"]
    assert store.list("a/c") == ["a/c/d.json"]
    assert store.list_dirs("a") == ["c"] and store.list_dirs("") == ["a"]
    store.write_bytes_atomic("a/b.bin", b"replaced")
    assert store.read_bytes("a/b.bin") == b"replaced"
    store.delete("a/b.bin")
    store.delete("a/b.bin")  # missing is fine
    assert not store.exists("a/b.bin")
    with pytest.raises(FileNotFoundError):
        store.read_bytes("a/b.bin")
    store.delete_many(["a/c/d.json", "e.bin"])
    assert store.list() == []


def test_paths_and_uris(store: Store) -> None:
    assert store.uri_of("x/y.parquet").endswith("/x/y.parquet")
    if store.is_s3:
        assert store.uri_of("x").startswith("s3://") and store.path("x") == f"{store.base}/x"
    else:
        assert os.path.isabs(store.uri_of("x"))
    for bad in ("", "../up", "a//b", "a/./b"):
        with pytest.raises(StoreError):
            store.path(bad)


def test_create_exclusive_is_a_lock(store: Store) -> None:
    assert store.create_exclusive("locks/x", b"first")
    assert not store.create_exclusive("locks/x", b"second")
    assert store.read_bytes("locks/x") == b"first"
    store.delete("locks/x")
    assert store.create_exclusive("locks/x", b"third")


def test_local_failed_write_leaves_nothing_visible(tmp_path, monkeypatch) -> None:
    store = Store(tmp_path)
    store.write_bytes_atomic("d/f.bin", b"old")

    def broken_replace(src, dst):
        raise OSError("disk full (simulated) after the temporary file was written")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.write_bytes_atomic("d/f.bin", b"new content")
    with pytest.raises(OSError):
        store.write_bytes_atomic("d/g.bin", b"new file")
    monkeypatch.undo()
    assert store.read_bytes("d/f.bin") == b"old"
    assert sorted(os.listdir(tmp_path / "d")) == ["f.bin"]  # no temporary file left behind


def test_s3_wrong_keys_fail_at_once_without_leaking_the_secret(s3_store, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-4242")
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        Store(s3_store)
    assert time.monotonic() - started < 5  # refused credentials are not retried
    message = str(info.value)
    assert "credentials refused" in message and "wrong-secret-4242" not in message
    assert "\n" not in message
    # with the check skipped, the first data operation reports it the same way
    lazy = Store(s3_store, check=False)
    with pytest.raises(StoreError, match="credentials refused"):
        lazy.read_bytes("anything")


def test_s3_unreachable_endpoint_fails_fast(s3_env, monkeypatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once closed
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PROTXAI_S3_CONNECT_SECONDS", "2")
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        Store("s3://some-bucket/store")
    assert time.monotonic() - started < 15
    assert f"127.0.0.1:{port}" in str(info.value) and "unreachable" in str(info.value)


def test_s3_missing_bucket(s3_env) -> None:
    with pytest.raises(StoreError, match="bucket does not exist"):
        Store("s3://no-such-bucket-here/store")


def test_s3_write_survives_a_server_outage(seaweed, s3_store, monkeypatch) -> None:
    """The server is down when the write starts and comes back a few seconds later: retried, not lost."""
    monkeypatch.setenv("PROTXAI_S3_RETRY_SECONDS", "90")
    store = Store(s3_store)
    store.write_bytes_atomic("before.bin", b"1")
    seaweed.stop()
    restarter = threading.Timer(2.0, seaweed.start)
    restarter.start()
    try:
        store.write_bytes_atomic("during.bin", b"written while the server was down")
        assert store.read_bytes("during.bin") == b"written while the server was down"
        assert store.read_bytes("before.bin") == b"1"
    finally:
        restarter.join()
        if seaweed.process is None or seaweed.process.poll() is not None:
            seaweed.start()
