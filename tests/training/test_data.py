"""The membrane and EC splits: real TMbed/UniProt data, no accession or sequence on both sides."""

from __future__ import annotations

import gzip

import pytest

from protxai_ray.demo import DEMO_DATA
from protxai_ray.errors import InvalidSource, ProtxaiError
from protxai_ray.training.data import (
    LabeledProtein,
    check_training_data,
    disjoint_split,
    read_tmbed_fold,
    tmbed_fold_path,
    topology_regions,
)
from protxai_ray.training.ec import EC_LABELS, ec_class, ec_split
from protxai_ray.training.membrane import HELDOUT_FOLD, load_membrane_split
from tests.conftest import SHARED_DATA, TMBED_DATA, UNIPROT_DATA


@pytest.fixture(scope="module")
def membrane():
    return load_membrane_split(SHARED_DATA)


def test_membrane_split_is_disjoint_by_accession_and_sequence(membrane):
    train_acc = {p.accession for p in membrane.train}
    train_seq = {p.sequence for p in membrane.train}
    assert not train_acc & {p.accession for p in membrane.heldout}
    assert not train_seq & {p.sequence for p in membrane.heldout}
    assert len(train_acc) == len(membrane.train)  # deduplicated within the side too
    assert len(train_seq) == len(membrane.train)


def test_heldout_is_exactly_the_tmbed_fold(membrane):
    fold = read_tmbed_fold(TMBED_DATA / "cv" / f"cv_{HELDOUT_FOLD:02d}_a.fasta", HELDOUT_FOLD)
    assert [p.accession for p in membrane.heldout] == [p.accession for p in fold]
    # membrane = any H/h/B/b residue in the topology line
    text = (TMBED_DATA / "cv" / f"cv_{HELDOUT_FOLD:02d}_a.fasta").read_text().split()
    expected = sum(any(c in "HhBb" for c in topo) for topo in text[2::3])
    assert membrane.counts()["heldout"]["GO:0016020"] == expected
    assert all(p.fold != HELDOUT_FOLD for p in membrane.train)


def test_uniprot_entries_join_training_with_their_tm_features(membrane):
    uniprot = [p for p in membrane.train if p.source == "uniprot"]
    assert uniprot, "the UniProt entries should be part of the training side"
    with_tm = [p for p in uniprot if p.tm_regions]
    assert with_tm and all(p.label == 1 for p in with_tm)
    for p in with_tm:
        assert all(0 <= s < e <= len(p.sequence) for s, e in p.tm_regions)


def test_topology_regions_are_maximal_tm_runs():
    assert topology_regions("11HHHH22bbS1H") == ((2, 6), (8, 10), (12, 13))
    assert topology_regions("1111SSUU22") == ()


def test_bad_tmbed_file_is_one_domain_error(tmp_path):
    bad = tmp_path / "cv_09_a.fasta"
    bad.write_text(">P1|EUKARYA|NO_SP|0\nMKV\n")
    with pytest.raises(InvalidSource, match="3-line"):
        read_tmbed_fold(bad, 9)
    bad.write_text(">P1|EUKARYA|NO_SP|0\nMKV\n11\n")
    with pytest.raises(InvalidSource, match="P1"):
        read_tmbed_fold(bad, 9)


def test_gzipped_tmbed_fold_reads_like_the_plain_file(tmp_path):
    plain = TMBED_DATA / "cv" / "cv_04_a.fasta"
    gz = tmp_path / "cv" / "cv_04_a.fasta.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert tmbed_fold_path(tmp_path, 4) == gz  # only the .gz exists: it is taken
    assert tmbed_fold_path(TMBED_DATA, 4) == plain
    assert read_tmbed_fold(gz, 4) == read_tmbed_fold(plain, 4)
    gz.write_bytes(gzip.compress(plain.read_bytes())[:1000])  # truncated download
    with pytest.raises(InvalidSource, match="cannot read"):
        read_tmbed_fold(gz, 4)


def test_shipped_demo_folds_are_the_tmbed_files():
    for fold in (0, 4):  # validate's backgrounds, the demo's held-out fold
        shipped = tmbed_fold_path(DEMO_DATA / "tmbed", fold)
        assert shipped.name.endswith(".gz")
        assert (
            gzip.decompress(shipped.read_bytes())
            == (TMBED_DATA / "cv" / f"cv_{fold:02d}_a.fasta").read_bytes()
        )
    assert (DEMO_DATA / "README.md").is_file() and (DEMO_DATA / "tmbed" / "LICENSE-Apache-2.0.txt").is_file()


def test_training_needs_a_data_directory(tmp_path):
    with pytest.raises(ProtxaiError, match="--data-dir"):
        check_training_data(None)
    with pytest.raises(ProtxaiError, match="cv_01_a.fasta"):
        check_training_data(DEMO_DATA)  # the package ships folds 0 and 4 only, no UniProt entries
    assert check_training_data(SHARED_DATA) == SHARED_DATA


def test_disjoint_split_drops_training_copies_of_heldout_proteins():
    a = LabeledProtein("A", "MKV", 0, "x")
    same_seq = LabeledProtein("B", "MKV", 1, "x")
    same_acc = LabeledProtein("A", "MLL", 1, "x")
    other = LabeledProtein("C", "MWW", 1, "x")
    split = disjoint_split([same_seq, same_acc, other, other], [a], ["n", "y"])
    assert [p.accession for p in split.train] == ["C"]


def test_ec_split_is_stratified_and_disjoint():
    assert ec_class(["3.4.21.4", "2.7.1.1"]) == 2 and ec_class(["EC:7.1.1.1"]) == 6 and ec_class([]) is None
    split = ec_split(UNIPROT_DATA, seed=0)
    assert not {p.accession for p in split.train} & {p.accession for p in split.heldout}
    assert not {p.sequence for p in split.train} & {p.sequence for p in split.heldout}
    counts = split.counts()
    assert counts["heldout"]["EC:3"] > counts["heldout"]["EC:6"] > 0
    assert sum(counts["train"].values()) + sum(counts["heldout"].values()) > 300
    assert split.label_names == EC_LABELS
