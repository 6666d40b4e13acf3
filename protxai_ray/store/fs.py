"""``Store``: a store root (a local directory or ``s3://bucket/prefix``) and the paths inside it.

``Store`` resolves and checks relative paths (``releases/release=R/_release.json``; no ``..``, no empty
segment) and hands the bytes to its ``Backend`` (``store/backend.py``: local or S3). Data files move
through pyarrow's filesystem (``arrow_fs``) for reads; every write, control operation and compare-and-swap
goes through the backend. S3 endpoint, credentials and the retry policy come from ``store/s3.py``.

Opening an S3 store checks the bucket with a short budget (``PROTXAI_S3_CONNECT_SECONDS``, default 5 s) so
a wrong endpoint fails fast; ``Store(uri, check=False)`` skips that (workers that must not fail while the
server restarts). Every failure surfaces as one ``StoreError`` line naming the endpoint and bucket, never
the keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pyarrow import fs as pafs

from protxai_ray.errors import StoreError
from protxai_ray.store import s3
from protxai_ray.store.backend import Backend, Data, LocalBackend, S3Backend


def check_rel(rel: str) -> str:
    """``rel`` without surrounding slashes; StoreError for an empty path or a ``.``/``..``/empty segment."""
    rel = rel.strip("/")
    if not rel or any(part in ("", ".", "..") for part in rel.split("/")):
        raise StoreError(f"invalid store path {rel!r}")
    return rel


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return check_rel(prefix) if prefix else ""


class Store:
    """A store root: a local directory or ``s3://bucket/prefix`` (endpoint and keys from AWS_* env)."""

    backend: Backend

    def __init__(self, uri: str | os.PathLike[str], *, check: bool = True) -> None:
        text = str(uri)
        if text.startswith("s3://"):
            self.is_s3 = True
            self.bucket, self.prefix = s3.parse_s3_uri(text)
            self.s3_settings = settings = s3.S3Settings.from_env()
            self.endpoint, self.region = settings.endpoint, settings.region
            self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
            self.base = f"{self.bucket}/{self.prefix}".rstrip("/")
            self.backend = S3Backend(self.bucket, self.prefix, settings)
            self.arrow_fs = s3.arrow_s3_fs(settings)
            if check:
                budget = s3.env_seconds("PROTXAI_S3_CONNECT_SECONDS", s3.DEFAULT_CONNECT_SECONDS)
                self.backend.check_bucket(budget)
        else:
            self.is_s3 = False
            self.s3_settings = None
            root = Path(text.removeprefix("file://")).expanduser().resolve()
            if root.exists() and not root.is_dir():
                raise StoreError(f"store {root} is a file, not a directory")
            self.bucket, self.prefix, self.endpoint, self.region = "", "", "", ""
            self.uri = str(root)
            self.base = str(root)
            self.backend = LocalBackend(self.base)
            self.arrow_fs = pafs.LocalFileSystem()

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    @property
    def client(self) -> Any:
        """The boto3 client of an S3 store (tests and diagnostics; the store's own calls use the backend)."""
        if not isinstance(self.backend, S3Backend):
            raise StoreError(f"{self.uri} is not an S3 store")
        return self.backend.client

    # ---- paths ------------------------------------------------------------------------------------

    def path(self, rel: str) -> str:
        """The path of ``rel`` in ``arrow_fs`` terms (local absolute path, or ``bucket/prefix/rel``)."""
        return f"{self.base}/{check_rel(rel)}"

    def uri_of(self, rel: str) -> str:
        """The full URI of ``rel`` (local absolute path, or ``s3://bucket/prefix/rel``) for DuckDB."""
        return f"s3://{self.path(rel)}" if self.is_s3 else self.path(rel)

    # ---- reads ------------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return self.backend.exists(check_rel(rel))

    def size(self, rel: str) -> int | None:
        """Size in bytes, None when the object does not exist."""
        return self.backend.size(check_rel(rel))

    def read_bytes(self, rel: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist."""
        return self.backend.read(check_rel(rel))

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        """(bytes, version) for ``put_if``/``delete_if``; (None, None) when the object does not exist."""
        return self.backend.read_versioned(check_rel(rel))

    def read_json(self, rel: str) -> Any:
        try:
            return json.loads(self.read_bytes(rel))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"{self.uri_of(rel)}: invalid JSON ({exc})") from exc

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of every file under ``prefix`` (recursive, sorted); hidden files excluded."""
        return self.backend.list(_check_prefix(prefix))

    def list_dirs(self, prefix: str = "") -> list[str]:
        """Names of the immediate sub-directories of ``prefix`` (``run_id=ABC`` ...), sorted."""
        return self.backend.list_dirs(_check_prefix(prefix))

    def list_sizes(self, prefix: str = "") -> dict[str, int]:
        """``{relative path: size in bytes}`` of every file under ``prefix`` (one listing on S3)."""
        return self.backend.list_sizes(_check_prefix(prefix))

    # ---- writes -----------------------------------------------------------------------------------

    def write_bytes_atomic(self, rel: str, data: Data) -> None:
        """Publish ``data`` at ``rel`` all at once: readers see the old object or the new, never a part."""
        self.backend.write(check_rel(rel), data)

    def write_json_atomic(self, rel: str, obj: Any) -> None:
        self.write_bytes_atomic(rel, encode_json(obj))

    def put_if(self, rel: str, data: Data, version: str | None) -> bool:
        """Write ``data`` only if ``rel`` is still at ``version`` (absent when None); False if it changed."""
        return self.backend.put_if(check_rel(rel), data, version)

    def create_exclusive(self, rel: str, data: Data) -> bool:
        """Create ``rel`` only if it does not exist; False when it does."""
        return self.put_if(rel, data, None)

    def delete_if(self, rel: str, version: str) -> bool:
        """Remove ``rel`` only if it is still at ``version``; False if it changed or vanished."""
        return self.backend.delete_if(check_rel(rel), version)

    def delete(self, rel: str) -> None:
        """Remove ``rel`` if present (missing is not an error)."""
        self.backend.delete(check_rel(rel))

    def delete_many(self, rels: list[str]) -> None:
        """Remove several objects (batched on S3)."""
        self.backend.delete_many([check_rel(r) for r in rels])


def encode_json(obj: Any) -> bytes:
    """Stable JSON bytes (sorted keys, indented, trailing newline) for manifests and locks."""
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def open_store(store: Store | str | os.PathLike[str], *, check: bool = True) -> Store:
    """``store`` itself when it already is a Store, else ``Store(store)``."""
    return store if isinstance(store, Store) else Store(store, check=check)
