"""One filesystem abstraction over a local directory and ``s3://bucket/prefix``.

``Store`` owns where bytes live: relative paths (``releases/release=R/_release.json``) are resolved
against the store root, data moves through pyarrow's filesystems (LocalFileSystem / S3FileSystem), and
S3 control operations (bucket check, listing, delete, exclusive create for locks) and uploads go through
boto3.

Atomicity: a local write goes to a hidden temporary file in the same directory and is published with
``os.replace``; an S3 object is written by one PutObject of a body fully built in memory, so it becomes
visible only when the whole upload succeeded and a failed write never leaves a partial object.

Transient S3 failures (connection refused/reset, timeouts, 5xx, SlowDown) are retried with exponential
backoff for ``PROTXAI_S3_RETRY_SECONDS`` (default 60 s); opening a store checks the bucket with a short
budget (``PROTXAI_S3_CONNECT_SECONDS``, default 5 s) so a wrong endpoint fails fast. Refused credentials
are never retried. Every failure surfaces as one ``StoreError`` line naming the endpoint and bucket, never
the keys.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from pyarrow import fs as pafs
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from protxai_ray.errors import StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_CONNECT_SECONDS = 5.0

# Substrings of pyarrow/AWS SDK messages and botocore error codes that mean "the server refused us":
# retrying cannot help, so these fail at once.
_AUTH_MARKERS = ("ACCESS_DENIED", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden")
_TRANSIENT_MARKERS = (
    "NETWORK_CONNECTION",
    "curlCode",
    "Could not connect",
    "Connection reset",
    "Connection refused",
    "timed out",
    "Timeout",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_FAILURE",
    "SLOW_DOWN",
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "Broken pipe",
    "HTTP response code: 5",
)

Data = bytes | bytearray | memoryview | pa.Buffer


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _is_auth_error(exc: BaseException) -> bool:
    code = _client_error_code(exc)
    if code is not None:
        return code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")
    return any(marker in str(exc) for marker in _AUTH_MARKERS)


def _client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return str(response["Error"].get("Code", ""))
    return None


def _is_transient(exc: BaseException) -> bool:
    """True for failures a later attempt may not see: network trouble, timeouts, server errors."""
    if isinstance(exc, FileNotFoundError | StoreError) or _is_auth_error(exc):
        return False
    try:
        from botocore import exceptions as bex

        if isinstance(exc, bex.EndpointConnectionError | bex.ConnectionClosedError | bex.ConnectTimeoutError):
            return True
        if isinstance(exc, bex.ReadTimeoutError | bex.ConnectionError | bex.HTTPClientError):
            return True
        if isinstance(exc, bex.ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or _client_error_code(exc) in ("SlowDown", "RequestTimeout", "InternalError")
    except ImportError:  # pragma: no cover - boto3 is a dependency
        pass
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and any(m in str(exc) for m in _TRANSIENT_MARKERS)


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise StoreError(f"{name}={raw!r} is not a number of seconds") from exc


def _check_rel(rel: str) -> str:
    rel = rel.strip("/")
    if not rel or any(part in ("", ".", "..") for part in rel.split("/")):
        raise StoreError(f"invalid store path {rel!r}")
    return rel


class Store:
    """A store root: a local directory or ``s3://bucket/prefix`` (endpoint and keys from AWS_* env).

    ``Store("s3://b/p", check=False)`` skips the bucket check at open (for workers that must not fail
    fast while the server restarts); data operations are retried either way.
    """

    def __init__(self, uri: str | os.PathLike[str], *, check: bool = True) -> None:
        text = str(uri)
        self.retry_seconds = _env_seconds("PROTXAI_S3_RETRY_SECONDS", DEFAULT_RETRY_SECONDS)
        self._client: Any = None
        if text.startswith("s3://"):
            self.is_s3 = True
            rest = text[len("s3://") :].strip("/")
            if not rest:
                raise StoreError(f"store URI {text!r} names no bucket")
            self.bucket, _, prefix = rest.partition("/")
            self.prefix = prefix.strip("/")
            self.endpoint = (
                os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
            ).rstrip("/")
            self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
            self.base = f"{self.bucket}/{self.prefix}".rstrip("/")
            self.arrow_fs = self._make_arrow_fs()
            if check:
                self._check_bucket()
        else:
            self.is_s3 = False
            if text.startswith("file://"):
                text = text[len("file://") :]
            root = Path(text).expanduser().resolve()
            if root.exists() and not root.is_dir():
                raise StoreError(f"store {root} is a file, not a directory")
            self.bucket, self.prefix, self.endpoint, self.region = "", "", "", ""
            self.uri = str(root)
            self.base = str(root)
            self.arrow_fs = pafs.LocalFileSystem()

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    # ---- connection -------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"S3 endpoint {self.endpoint or 'AWS default'} bucket {self.bucket!r}"

    def _endpoint_parts(self) -> tuple[str, str]:
        """(scheme, host[:port]) of the endpoint; ('https', '') for AWS's default endpoint."""
        if not self.endpoint:
            return "https", ""
        match = re.match(r"^(https?)://(.+)$", self.endpoint)
        if match:
            return match.group(1), match.group(2)
        return "https", self.endpoint

    def _make_arrow_fs(self) -> pafs.S3FileSystem:
        scheme, host = self._endpoint_parts()
        kwargs: dict[str, Any] = {
            "region": self.region,
            "scheme": scheme,
            "connect_timeout": 3,
            "request_timeout": 60,
            # our own backoff (tenacity) decides; the SDK's own retries would multiply the budget
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        }
        if host:
            kwargs["endpoint_override"] = host
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            kwargs["access_key"], kwargs["secret_key"] = key, secret
            if os.environ.get("AWS_SESSION_TOKEN"):
                kwargs["session_token"] = os.environ["AWS_SESSION_TOKEN"]
        return pafs.S3FileSystem(**kwargs)

    @property
    def client(self) -> Any:
        """A boto3 S3 client for control operations (created lazily, SDK retries off)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=3, read_timeout=60, retries={"max_attempts": 1, "mode": "standard"}
            )
            # a fresh session per store: boto3's default session caches the credentials it first saw
            session = boto3.session.Session(
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
                aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
                region_name=self.region,
            )
            self._client = session.client("s3", endpoint_url=self.endpoint or None, config=config)
        return self._client

    def _check_bucket(self) -> None:
        budget = _env_seconds("PROTXAI_S3_CONNECT_SECONDS", DEFAULT_CONNECT_SECONDS)
        try:
            self._call("open", lambda: self.client.head_bucket(Bucket=self.bucket), budget=budget)
        except StoreError as exc:
            cause = exc.__cause__
            if cause is not None and _client_error_code(cause) in ("404", "NoSuchBucket", "NotFound"):
                raise StoreError(f"{self._where()}: bucket does not exist") from cause
            raise

    def _call(self, what: str, fn: Callable[[], T], *, budget: float | None = None) -> T:
        """Run one store operation, retrying transient failures; map the rest to StoreError."""
        if not self.is_s3:
            return fn()
        retrying = Retrying(
            stop=stop_after_delay(self.retry_seconds if budget is None else budget),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.2),
            retry=retry_if_exception(_is_transient),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "%s: %s failed (%s); retrying", self._where(), what, _message(state.outcome.exception())[:200]
            ),
        )
        try:
            return retrying(fn)
        except FileNotFoundError:
            raise
        except StoreError:
            raise
        except Exception as exc:
            if _is_auth_error(exc):
                raise StoreError(
                    f"{self._where()}: credentials refused during {what} ({_message(exc)[:160]})"
                ) from exc
            if _is_transient(exc):
                raise StoreError(
                    f"{self._where()}: unreachable during {what} ({_message(exc)[:160]})"
                ) from exc
            raise StoreError(f"{self._where()}: {what} failed ({_message(exc)[:200]})") from exc

    # ---- paths ------------------------------------------------------------------------------------

    def path(self, rel: str) -> str:
        """The path of ``rel`` in ``arrow_fs`` terms (local absolute path, or ``bucket/prefix/rel``)."""
        return f"{self.base}/{_check_rel(rel)}"

    def uri_of(self, rel: str) -> str:
        """The full URI of ``rel`` (local absolute path, or ``s3://bucket/prefix/rel``) for DuckDB."""
        return f"s3://{self.path(rel)}" if self.is_s3 else self.path(rel)

    def _key(self, rel: str) -> str:
        rel = _check_rel(rel)
        return f"{self.prefix}/{rel}" if self.prefix else rel

    # ---- reads ------------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        if not self.is_s3:
            return os.path.isfile(self.path(rel))
        info = self._call(f"stat {rel}", lambda: self.arrow_fs.get_file_info(self.path(rel)))
        return info.type == pafs.FileType.File

    def read_bytes(self, rel: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist."""
        if not self.is_s3:
            return Path(self.path(rel)).read_bytes()

        def read() -> bytes:
            with self.arrow_fs.open_input_stream(self.path(rel)) as stream:
                return stream.read()

        return self._call(f"read {rel}", read)

    def read_json(self, rel: str) -> Any:
        try:
            return json.loads(self.read_bytes(rel))
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.uri_of(rel)}: invalid JSON ({exc})") from exc

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of every file under ``prefix`` (recursive, sorted); hidden temp files excluded."""
        prefix = prefix.strip("/")
        if not self.is_s3:
            root = Path(self.base) / prefix if prefix else Path(self.base)
            if not root.is_dir():
                return []
            out = []
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    if not name.startswith("."):
                        out.append(
                            os.path.relpath(os.path.join(dirpath, name), self.base).replace(os.sep, "/")
                        )
            return sorted(out)
        return sorted(
            rel for rel in self._list_keys(prefix, dirs=False) if not rel.rsplit("/", 1)[-1].startswith(".")
        )

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Names of the immediate sub-directories of ``prefix`` (``run_id=ABC`` ...), sorted."""
        prefix = prefix.strip("/")
        if not self.is_s3:
            root = Path(self.base) / prefix if prefix else Path(self.base)
            if not root.is_dir():
                return []
            return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        return sorted(self._list_keys(prefix, dirs=True))

    def _list_keys(self, prefix: str, *, dirs: bool) -> list[str]:
        key_prefix = self._key(prefix) + "/" if prefix else (self.prefix + "/" if self.prefix else "")
        root_len = len(self.prefix) + 1 if self.prefix else 0

        def run() -> list[str]:
            found: list[str] = []
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key_prefix}
            if dirs:
                kwargs["Delimiter"] = "/"
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                if dirs:
                    found += [
                        p["Prefix"][len(key_prefix) :].strip("/") for p in page.get("CommonPrefixes", [])
                    ]
                else:
                    found += [
                        o["Key"][root_len:] for o in page.get("Contents", []) if not o["Key"].endswith("/")
                    ]
            return found

        return self._call(f"list {prefix or '/'}", run)

    # ---- writes -----------------------------------------------------------------------------------

    def write_bytes_atomic(self, rel: str, data: Data) -> None:
        """Publish ``data`` at ``rel`` all at once: readers see the old object or the new, never a part."""
        if not self.is_s3:
            target = Path(self.path(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
            try:
                with open(tmp, "wb") as handle:
                    handle.write(memoryview(data))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            return

        # One PutObject of a body already complete in memory: the object appears only when the request
        # succeeds. (A streamed multipart upload could be completed by a close() after a failed write;
        # pyarrow's streams have no abort, so uploads go through boto3.)
        body = data if isinstance(data, bytes) else bytes(memoryview(data))
        key = self._key(rel)
        self._call(f"write {rel}", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body))

    def write_json_atomic(self, rel: str, obj: Any) -> None:
        self.write_bytes_atomic(rel, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    def create_exclusive(self, rel: str, data: Data) -> bool:
        """Create ``rel`` only if it does not exist (a lock); False when someone else holds it.

        Local: ``O_CREAT | O_EXCL``. S3: a conditional PUT with ``If-None-Match: *`` (SeaweedFS and AWS
        both answer 412 when the key exists).
        """
        if not self.is_s3:
            target = Path(self.path(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(memoryview(data))
            return True
        from botocore.exceptions import ClientError

        def put() -> bool:
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(rel), Body=bytes(data), IfNoneMatch="*"
                )
            except ClientError as exc:
                if _client_error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return False
                raise
            return True

        return self._call(f"create {rel}", put)

    def delete(self, rel: str) -> None:
        """Remove ``rel`` if present (missing is not an error)."""
        if not self.is_s3:
            Path(self.path(rel)).unlink(missing_ok=True)
            return
        self._call(f"delete {rel}", lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(rel)))

    def delete_many(self, rels: list[str]) -> None:
        """Remove several objects (batched on S3)."""
        if not self.is_s3:
            for rel in rels:
                self.delete(rel)
            return
        for start in range(0, len(rels), 1000):
            chunk = [{"Key": self._key(r)} for r in rels[start : start + 1000]]
            if chunk:
                self._call(
                    "delete",
                    lambda chunk=chunk: self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
                    ),
                )


def open_store(store: Store | str | os.PathLike[str], *, check: bool = True) -> Store:
    """``store`` itself when it already is a Store, else ``Store(store)``."""
    return store if isinstance(store, Store) else Store(store, check=check)
