"""Run manifests: the single commit point of an attribution run (README "Store").

``S/runs/run_id=ID/manifest.json`` lists the committed shards of run ``ID``. Shard data files are written
first under deterministic names (``predictions/shard-00000.parquet`` ...), then the shard is added to the
manifest; a shard is visible to queries only once it is listed. Every manifest change is a
compare-and-swap so that two drivers of the same run (a resubmission, a resumed driver racing an old one)
never lose each other's commits:

- ``s3://`` stores: ``PutObject`` with ``If-Match: <etag>`` (or ``If-None-Match: *`` for a new manifest);
  a ``412 PreconditionFailed`` means someone else committed first, so we re-read and re-apply.
- local stores: an exclusive ``fcntl.flock`` on ``manifest.json.lock`` around read-modify-replace
  (released by the kernel if the process dies, so there are no stale locks).

Transient S3 errors (server restarting, connection refused, 5xx) are retried with exponential backoff.

Example::

    manifests = RunManifests("s3://bucket/store")
    manifests.create("20261125T120000Z-abc123", header)
    manifests.commit_shard("20261125T120000Z-abc123", {"shard": "00000", "proteins": 64, "files": {...}})
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from protxai_ray.errors import StoreError

MANIFEST = "manifest.json"
RUN_TABLE_NAMES = ("predictions", "residues", "heads", "failures")


def run_dir(run_id: str) -> str:
    """Path of a run relative to the store root (hive partition ``run_id=ID``)."""
    return f"runs/run_id={run_id}"


def shard_files(shard: str) -> dict[str, str]:
    """Data files of one shard, relative to the run directory (deterministic: retries overwrite)."""
    return {table: f"{table}/shard-{shard}.parquet" for table in RUN_TABLE_NAMES}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StoreError(f"{uri}: no bucket in S3 URI")
    return bucket, prefix.strip("/")


def _is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: the server is down or overloaded, not a refusal of our request."""
    import botocore.exceptions as bx

    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ReadTimeoutError)):
        return True
    if isinstance(exc, (bx.ConnectTimeoutError, bx.HTTPClientError)):
        return True
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}
    return isinstance(exc, ConnectionError)


# Up to ~2 minutes of outage: enough for a restarting S3 server, short enough to fail a dead one.
s3_retry = retry(
    retry=retry_if_exception(_is_transient),
    wait=wait_exponential(multiplier=0.25, max=8),
    stop=stop_after_delay(120),
    reraise=True,
)


