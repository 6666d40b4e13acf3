"""Release detection: which UniProt release a source is, before anything is downloaded or parsed.

UniProt publishes the release name in two places this module reads:

- ``reldate.txt`` beside the data files (FTP/HTTPS/S3 mirror), whose first line is
  ``UniProt Knowledgebase Release 2024_05 consists of:`` followed by per-database lines
  (``UniProtKB/Swiss-Prot Release 2024_05 of 02-Oct-2024``);
- the ``X-UniProt-Release`` HTTP response header of the REST API and of the HTTPS file server.

Release names are ``YYYY_NN`` and order as strings (year, then number).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import requests

from protxai_ray.errors import InvalidSource, StoreError

RELEASE_NAME = re.compile(r"^\d{4}_\d{2}$")
RELDATE_LINE = re.compile(r"\bUniProt(?:KB(?:/Swiss-Prot|/TrEMBL)?| Knowledgebase) Release (\d{4}_\d{2})\b")
RELEASE_HEADER = "X-UniProt-Release"
RELDATE_NAME = "reldate.txt"
HTTP_TIMEOUT_S = 30.0
MAX_RELDATE_BYTES = 64 * 1024


def check_release_name(release: str) -> str:
    """``release`` if it is a UniProt release name ``YYYY_NN``; else ``InvalidSource``."""
    if not RELEASE_NAME.match(release or ""):
        raise InvalidSource(str(release), "not a UniProt release name (expected YYYY_NN, e.g. 2024_05)")
    return release


def parse_reldate(text: str, source: str = "reldate.txt") -> str:
    """The release named in a ``reldate.txt`` text; ``InvalidSource`` when it names none or several."""
    names = set(RELDATE_LINE.findall(text))
    if not names:
        raise InvalidSource(
            source, "no 'UniProt Knowledgebase Release YYYY_NN' line: not a UniProt reldate.txt"
        )
    if len(names) > 1:
        raise InvalidSource(source, f"names several releases ({', '.join(sorted(names))})")
    return names.pop()


def _is_http(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def _read_small_text(location: str) -> str | None:
    """Text of a small object (local path, s3://, http(s)://); None when it does not exist."""
    scheme = urlparse(location).scheme
    if scheme in ("http", "https"):
        try:
            resp = requests.get(location, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            raise InvalidSource(location, f"cannot reach: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise InvalidSource(location, f"HTTP {resp.status_code}")
        return resp.content[:MAX_RELDATE_BYTES].decode("utf-8", errors="replace")
    if scheme == "s3":
        from protxai_ray.store import s3

        try:
            bucket, key = s3.parse_s3_uri(location)
            settings = s3.S3Settings.from_env()
            client = s3.s3_client(settings)

            def get() -> bytes | None:
                try:
                    return client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_RELDATE_BYTES)
                except Exception as exc:
                    if s3.is_not_found(exc) and s3.error_code(exc) != "NoSuchBucket":
                        return None
                    raise

            data = s3.call_with_retry(get, "read", settings.where(bucket), budget=HTTP_TIMEOUT_S)
        except StoreError as exc:
            raise InvalidSource(location, str(exc)) from exc
        return None if data is None else data.decode("utf-8", errors="replace")
    path = Path(location)
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        return fh.read(MAX_RELDATE_BYTES).decode("utf-8", errors="replace")


def release_from_reldate(location: str) -> str:
    """The release named by the ``reldate.txt`` at ``location`` (path, s3:// or http(s)://)."""
    text = _read_small_text(location)
    if text is None:
        raise InvalidSource(location, "not found")
    return parse_reldate(text, location)


def release_from_header(url: str) -> str | None:
    """``X-UniProt-Release`` of an HTTP(S) source (HEAD request, redirects followed); None if absent."""
    try:
        resp = requests.head(url, allow_redirects=True, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        raise InvalidSource(url, f"cannot reach: {type(exc).__name__}") from exc
    if resp.status_code >= 400:
        raise InvalidSource(url, f"HTTP {resp.status_code}")
    value = resp.headers.get(RELEASE_HEADER)
    if value is None:
        return None
    return check_release_name(value.strip())


def sibling_reldate(source: str) -> str:
    """Where UniProt keeps ``reldate.txt`` for ``source``: the same directory/prefix."""
    if _is_http(source):
        return urljoin(source, RELDATE_NAME)
    if source.startswith("s3://"):
        return source.rsplit("/", 1)[0] + "/" + RELDATE_NAME
    return str(Path(source).parent / RELDATE_NAME)


def detect_release(sources: list[str], reldate: str | None = None) -> str:
    """The release of ``sources``: ``reldate`` if given, else the first source's ``X-UniProt-Release``
    header (HTTP sources), else a ``reldate.txt`` beside the first source. ``InvalidSource`` if none says."""
    if reldate:
        return release_from_reldate(reldate)
    if not sources:
        raise InvalidSource("(no source)", "no source given to detect the release from")
    first = sources[0]
    if _is_http(first):
        found = release_from_header(first)
        if found:
            return found
    beside = sibling_reldate(first)
    text = _read_small_text(beside)
    if text is not None:
        return parse_reldate(text, beside)
    raise InvalidSource(
        first,
        f"cannot tell its UniProt release: no {RELEASE_HEADER} header and no {RELDATE_NAME} beside it "
        "(give --release or --reldate)",
    )


def is_newer(release: str, than: str) -> bool:
    """Whether release ``release`` comes after ``than`` (both ``YYYY_NN``)."""
    return check_release_name(release) > check_release_name(than)
