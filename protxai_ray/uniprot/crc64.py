"""SWISS-PROT CRC64 of a protein sequence, the checksum UniProt prints on SQ lines and in XML/JSON.

The generator is the ISO 3309 polynomial x^64 + x^4 + x^3 + x + 1 in SWISS-PROT's reflected form
(top byte 0xD8), initial value 0, no final xor; result as 16 upper-case hex digits.
``crc64("IHATEMATH") == "E3DCADD69B01ADD1"``.
"""

from __future__ import annotations

_POLY_REFLECTED = 0xD800000000000000


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLY_REFLECTED if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_TABLE = _make_table()


def crc64_int(sequence: str) -> int:
    """The CRC64 as an integer; table-driven, one lookup per residue."""
    table = _TABLE
    crc = 0
    # Iterating over bytes yields ints directly, which avoids an ord() call per residue.
    for byte in sequence.encode("ascii", "replace"):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc64(sequence: str) -> str:
    """SWISS-PROT CRC64 of ``sequence`` as 16 upper-case hex digits."""
    return f"{crc64_int(sequence):016X}"
