"""TMbed 3-line FASTA: accessions from both header styles, transmembrane/signal segments from the labels."""

from __future__ import annotations

import re

from protxai_ray.uniprot import read_entries
from protxai_ray.uniprot.collect import collect_entries
from protxai_ray.uniprot.crc64 import crc64
from protxai_ray.uniprot.records import ProteinEntry
from protxai_ray.uniprot.tmbed import header_fields, topology_features
from tests.conftest import TMBED_DATA

FOLD = TMBED_DATA / "cv" / "cv_00_a.fasta"


def _records(path) -> list[tuple[str, str, str]]:
    lines = path.read_text().split()
    return [(lines[i][1:], lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


def test_header_fields():
    assert header_fields("Q9BEC7|EUKARYA|NO_SP|1") == ("Q9BEC7", "")
    assert header_fields("5mzs_A|Q05098|PFEA_PSEAE") == ("Q05098", "PFEA_PSEAE")


def test_topology_features_hand_worked():
    #        1234567890123456
    labels = "SSS11HHHhh22BBB2"
    assert topology_features(labels) == [
        ("signal", 1, 3, "signal peptide", ""),
        ("transmembrane", 6, 8, "alpha-helix, in->out", ""),
        ("transmembrane", 9, 10, "alpha-helix, out->in", ""),
        ("transmembrane", 13, 15, "beta-strand, in->out", ""),
    ]


def test_fold_file_segment_counts():
    records = _records(FOLD)
    entries = list(read_entries(str(FOLD)))
    assert len(entries) == len(records) > 1000
    assert all(isinstance(e, ProteinEntry) for e in entries)
    for (header, sequence, labels), entry in zip(records, entries, strict=True):
        assert entry.accession == header_fields(header)[0]
        assert entry.sequence == sequence and entry.crc64 == crc64(sequence)
        tm = [f for f in entry.features if f.feature_type == "transmembrane"]
        assert len(tm) == len(re.findall(r"H+|h+|B+|b+", labels)), header
        for feature in tm:
            segment = labels[feature.start - 1 : feature.end]
            assert len(set(segment)) == 1 and segment[0] in "HhBb"
        assert sum(f.feature_type == "signal" for f in entry.features) == len(re.findall("S+", labels))
        assert entry.reviewed is False and entry.entry_version is None
        assert entry.source == "tmbed:cv_00_a.fasta"
    assert sum(len(e.features) for e in entries) >= 1000


def test_accession_in_two_tmbed_files_keeps_the_first():
    alpha = TMBED_DATA / "datasets" / "alpha.fasta"
    folds = sorted((TMBED_DATA / "cv").glob("cv_*_a.fasta"))
    alpha_accessions = {header_fields(h)[0] for h, _, _ in _records(alpha)}
    collection = collect_entries([str(p) for p in folds] + [str(alpha)])
    by_accession = {e.accession: e for e in collection.entries}
    shared = [a for a in alpha_accessions if a in by_accession]
    assert shared, "the alpha set overlaps the CV folds"
    assert all(by_accession[a].source.startswith("tmbed:cv_") for a in shared)
    assert collection.rejected == []
