"""Labelled protein sets for the demo models: TMbed folds and UniProt entries, split without leakage.

The membrane set labels a protein 1 when it has any transmembrane residue (TMbed topology letters
``H``/``h`` alpha helix, ``B``/``b`` beta strand) or, for UniProt entries, a ``transmembrane`` feature or the
GO term GO:0016020. TMbed's own cross-validation folds decide the split; UniProt entries join the training
side unless their accession or sequence is in the held-out fold.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from protxai_ray.errors import InvalidSource, ProtxaiError

TM_TOPOLOGY_LETTERS = frozenset("HhBb")
MEMBRANE_GO = "GO:0016020"
MEMBRANE_LABELS = ["other", MEMBRANE_GO]  # index 1 = membrane (targets.py "label" convention)


@dataclass(frozen=True)
class LabeledProtein:
    """One protein with its class index and, where known, its transmembrane regions (0-based, end-exclusive)."""

    accession: str
    sequence: str
    label: int
    source: str  # "tmbed fold 2", "uniprot"
    fold: int | None = None
    tm_regions: tuple[tuple[int, int], ...] = ()


@dataclass
class ProteinSplit:
    """Training and held-out proteins, disjoint by accession and by sequence."""

    train: list[LabeledProtein]
    heldout: list[LabeledProtein]
    label_names: list[str]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per side, per label name: number of proteins (for the model card)."""
        out: dict[str, dict[str, int]] = {}
        for side, proteins in (("train", self.train), ("heldout", self.heldout)):
            per = {name: 0 for name in self.label_names}
            for protein in proteins:
                per[self.label_names[protein.label]] += 1
            out[side] = per
        return out


def topology_regions(topology: str) -> tuple[tuple[int, int], ...]:
    """Maximal runs of transmembrane letters in a TMbed topology string, as 0-based half-open ranges."""
    regions: list[tuple[int, int]] = []
    start = None
    for i, letter in enumerate(topology):
        inside = letter in TM_TOPOLOGY_LETTERS
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            regions.append((start, i))
            start = None
    if start is not None:
        regions.append((start, len(topology)))
    return tuple(regions)


def _tmbed_accession(header: str) -> str:
    # Two header shapes: "ACC|KINGDOM|SP|partition" (SignalP globular set) and "pdb_chain|ACC|NAME" (OPM).
    parts = header.lstrip(">").split("|")
    return parts[0] if len(parts) >= 4 else parts[1] if len(parts) > 1 else parts[0]


TRAINING_DATA_HELP = (
    "the training data is not shipped with the package (only TMbed folds 0 and 4, for demo and validate): "
    "pass --data-dir DIR with DIR/tmbed/cv/cv_00_a.fasta .. cv_04_a.fasta (plain or .gz; TMbed's data/cv, "
    "github.com/BernhoferM/TMbed, Apache-2.0) and UniProt XML/flat/JSON files under DIR/uniprot/{xml,flat,json}/"
)


def check_training_data(data_dir: str | Path | None, tmbed: bool = True, uniprot: bool = True) -> Path:
    """``data_dir`` as a Path once it holds the five TMbed folds and/or ``uniprot/``; ProtxaiError otherwise."""
    if data_dir is None:
        raise ProtxaiError(f"no training data directory given: {TRAINING_DATA_HELP}")
    data_dir = Path(data_dir)
    missing = [str(tmbed_fold_path(data_dir / "tmbed", k)) for k in range(5) if tmbed]
    missing = [m for m in missing if not Path(m).is_file()]
    if uniprot and not (data_dir / "uniprot").is_dir():
        missing.append(str(data_dir / "uniprot") + "/")
    if missing:
        raise ProtxaiError(f"{data_dir}: missing {', '.join(missing)}; {TRAINING_DATA_HELP}")
    return data_dir


def tmbed_fold_path(tmbed_dir: str | Path, fold: int) -> Path:
    """``tmbed_dir/cv/cv_0K_a.fasta``, or its ``.gz`` copy when only that exists (the package ships .gz)."""
    path = Path(tmbed_dir) / "cv" / f"cv_{fold:02d}_a.fasta"
    gz = path.with_name(path.name + ".gz")
    return gz if not path.exists() and gz.exists() else path


