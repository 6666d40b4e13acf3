"""A lock object in the store, so two scheduled re-runs of the same release never run at once.

The lock is ``S/locks/<name>.json`` holding ``{"owner", "host", "pid", "acquired", "expires"}``.

- S3: created with a conditional PUT (``If-None-Match: *``; AWS S3 and SeaweedFS answer 412 when the key
  exists). An expired lock (its holder died) is taken over with ``If-Match: <etag>`` so two takers cannot
  both win. After every write the object is read back and must carry our owner token (guards against a
  server that silently ignores the condition headers).
- Local directory: ``os.open(O_CREAT | O_EXCL)``; an expired lock is moved aside with an atomic rename
  and checked to be the stale one before the lock is created again.

Release deletes the lock only while it is still ours.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from protxai_ray.errors import RunError, StoreError

DEFAULT_TTL_S = 6 * 3600.0


class ReleaseLocked(RunError):
    """Another process holds the lock (and it has not expired)."""


def _lock_body(owner: str, ttl_s: float) -> dict:
    now = time.time()
    return {
        "owner": owner,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired": now,
        "expires": now + ttl_s,
    }


def _describe(info: dict) -> str:
    left = float(info.get("expires", 0)) - time.time()
    return f"held by {info.get('host', '?')} pid {info.get('pid', '?')}, expires in {max(left, 0):.0f}s"


class StoreLock:
    """``with StoreLock(store_uri, "rerun-2024_05"):`` — raises ``ReleaseLocked`` when already held."""

    def __init__(self, store_uri: str, name: str, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.store_uri = store_uri.rstrip("/")
        self.name = name
        self.ttl_s = ttl_s
        self.owner = uuid.uuid4().hex
        self._etag: str | None = None
        self._held = False
        if self.store_uri.startswith("s3://"):
            parsed = urlparse(self.store_uri)
            self._bucket = parsed.netloc
            prefix = parsed.path.strip("/")
            self._key = f"{prefix}/locks/{name}.json" if prefix else f"locks/{name}.json"
            self._path = None
        else:
            self._path = Path(self.store_uri) / "locks" / f"{name}.json"

    # -- public ---------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return f"s3://{self._bucket}/{self._key}" if self._path is None else str(self._path)

    def acquire(self) -> None:
        if self._path is None:
            self._acquire_s3()
        else:
            self._acquire_local()
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._path is None:
            self._release_s3()
        else:
            self._release_local()

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # -- local ----------------------------------------------------------------------------------
    def _create_local(self) -> bool:
        try:
            fd = os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(_lock_body(self.owner, self.ttl_s), fh)
        return True

    def _read_local(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return {}  # being written right now: treat as held, not expired

    def _acquire_local(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._create_local():
            return
        info = self._read_local(self._path)
        if info is None:  # released between our two calls
            if self._create_local():
                return
            info = self._read_local(self._path) or {}
        if float(info.get("expires", float("inf"))) > time.time():
            raise ReleaseLocked(f"lock {self._path} {_describe(info)}")
        aside = self._path.with_name(f"{self._path.name}.stale-{self.owner}")
        try:
            os.rename(self._path, aside)
        except FileNotFoundError:
            raise ReleaseLocked(f"lock {self._path} was taken over by another process") from None
        moved = self._read_local(aside) or {}
        if moved.get("owner") != info.get("owner"):
            # We moved a fresh lock someone else just created: put it back and give way.
            try:
                os.link(aside, self._path)
            finally:
                aside.unlink(missing_ok=True)
            raise ReleaseLocked(f"lock {self._path} was taken over by another process")
        aside.unlink(missing_ok=True)
        if not self._create_local():
            raise ReleaseLocked(f"lock {self._path} was taken over by another process")

    def _release_local(self) -> None:
        info = self._read_local(self._path)
        if info and info.get("owner") == self.owner:
            self._path.unlink(missing_ok=True)

    # -- S3 -------------------------------------------------------------------------------------
    def _client(self):
        import boto3

        return boto3.client("s3")

    def _acquire_s3(self) -> None:
        import botocore.exceptions

        client = self._client()
        body = json.dumps(_lock_body(self.owner, self.ttl_s)).encode()
        try:
            resp = client.put_object(Bucket=self._bucket, Key=self._key, Body=body, IfNoneMatch="*")
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") not in (409, 412):
                raise StoreError(
                    f"cannot write lock {self.location}: {exc.response['Error'].get('Code')}"
                ) from exc
            resp = self._take_over_expired(client, body)
        self._etag = resp.get("ETag")
        self._check_ours(client)

    def _take_over_expired(self, client, body: bytes) -> dict:
        import botocore.exceptions

        try:
            current = client.get_object(Bucket=self._bucket, Key=self._key)
        except botocore.exceptions.ClientError as exc:
            raise ReleaseLocked(f"lock {self.location} changed while reading it") from exc
        info = json.loads(current["Body"].read() or b"{}")
        if float(info.get("expires", float("inf"))) > time.time():
            raise ReleaseLocked(f"lock {self.location} {_describe(info)}")
        try:
            return client.put_object(Bucket=self._bucket, Key=self._key, Body=body, IfMatch=current["ETag"])
        except botocore.exceptions.ClientError as exc:
            raise ReleaseLocked(f"lock {self.location} was taken over by another process") from exc

    def _check_ours(self, client) -> None:
        info = json.loads(client.get_object(Bucket=self._bucket, Key=self._key)["Body"].read() or b"{}")
        if info.get("owner") != self.owner:
            raise ReleaseLocked(f"lock {self.location} {_describe(info)}")

    def _release_s3(self) -> None:
        import botocore.exceptions

        client = self._client()
        try:
            current = client.get_object(Bucket=self._bucket, Key=self._key)
        except botocore.exceptions.ClientError:
            return
        if json.loads(current["Body"].read() or b"{}").get("owner") != self.owner:
            return  # expired and taken over: not ours to delete
        try:
            client.delete_object(Bucket=self._bucket, Key=self._key, IfMatch=current["ETag"])
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 412:
                raise StoreError(
                    f"cannot remove lock {self.location}: {exc.response['Error'].get('Code')}"
                ) from exc
