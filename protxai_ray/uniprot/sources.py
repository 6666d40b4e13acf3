"""Opening a UniProt source as one binary stream: local path, ``s3://bucket/key``, ``http(s)://`` URL.

Gzip is recognised by its magic bytes (never by the file name) and decompressed on the fly. The format
(xml / flat / json / tmbed) is sniffed from the first bytes of the decompressed content.

A gzip stream that ends early (a truncated download) does not raise in the middle of a parser: the
stream reports end-of-file and sets ``SourceStream.truncated``; the parsers then see an unfinished last
entry and ``read_entries`` adds a rejection saying the data was truncated. Entries before the break
still come out.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from protxai_ray.errors import InvalidSource, StoreError

GZIP_MAGIC = b"\x1f\x8b"
_BUFFER = 1 << 20


class _RawReader(io.RawIOBase):
    """Adapts anything with ``read(n)`` (boto3 bodies, urllib3 responses) to a raw stream, counting bytes."""

    def __init__(self, fileobj, on_bytes: Callable[[int], None] | None = None) -> None:
        self._fileobj = fileobj
        self._on_bytes = on_bytes
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._fileobj.read(len(buffer))
        except OSError:
            raise
        except Exception as exc:  # urllib3/botocore errors of a dropped connection
            raise OSError(f"connection lost while reading: {type(exc).__name__}") from exc
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        if self._on_bytes is not None and n:
            self._on_bytes(n)
        return n

    def close(self) -> None:
        try:
            self._fileobj.close()
        finally:
            super().close()


class _TruncationTolerantGzip(io.RawIOBase):
    """Gzip decompression that turns a premature end of the compressed data into EOF plus a flag."""

    def __init__(self, compressed: BinaryIO) -> None:
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._compressed = compressed
        self.truncated = False
        self.error = ""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.truncated:
            return 0
        try:
            data = self._gzip.read1(len(buffer))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            self.truncated = True
            self.error = str(exc) or type(exc).__name__
            return 0
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._gzip.close()
            self._compressed.close()
        finally:
            super().close()


@dataclass
class SourceStream:
    """A decompressed binary stream of one source, with what is known about it."""

    name: str  # the source as the user gave it (path or URI): used in every error message
    stream: io.BufferedReader
    size: int | None  # bytes of the (possibly compressed) source, when known
    compressed: bool
    raw: _RawReader
    _gzip: _TruncationTolerantGzip | None = field(default=None, repr=False)

    @property
    def truncated(self) -> bool:
        return self._gzip is not None and self._gzip.truncated

    @property
    def truncation_error(self) -> str:
        return self._gzip.error if self._gzip is not None else ""

    def close(self) -> None:
        self.stream.close()


def _open_local(path: str) -> tuple[BinaryIO, int | None]:
    try:
        return open(path, "rb"), os.path.getsize(path)
    except FileNotFoundError as exc:
        raise InvalidSource(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidSource(path, "is a directory, not a file") from exc
    except OSError as exc:
        raise InvalidSource(path, f"cannot open: {exc.strerror or exc}") from exc


def _open_s3(uri: str) -> tuple[BinaryIO, int | None]:
    from protxai_ray.store import s3

    try:
        bucket, key = s3.parse_s3_uri(uri)
    except StoreError:
        bucket, key = "", ""
    if not bucket or not key:
        raise InvalidSource(uri, "an s3 source must be s3://bucket/key")
    settings = s3.S3Settings.from_env()
    client = s3.s3_client(settings)
    budget = s3.env_seconds("PROTXAI_S3_CONNECT_SECONDS", s3.DEFAULT_CONNECT_SECONDS)
    try:
        response = s3.call_with_retry(
            lambda: client.get_object(Bucket=bucket, Key=key), "read", settings.where(bucket), budget
        )
    except StoreError as exc:
        cause = exc.__cause__
        code = s3.error_code(cause) if cause is not None else None
        if code:
            raise InvalidSource(uri, f"S3 refused the read ({code})") from exc
        # The message names the endpoint, never the keys.
        raise InvalidSource(
            uri, f"S3 endpoint unreachable or misconfigured ({settings.where(bucket)})"
        ) from exc
    return response["Body"], response.get("ContentLength")


def _open_http(url: str) -> tuple[BinaryIO, int | None]:
    import requests

    try:
        response = requests.get(url, stream=True, timeout=(10, 60))
    except requests.RequestException as exc:
        raise InvalidSource(url, f"cannot connect: {type(exc).__name__}") from exc
    if response.status_code != 200:
        response.close()
        raise InvalidSource(url, f"HTTP {response.status_code}")
    # Transport encoding (Content-Encoding: gzip) is undone here; a served .gz file stays gzip
    # and is recognised by its magic bytes below.
    response.raw.decode_content = True
    length = response.headers.get("Content-Length")
    encoded = response.headers.get("Content-Encoding")
    size = int(length) if length and length.isdigit() and not encoded else None
    return response.raw, size


def open_source(source: str, on_bytes: Callable[[int], None] | None = None) -> SourceStream:
    """Open ``source`` (path, s3://, http(s)://) as a decompressed, peekable binary stream.

    ``on_bytes(n)`` is called with every chunk of source bytes read (for progress bars).
    """
    if source.startswith("s3://"):
        fileobj, size = _open_s3(source)
    elif source.startswith(("http://", "https://")):
        fileobj, size = _open_http(source)
    else:
        fileobj, size = _open_local(source)
    raw = _RawReader(fileobj, on_bytes)
    buffered = io.BufferedReader(raw, _BUFFER)
    try:
        head = buffered.peek(2)[:2]
    except OSError as exc:
        buffered.close()
        raise InvalidSource(source, f"cannot read: {exc}") from exc
    if head == GZIP_MAGIC:
        gz = _TruncationTolerantGzip(buffered)
        return SourceStream(source, io.BufferedReader(gz, _BUFFER), size, True, raw, gz)
    return SourceStream(source, buffered, size, False, raw)


def sniff_format(stream: io.BufferedReader, name: str) -> str:
    """``xml``, ``flat``, ``json`` or ``tmbed`` from the first bytes; InvalidSource otherwise."""
    head = stream.peek(4096)[:4096]
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise InvalidSource(name, "empty file (no UniProt entries)")
    if text.startswith(b"<"):
        return "xml"
    if text.startswith((b"{", b"[")):
        return "json"
    if text.startswith(b"ID   "):
        return "flat"
    if text.startswith(b">"):
        return "tmbed"
    preview = text[:40].decode("utf-8", "replace").splitlines()[0]
    raise InvalidSource(name, f"not a UniProt XML, flat-text, JSON or TMbed file (starts with {preview!r})")
