"""Where a store's bytes live: the ``Backend`` protocol and its two implementations.

A backend works on keys relative to the store root (``runs/run_id=R/manifest.json``), already checked
by ``Store``. Five kinds of operation, nothing else:

- read (``read``, ``read_versioned``, ``exists``, ``size``),
- write atomically (``write``: readers see the old object or the new one, never a part),
- list (``list``, ``list_dirs``),
- compare-and-swap (``put_if``, ``delete_if``: the write happens only if the object is still the version
  we read, or absent when ``version`` is None),
- delete (``delete``, ``delete_many``).

Local directory: a write goes to a hidden temporary file in the same directory, is fsynced and published
with ``os.replace``; compare-and-swap holds an ``fcntl.flock`` on a hidden sibling lock file (released by
the kernel if the process dies) and compares a SHA-256 of the current bytes. S3: one PutObject of a body
fully built in memory (the object appears only when the request succeeded); compare-and-swap is a
conditional request (``If-Match: <etag>`` / ``If-None-Match: *``; AWS S3 and SeaweedFS answer 412 when
the condition fails). Files are written 0644, like the data, so colleagues sharing a store read them all.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from protxai_ray.store import s3

Data = bytes | bytearray | memoryview | pa.Buffer
FILE_MODE = 0o644


class Backend(Protocol):
    """The storage operations the store needs (keys are relative to the store root)."""

    def exists(self, rel: str) -> bool: ...
    def size(self, rel: str) -> int | None: ...
    def read(self, rel: str) -> bytes: ...
    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]: ...
    def write(self, rel: str, data: Data) -> None: ...
    def put_if(self, rel: str, data: Data, version: str | None) -> bool: ...
    def delete_if(self, rel: str, version: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def list_dirs(self, prefix: str) -> list[str]: ...
    def list_sizes(self, prefix: str) -> dict[str, int]: ...
    def delete(self, rel: str) -> None: ...
    def delete_many(self, rels: list[str]) -> None: ...


def _hidden(name: str) -> bool:
    return name.startswith(".")


class LocalBackend:
    """A store root on a local (or network-mounted) filesystem."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, rel: str) -> Path:
        return Path(self.root) / rel

    def exists(self, rel: str) -> bool:
        return self._path(rel).is_file()

    def size(self, rel: str) -> int | None:
        try:
            return self._path(rel).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, rel: str) -> bytes:
        return self._path(rel).read_bytes()

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        try:
            data = self._path(rel).read_bytes()
        except FileNotFoundError:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def write(self, rel: str, data: Data) -> None:
        target = self._path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(memoryview(data))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, FILE_MODE)  # the umask may have narrowed it
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, rel: str) -> Iterator[None]:
        target = self._path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{target.name}.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def put_if(self, rel: str, data: Data, version: str | None) -> bool:
        with self._locked(rel):
            if self.read_versioned(rel)[1] != version:
                return False
            self.write(rel, data)
            return True

    def delete_if(self, rel: str, version: str) -> bool:
        with self._locked(rel):
            if self.read_versioned(rel)[1] != version:
                return False
            self._path(rel).unlink(missing_ok=True)
            return True

    def list(self, prefix: str) -> list[str]:
        root = self._path(prefix) if prefix else Path(self.root)
        if not root.is_dir():
            return []
        out = []
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not _hidden(d)]
            out += [
                os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                for name in files
                if not _hidden(name)
            ]
        return sorted(out)

    def list_dirs(self, prefix: str) -> list[str]:
        root = self._path(prefix) if prefix else Path(self.root)
        if not root.is_dir():
            return []
        return sorted(e.name for e in os.scandir(root) if e.is_dir() and not _hidden(e.name))

    def list_sizes(self, prefix: str) -> dict[str, int]:
        sizes = {}
        for rel in self.list(prefix):
            with contextlib.suppress(FileNotFoundError):
                sizes[rel] = self._path(rel).stat().st_size
        return sizes

    def delete(self, rel: str) -> None:
        self._path(rel).unlink(missing_ok=True)

    def delete_many(self, rels: list[str]) -> None:
        for rel in rels:
            self.delete(rel)


