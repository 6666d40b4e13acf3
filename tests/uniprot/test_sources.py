"""Opening sources: gzip by magic bytes, truncated gzip, HTTP (a local http.server), S3 (SeaweedFS)."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import boto3
import pytest

from protxai_ray.errors import InvalidSource
from protxai_ray.uniprot import detect_format, read_entries
from protxai_ray.uniprot.records import ProteinEntry, RejectedEntry
from tests.conftest import TMBED_DATA, UNIPROT_DATA

FLAT = UNIPROT_DATA / "flat" / "legacy_pre2019_11_02.dat"  # 24 entries
JSON = UNIPROT_DATA / "json" / "entries_01.json"  # 56 entries


def _accessions(source: str) -> list[str]:
    items = list(read_entries(source))
    assert all(isinstance(i, ProteinEntry) for i in items), [
        str(i) for i in items if isinstance(i, RejectedEntry)
    ]
    return [i.accession for i in items]


def test_format_detected_from_content_not_name(tmp_path):
    for original, fmt in [
        (FLAT, "flat"),
        (JSON, "json"),
        (UNIPROT_DATA / "xml" / "entries_04.xml", "xml"),
        (TMBED_DATA / "datasets" / "beta.fasta", "tmbed"),
    ]:
        misnamed = tmp_path / f"data_{fmt}.bin"
        misnamed.write_bytes(original.read_bytes())
        assert detect_format(str(misnamed)) == fmt


def test_gzip_detected_by_magic_bytes(tmp_path):
    packed = tmp_path / "entries.dat"  # no .gz suffix on purpose
    packed.write_bytes(gzip.compress(FLAT.read_bytes()))
    assert _accessions(str(packed)) == _accessions(str(FLAT))
    assert len(_accessions(str(packed))) == 24


def test_truncated_gzip_gives_valid_entries_then_a_rejection(tmp_path):
    data = gzip.compress(JSON.read_bytes().replace(b"\n", b"\n"))
    flat_data = gzip.compress(FLAT.read_bytes())
    cut = tmp_path / "cut.dat.gz"
    cut.write_bytes(flat_data[: len(flat_data) * 2 // 3])
    items = list(read_entries(str(cut)))
    good = [i for i in items if isinstance(i, ProteinEntry)]
    rejected = [i for i in items if isinstance(i, RejectedEntry)]
    assert 5 < len(good) < 24
    whole = list(read_entries(str(FLAT)))[: len(good)]
    assert [(e.accession, e.sequence) for e in good] == [(e.accession, e.sequence) for e in whole]
    assert any("gzip data truncated" in r.reason for r in rejected)
    assert any("'//'" in r.reason for r in rejected)  # the entry cut in half
    # Truncated gzipped JSON cannot be decoded at all: the whole source is invalid.
    cut_json = tmp_path / "cut.json.gz"
    cut_json.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidSource, match="invalid JSON"):
        list(read_entries(str(cut_json)))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on a free loopback port serving ``tmp_path``."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_source(http_root):
    root, base = http_root
    (root / "entries.dat").write_bytes(FLAT.read_bytes())
    (root / "entries.json.gz").write_bytes(gzip.compress(JSON.read_bytes()))
    assert _accessions(f"{base}/entries.dat") == _accessions(str(FLAT))
    assert _accessions(f"{base}/entries.json.gz") == _accessions(str(JSON))
    with pytest.raises(InvalidSource, match="HTTP 404"):
        list(read_entries(f"{base}/absent.xml"))


def test_progress_callbacks_count_source_bytes(http_root):
    root, base = http_root
    packed = gzip.compress(JSON.read_bytes())
    (root / "entries.json.gz").write_bytes(packed)
    sizes, chunks = [], []
    entries = list(read_entries(f"{base}/entries.json.gz", on_bytes=chunks.append, on_size=sizes.append))
    assert len(entries) == 56
    assert sizes == [len(packed)] and sum(chunks) == len(packed)


def test_s3_source(s3_store, s3_env):
    bucket = s3_store[len("s3://") :].split("/", 1)[0]
    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name=s3_env["AWS_REGION"])
    client.put_object(Bucket=bucket, Key="in/entries.json.gz", Body=gzip.compress(JSON.read_bytes()))
    client.put_object(Bucket=bucket, Key="in/entries.dat", Body=FLAT.read_bytes())
    assert _accessions(f"s3://{bucket}/in/entries.json.gz") == _accessions(str(JSON))
    assert _accessions(f"s3://{bucket}/in/entries.dat") == _accessions(str(FLAT))
    with pytest.raises(InvalidSource, match=r"S3 refused the read \(NoSuchKey\)"):
        list(read_entries(f"s3://{bucket}/in/absent.xml"))


def test_s3_wrong_keys(s3_store, s3_env, monkeypatch):
    bucket = s3_store[len("s3://") :].split("/", 1)[0]
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name=s3_env["AWS_REGION"]).put_object(
        Bucket=bucket, Key="x.dat", Body=FLAT.read_bytes()
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(InvalidSource, match="S3 refused the read") as caught:
        list(read_entries(f"s3://{bucket}/x.dat"))
    assert "not-the-secret" not in str(caught.value)


def test_s3_unreachable_endpoint(monkeypatch, tmp_path: Path):
    from tests.services.seaweed import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(InvalidSource, match="unreachable"):
        list(read_entries("s3://bucket/key.xml"))


def test_entry_format_from_source_label():
    from protxai_ray.uniprot import entry_format

    assert [entry_format(e.source) for e in read_entries(str(FLAT))] == ["flat"] * 24
    assert {entry_format(e.source) for e in read_entries(str(JSON))} == {"json"}
    beta = TMBED_DATA / "datasets" / "beta.fasta"
    assert {entry_format(e.source) for e in read_entries(str(beta))} == {"tmbed"}
