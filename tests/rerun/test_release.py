"""Release detection from reldate.txt (local, HTTP) and the X-UniProt-Release header."""

from __future__ import annotations

import pytest

from protxai_ray.errors import InvalidSource
from protxai_ray.rerun.release import detect_release, is_newer, parse_reldate, release_from_header
from tests.rerun.http_source import UniProtMirror

RELDATE = """UniProt Knowledgebase Release 2024_05 consists of:
UniProtKB/Swiss-Prot Release 2024_05 of 02-Oct-2024
UniProtKB/TrEMBL Release 2024_05 of 02-Oct-2024
"""


def test_parse_reldate():
    assert parse_reldate(RELDATE) == "2024_05"
    assert parse_reldate("UniProtKB/Swiss-Prot Release 2019_11 of 11-Dec-2019\n") == "2019_11"
    with pytest.raises(InvalidSource, match="not a UniProt reldate"):
        parse_reldate("<html>Not found</html>")
    with pytest.raises(InvalidSource, match="several releases"):
        parse_reldate(RELDATE + "UniProtKB/TrEMBL Release 2024_06 of 02-Oct-2024\n")


def test_detect_from_local_reldate_beside_source(tmp_path):
    (tmp_path / "uniprot_sprot.xml.gz").write_bytes(b"")
    (tmp_path / "reldate.txt").write_text(RELDATE)
    assert detect_release([str(tmp_path / "uniprot_sprot.xml.gz")]) == "2024_05"
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.dat").write_text("")
    with pytest.raises(InvalidSource, match="cannot tell its UniProt release"):
        detect_release([str(other / "x.dat")])
    assert detect_release([str(other / "x.dat")], reldate=str(tmp_path / "reldate.txt")) == "2024_05"


def test_detect_from_http_header_and_reldate(tmp_path):
    (tmp_path / "entries.xml").write_text("<uniprot/>")
    with UniProtMirror(tmp_path, release="2025_01") as mirror:
        assert release_from_header(f"{mirror.url}/entries.xml") == "2025_01"
        assert detect_release([f"{mirror.url}/entries.xml"]) == "2025_01"
    (tmp_path / "reldate.txt").write_text(RELDATE)
    with UniProtMirror(tmp_path) as mirror:  # no header: falls back to reldate.txt beside the URL
        assert detect_release([f"{mirror.url}/entries.xml"]) == "2024_05"
        assert detect_release([f"{mirror.url}/entries.xml"], reldate=f"{mirror.url}/reldate.txt") == "2024_05"
    with UniProtMirror(tmp_path, release="latest!") as mirror:
        with pytest.raises(InvalidSource, match="YYYY_NN"):
            detect_release([f"{mirror.url}/entries.xml"])


def test_release_order():
    assert is_newer("2024_05", "2024_04") and is_newer("2025_01", "2024_12")
    assert not is_newer("2024_05", "2024_05")