def read_tmbed_fold(path: str | Path, fold: int) -> list[LabeledProtein]:
    """Proteins of one TMbed 3-line file (header, sequence, per-residue topology); gzip (magic bytes) ok."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        lines = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise InvalidSource(str(path), f"cannot read TMbed file: {exc}") from exc
    if len(lines) % 3 or not all(line.startswith(">") for line in lines[::3]):
        raise InvalidSource(str(path), "not a TMbed 3-line file (header, sequence, topology)")
    proteins = []
    for header, sequence, topology in zip(lines[::3], lines[1::3], lines[2::3], strict=True):
        accession = _tmbed_accession(header)
        if len(sequence) != len(topology):
            raise InvalidSource(str(path), f"entry {accession}: topology length differs from sequence")
        regions = topology_regions(topology)
        proteins.append(
            LabeledProtein(
                accession, sequence.upper(), int(bool(regions)), f"tmbed fold {fold}", fold, regions
            )
        )
    return proteins


def read_tmbed_folds(tmbed_dir: str | Path, folds: Iterable[int]) -> list[LabeledProtein]:
    """Proteins of the given folds of ``tmbed_dir/cv/cv_0K_a.fasta[.gz]``, fold order kept."""
    out: list[LabeledProtein] = []
    for fold in folds:
        out.extend(read_tmbed_fold(tmbed_fold_path(tmbed_dir, fold), fold))
    return out


def read_uniprot_collection(uniprot_dir: str | Path):
    """All UniProt entries under ``uniprot_dir`` (main set: xml/, flat/, json/), deduplicated by accession."""
    return _read_uniprot_collection(str(Path(uniprot_dir).resolve()))


@functools.cache
def _read_uniprot_collection(uniprot_dir: str):
    # Parsed once per process: the membrane and EC splits read the same ~1,100 entries (read-only).
    from protxai_ray.uniprot.collect import collect_entries

    root = Path(uniprot_dir)
    sources = sorted(str(p) for sub in ("xml", "flat", "json") for p in (root / sub).glob("*") if p.is_file())
    return collect_entries(sources)


def uniprot_membrane_proteins(entries) -> list[LabeledProtein]:
    """UniProt entries labelled membrane by a ``transmembrane`` feature or GO:0016020."""
    out = []
    for entry in entries:
        regions = tuple(
            (f.start - 1, f.end) for f in entry.features if f.feature_type == "transmembrane" and f.start >= 1
        )
        label = int(bool(regions) or MEMBRANE_GO in entry.go)
        out.append(LabeledProtein(entry.accession, entry.sequence.upper(), label, "uniprot", None, regions))
    return out


def _dedup(proteins: Iterable[LabeledProtein]) -> tuple[list[LabeledProtein], int]:
    """First occurrence wins by accession and by identical sequence; returns (kept, dropped)."""
    seen_acc: set[str] = set()
    seen_seq: set[str] = set()
    kept, dropped = [], 0
    for protein in proteins:
        if protein.accession in seen_acc or protein.sequence in seen_seq:
            dropped += 1
            continue
        seen_acc.add(protein.accession)
        seen_seq.add(protein.sequence)
        kept.append(protein)
    return kept, dropped


def disjoint_split(
    train: Iterable[LabeledProtein], heldout: Iterable[LabeledProtein], label_names: list[str]
) -> ProteinSplit:
    """Deduplicate each side and drop from training anything whose accession or sequence is held out."""
    heldout_kept, heldout_dropped = _dedup(heldout)
    held_acc = {p.accession for p in heldout_kept}
    held_seq = {p.sequence for p in heldout_kept}
    train_kept, train_dropped = _dedup(train)
    leaking = [p for p in train_kept if p.accession in held_acc or p.sequence in held_seq]
    train_final = [p for p in train_kept if p.accession not in held_acc and p.sequence not in held_seq]
    notes = [
        f"held-out duplicates dropped: {heldout_dropped}",
        f"training duplicates dropped: {train_dropped}",
        f"training proteins dropped because held out (accession or sequence): {len(leaking)}",
    ]
    return ProteinSplit(train_final, heldout_kept, list(label_names), notes)


def membrane_split(
    tmbed_dir: str | Path, uniprot_dir: str | Path | None = None, heldout_fold: int = 4
) -> ProteinSplit:
    """Membrane vs other: TMbed folds except ``heldout_fold`` (+ UniProt) train, ``heldout_fold`` held out."""
    train_folds = [k for k in range(5) if k != heldout_fold]
    train = read_tmbed_folds(tmbed_dir, train_folds)
    notes = []
    if uniprot_dir is not None:
        collection = read_uniprot_collection(uniprot_dir)
        uniprot = uniprot_membrane_proteins(collection.entries)
        train += uniprot
        notes.append(f"uniprot entries read: {len(uniprot)} ({sum(p.label for p in uniprot)} membrane)")
    split = disjoint_split(train, read_tmbed_folds(tmbed_dir, [heldout_fold]), MEMBRANE_LABELS)
    split.notes = notes + split.notes
    return split
