"""S3 in one place: the URI parser, the connection settings, the client factories and the retry policy.

Every S3 access of the package (the store, UniProt sources on S3, a ``reldate.txt`` on S3) goes through
this module, so endpoint, region and credentials are read the same way everywhere:

- endpoint: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (unset: AWS's own endpoint);
- region: ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (default ``us-east-1``);
- credentials: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` when set, else
  boto3's usual chain (instance profile, web identity, ``~/.aws``).

The SDKs' own retries are off; ``call_with_retry`` retries transient failures (connection refused/reset,
timeouts, 5xx, SlowDown) with exponential backoff for ``PROTXAI_S3_RETRY_SECONDS`` (default 120 s: long
enough for a restarting server, short enough to fail a dead one). Refused credentials are never retried.
Error messages name the endpoint and bucket, never the keys.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from protxai_ray.errors import StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_RETRY_SECONDS = 120.0
DEFAULT_CONNECT_SECONDS = 5.0

# botocore error codes (and substrings of pyarrow / AWS SDK messages) meaning "the server refused us".
_AUTH_CODES = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")
_AUTH_MARKERS = ("ACCESS_DENIED", *_AUTH_CODES[1:])
_TRANSIENT_CODES = ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable")
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
NOT_FOUND_CODES = ("NoSuchKey", "404", "NotFound")
CONFLICT_CODES = ("PreconditionFailed", "412", "409", "ConditionalRequestConflict")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> (``bucket``, ``a/b``); the key part may be empty. StoreError without a bucket
    or with a ``.``/``..`` segment (a key that would escape its prefix on some servers)."""
    if not uri.startswith("s3://"):
        raise StoreError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    key = key.strip("/")
    if not bucket:
        raise StoreError(f"S3 URI {uri!r} names no bucket")
    if key and any(part in (".", "..") for part in key.split("/")):
        raise StoreError(f"S3 URI {uri!r}: '.' and '..' are not allowed in keys")
    return bucket, key


def message(exc: BaseException) -> str:
    """The exception's text on one line."""
    return " ".join(str(exc).split())


def error_code(exc: BaseException) -> str | None:
    """The botocore ``ClientError`` code (``NoSuchKey``, ``412`` ...), None for other exceptions."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return str(response["Error"].get("Code", ""))
    return None


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND_CODES or http_status(exc) == 404


def is_conflict(exc: BaseException) -> bool:
    """A conditional write lost (``If-Match`` / ``If-None-Match`` not met)."""
    return error_code(exc) in CONFLICT_CODES or http_status(exc) in (409, 412)


def is_auth_error(exc: BaseException) -> bool:
    code = error_code(exc)
    if code is not None:
        return code in _AUTH_CODES
    return any(marker in str(exc) for marker in _AUTH_MARKERS)


def is_transient(exc: BaseException) -> bool:
    """True for failures a later attempt may not see: network trouble, timeouts, server errors."""
    if isinstance(exc, FileNotFoundError | StoreError) or is_auth_error(exc):
        return False
    from botocore import exceptions as bex

    if isinstance(exc, bex.EndpointConnectionError | bex.ConnectionClosedError | bex.ConnectTimeoutError):
        return True
    if isinstance(exc, bex.ReadTimeoutError | bex.ConnectionError | bex.HTTPClientError):
        return True
    if isinstance(exc, bex.ClientError):
        return http_status(exc) >= 500 or error_code(exc) in _TRANSIENT_CODES
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and any(m in str(exc) for m in _TRANSIENT_MARKERS)


def env_seconds(name: str, default: float) -> float:
    """A duration in seconds from the environment; StoreError naming the variable if it is not a number."""
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise StoreError(f"{name}={raw!r} is not a number of seconds") from exc


@dataclass(frozen=True)
class S3Settings:
    """Where S3 is and who we are, read from the standard AWS_* variables at construction."""

    endpoint: str
    region: str

    @classmethod
    def from_env(cls) -> S3Settings:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return cls(endpoint=endpoint.rstrip("/"), region=region)

    def where(self, bucket: str) -> str:
        """How errors name the target (never the keys)."""
        return f"S3 endpoint {self.endpoint or 'AWS default'} bucket {bucket!r}"

    def endpoint_parts(self) -> tuple[str, str]:
        """(scheme, host[:port]) of the endpoint; ('https', '') for AWS's default endpoint."""
        if not self.endpoint:
            return "https", ""
        match = re.match(r"^(https?)://(.+)$", self.endpoint)
        return (match.group(1), match.group(2)) if match else ("https", self.endpoint)


def s3_client(settings: S3Settings | None = None) -> Any:
    """A boto3 S3 client (SDK retries off: ``call_with_retry`` decides)."""
    import boto3
    from botocore.config import Config

    settings = settings or S3Settings.from_env()
    config = Config(connect_timeout=3, read_timeout=60, retries={"max_attempts": 1, "mode": "standard"})
    # a fresh session per client: boto3's default session caches the credentials it first saw
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region_name=settings.region,
    )
    return session.client("s3", endpoint_url=settings.endpoint or None, config=config)


def arrow_s3_fs(settings: S3Settings | None = None) -> Any:
    """A ``pyarrow.fs.S3FileSystem`` on the same endpoint and credentials (SDK retries off)."""
    from pyarrow import fs as pafs

    settings = settings or S3Settings.from_env()
    scheme, host = settings.endpoint_parts()
    kwargs: dict[str, Any] = {
        "region": settings.region,
        "scheme": scheme,
        "connect_timeout": 3,
        "request_timeout": 60,
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


def call_with_retry(fn: Callable[[], T], what: str, where: str, budget: float | None = None) -> T:
    """``fn()``, retrying transient failures for ``budget`` seconds (default ``PROTXAI_S3_RETRY_SECONDS``);
    FileNotFoundError and StoreError pass through, anything else becomes one StoreError line naming
    ``where`` (endpoint and bucket) and ``what`` failed."""
    if budget is None:
        budget = env_seconds("PROTXAI_S3_RETRY_SECONDS", DEFAULT_RETRY_SECONDS)
    retrying = Retrying(
        stop=stop_after_delay(budget),
        wait=wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.2),
        retry=retry_if_exception(is_transient),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "%s: %s failed (%s); retrying", where, what, message(state.outcome.exception())[:200]
        ),
    )
    try:
        return retrying(fn)
    except (FileNotFoundError, StoreError):
        raise
    except Exception as exc:
        if is_auth_error(exc):
            raise StoreError(f"{where}: credentials refused during {what} ({message(exc)[:160]})") from exc
        if is_transient(exc):
            raise StoreError(f"{where}: unreachable during {what} ({message(exc)[:160]})") from exc
        raise StoreError(f"{where}: {what} failed ({message(exc)[:200]})") from exc
