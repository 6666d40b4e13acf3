"""UniProt ingest: XML / flat text / REST JSON / TMbed parsers, CRC64, feature normalisation.

``read_entries(source)`` streams ProteinEntry / RejectedEntry from a path, s3:// object or http(s) URL
(gzip by magic bytes, format by content); ``collect.collect_entries(sources)`` de-duplicates by accession.
"""

from protxai_ray.uniprot.reader import detect_format, entry_format, read_entries
from protxai_ray.uniprot.records import Feature, ProteinEntry, RejectedEntry

__all__ = ["Feature", "ProteinEntry", "RejectedEntry", "detect_format", "entry_format", "read_entries"]