class S3Backend:
    """A store root ``s3://bucket/prefix``; every call retried through ``s3.call_with_retry``."""

    def __init__(self, bucket: str, prefix: str, settings: s3.S3Settings) -> None:
        self.bucket, self.prefix, self.settings = bucket, prefix, settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3.s3_client(self.settings)
        return self._client

    def where(self) -> str:
        return self.settings.where(self.bucket)

    def call(self, what: str, fn, budget: float | None = None):
        return s3.call_with_retry(fn, what, self.where(), budget)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def check_bucket(self, budget: float) -> None:
        from protxai_ray.errors import StoreError

        try:
            self.call("open", lambda: self.client.head_bucket(Bucket=self.bucket), budget)
        except StoreError as exc:
            cause = exc.__cause__
            if cause is not None and s3.error_code(cause) in ("404", "NoSuchBucket", "NotFound"):
                raise StoreError(f"{self.where()}: bucket does not exist") from cause
            raise

    def _head(self, rel: str) -> dict | None:
        def head() -> dict | None:
            try:
                return self.client.head_object(Bucket=self.bucket, Key=self.key(rel))
            except Exception as exc:
                if s3.is_not_found(exc):
                    return None
                raise

        return self.call(f"stat {rel}", head)

    def exists(self, rel: str) -> bool:
        return self._head(rel) is not None

    def size(self, rel: str) -> int | None:
        head = self._head(rel)
        return None if head is None else int(head["ContentLength"])

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        def get() -> tuple[bytes | None, str | None]:
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=self.key(rel))
            except Exception as exc:
                if s3.is_not_found(exc) and s3.error_code(exc) != "NoSuchBucket":
                    return None, None
                raise
            return obj["Body"].read(), obj["ETag"]

        return self.call(f"read {rel}", get)

    def read(self, rel: str) -> bytes:
        data, _ = self.read_versioned(rel)
        if data is None:
            raise FileNotFoundError(f"s3://{self.bucket}/{self.key(rel)}")
        return data

    def write(self, rel: str, data: Data) -> None:
        body = data if isinstance(data, bytes) else bytes(memoryview(data))
        key = self.key(rel)
        self.call(f"write {rel}", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body))

    def put_if(self, rel: str, data: Data, version: str | None) -> bool:
        body = data if isinstance(data, bytes) else bytes(memoryview(data))
        condition = {"IfMatch": version} if version else {"IfNoneMatch": "*"}

        def put() -> bool:
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=body, **condition)
            except Exception as exc:
                if s3.is_conflict(exc) or (version and s3.is_not_found(exc)):
                    return False
                raise
            return True

        return self.call(f"write {rel}", put)

    def delete_if(self, rel: str, version: str) -> bool:
        def delete() -> bool:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key(rel), IfMatch=version)
            except Exception as exc:
                if s3.is_conflict(exc) or s3.is_not_found(exc):
                    return False
                raise
            return True

        return self.call(f"delete {rel}", delete)

    def _list_keys(self, prefix: str, *, dirs: bool) -> list[str]:
        return list(self._list(prefix, dirs=dirs))

    def _list(self, prefix: str, *, dirs: bool) -> dict[str, int]:
        """Keys (relative to the root) with their sizes, or sub-directory names (size 0) with ``dirs``."""
        key_prefix = self.key(prefix) + "/" if prefix else (self.prefix + "/" if self.prefix else "")
        root_len = len(self.prefix) + 1 if self.prefix else 0

        def run() -> dict[str, int]:
            found: dict[str, int] = {}
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key_prefix}
            if dirs:
                kwargs["Delimiter"] = "/"
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                if dirs:
                    found.update(
                        (p["Prefix"][len(key_prefix) :].strip("/"), 0) for p in page.get("CommonPrefixes", [])
                    )
                else:
                    found.update(
                        (o["Key"][root_len:], int(o["Size"]))
                        for o in page.get("Contents", [])
                        if not o["Key"].endswith("/")
                    )
            return found

        return self.call(f"list {prefix or '/'}", run)

    def list(self, prefix: str) -> list[str]:
        keys = self._list_keys(prefix, dirs=False)
        return sorted(k for k in keys if not any(_hidden(part) for part in k.split("/")))

    def list_dirs(self, prefix: str) -> list[str]:
        return sorted(d for d in self._list_keys(prefix, dirs=True) if not _hidden(d))

    def list_sizes(self, prefix: str) -> dict[str, int]:
        found = self._list(prefix, dirs=False)
        return {k: found[k] for k in sorted(found) if not any(_hidden(part) for part in k.split("/"))}

    def delete(self, rel: str) -> None:
        key = self.key(rel)
        self.call(f"delete {rel}", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def delete_many(self, rels: list[str]) -> None:
        for start in range(0, len(rels), 1000):
            chunk = [{"Key": self.key(r)} for r in rels[start : start + 1000]]
            if chunk:
                self.call(
                    "delete",
                    lambda chunk=chunk: self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
                    ),
                )