def s3_client():
    """A boto3 S3 client configured from the standard AWS_* variables."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )


class ConflictError(Exception):
    """The manifest changed between our read and our conditional write (someone else committed)."""


class RunManifests:
    """Read and update run manifests of one store (local directory or ``s3://bucket/prefix``)."""

    def __init__(self, store_uri: str) -> None:
        self.store_uri = store_uri.rstrip("/")
        self.is_s3 = self.store_uri.startswith("s3://")
        if self.is_s3:
            self.bucket, self.prefix = split_s3_uri(self.store_uri)
            self._client = s3_client()
        else:
            self.root = Path(self.store_uri.removeprefix("file://"))

    # -- paths ---------------------------------------------------------------------------------
    def _key(self, run_id: str) -> str:
        rel = f"{run_dir(run_id)}/{MANIFEST}"
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _path(self, run_id: str) -> Path:
        return self.root / run_dir(run_id) / MANIFEST

    # -- reads ---------------------------------------------------------------------------------
    def read(self, run_id: str) -> dict[str, Any] | None:
        """The manifest of ``run_id``, or None if the run has never been started."""
        return self._read_versioned(run_id)[0]

    def list_run_ids(self) -> list[str]:
        """Run ids that have a manifest, sorted (run ids are sortable by start time)."""
        if self.is_s3:
            prefix = f"{self.prefix}/runs/" if self.prefix else "runs/"
            ids = []
            for page in self._paginate(prefix):
                for item in page.get("CommonPrefixes", []):
                    name = item["Prefix"][len(prefix) :].strip("/")
                    if name.startswith("run_id=") and self.read(name[len("run_id=") :]) is not None:
                        ids.append(name[len("run_id=") :])
            return sorted(ids)
        base = self.root / "runs"
        if not base.is_dir():
            return []
        return sorted(p.parent.name[len("run_id=") :] for p in base.glob(f"run_id=*/{MANIFEST}"))

    @s3_retry
    def _paginate_once(self, prefix: str, token: str | None) -> dict:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
        if token:
            kwargs["ContinuationToken"] = token
        return self._client.list_objects_v2(**kwargs)

    def _paginate(self, prefix: str) -> Iterator[dict]:
        token = None
        while True:
            page = self._paginate_once(prefix, token)
            yield page
            token = page.get("NextContinuationToken")
            if not token:
                return

    @s3_retry
    def _read_s3(self, run_id: str) -> tuple[dict | None, str | None]:
        import botocore.exceptions as bx

        try:
            obj = self._client.get_object(Bucket=self.bucket, Key=self._key(run_id))
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404", "NotFound"}:
                return None, None
            if code == "NoSuchBucket":
                raise StoreError(f"{self.store_uri}: bucket {self.bucket} does not exist") from None
            raise
        return json.loads(obj["Body"].read()), obj["ETag"]

    def _read_versioned(self, run_id: str) -> tuple[dict | None, str | None]:
        if self.is_s3:
            return self._read_s3(run_id)
        path = self._path(run_id)
        if not path.exists():
            return None, None
        return json.loads(path.read_text()), None

    # -- compare-and-swap update ----------------------------------------------------------------
    def update(self, run_id: str, change: Callable[[dict | None], dict | None]) -> dict | None:
        """Apply ``change(old) -> new`` atomically; ``new is old`` or equal means no write.

        ``change`` may be called several times (once per conflicting concurrent commit), so it must
        be a pure function of the manifest it is given.
        """
        if not self.is_s3:
            return self._update_local(run_id, change)
        for _ in range(1000):
            old, etag = self._read_s3(run_id)
            new = change(json.loads(json.dumps(old)) if old is not None else None)
            if new is None or new == old:
                return old
            try:
                self._put_s3(run_id, new, etag)
                return new
            except ConflictError:
                continue
        raise StoreError(f"{self.store_uri}: manifest of run {run_id} keeps changing under us")

    @s3_retry
    def _put_s3(self, run_id: str, manifest: dict, etag: str | None) -> None:
        import botocore.exceptions as bx

        body = encode_manifest(manifest)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(run_id),
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in {"PreconditionFailed", "ConditionalRequestConflict"} or status in (409, 412):
                raise ConflictError(code) from None
            if code == "NoSuchBucket":
                raise StoreError(f"{self.store_uri}: bucket {self.bucket} does not exist") from None
            raise

    def _update_local(self, run_id: str, change: Callable[[dict | None], dict | None]) -> dict | None:
        path = self._path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _flock(path.with_name(MANIFEST + ".lock")):
            old = json.loads(path.read_text()) if path.exists() else None
            new = change(json.loads(json.dumps(old)) if old is not None else None)
            if new is None or new == old:
                return old
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(encode_manifest(new))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return new

    # -- the operations the pipeline needs ---------------------------------------------------------
    def create(self, run_id: str, header: dict[str, Any]) -> dict[str, Any]:
        """Create the manifest of a new run, or return the existing one (resume).

        ``header`` holds everything but ``shards``; an existing run must have the same ``fingerprint``
        (same release, model weights, target, method and shard plan), otherwise resuming it would mix
        incompatible results, and a StoreError says so.
        """

        def change(old: dict | None) -> dict | None:
            if old is None:
                return {**header, "shards": [], "finished": None}
            return None

        manifest = self.update(run_id, change)
        assert manifest is not None
        if manifest.get("fingerprint") != header.get("fingerprint"):
            raise StoreError(
                f"run {run_id} already exists in {self.store_uri} with different inputs or settings "
                "(release, model, target, method or shard plan); use a new --run-id"
            )
        return manifest

    def commit_shard(self, run_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Add one shard (its files already written) to the manifest; a shard already listed is kept."""

        def change(old: dict | None) -> dict | None:
            if old is None:
                raise StoreError(f"run {run_id}: manifest vanished from {self.store_uri}")
            if any(s["shard"] == entry["shard"] for s in old["shards"]):
                return None  # committed by an earlier or concurrent driver: its files are identical
            old["shards"] = sorted([*old["shards"], entry], key=lambda s: s["shard"])
            return old

        manifest = self.update(run_id, change)
        assert manifest is not None
        return manifest

    def finish(self, run_id: str, finished: str, summary: dict[str, Any]) -> dict[str, Any]:
        """Mark the run finished (all planned shards committed); a finished run is left as it is."""

        def change(old: dict | None) -> dict | None:
            if old is None:
                raise StoreError(f"run {run_id}: manifest vanished from {self.store_uri}")
            if old.get("finished"):
                return None
            old["finished"] = finished
            old["summary"] = summary
            return old

        manifest = self.update(run_id, change)
        assert manifest is not None
        return manifest


def committed_shards(manifest: dict[str, Any] | None) -> set[str]:
    """Shard ids listed in a manifest."""
    return {s["shard"] for s in (manifest or {}).get("shards", [])}


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """Stable JSON bytes (sorted keys, indented) for a manifest."""
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()


@contextlib.contextmanager
def _flock(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
