"""CRC64: the published value, and agreement with the checksums the shipped files carry."""

import re

from protxai_ray.uniprot.crc64 import crc64
from tests.conftest import UNIPROT_DATA


def test_known_value():
    assert crc64("IHATEMATH") == "E3DCADD69B01ADD1"
    assert crc64("") == "0000000000000000"


def test_matches_flat_sq_lines():
    text = (UNIPROT_DATA / "flat" / "legacy_pre2019_11_02.dat").read_text()
    checked = 0
    for block in text.split("\n//")[:-1]:
        sq = re.search(r"^SQ .*?(\w{16}) CRC64;\n(.*)", block, re.S | re.M)
        sequence = re.sub(r"\s", "", sq.group(2))
        assert crc64(sequence) == sq.group(1)
        checked += 1
    assert checked == 24


def test_matches_xml_checksums():
    text = (UNIPROT_DATA / "xml" / "entries_04.xml").read_text()
    pairs = re.findall(r"<sequence [^>]*checksum=\"(\w+)\"[^>]*>\s*([A-Z\s]+)</sequence>", text)
    assert len(pairs) == 43  # every entry of the file (isoform <sequence type=.../> tags excluded)
    for checksum, sequence in pairs:
        assert crc64(re.sub(r"\s", "", sequence)) == checksum
