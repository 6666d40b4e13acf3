"""Shared set-up of the re-run tests: release_a ingested and attributed once per module, and a mirror
directory holding release_b as served over HTTP (one entry deleted, one new entry added).

To keep the suite fast on 2 CPU cores the pair is cut to a subset of its accessions, chosen from the real
files entry by entry (no entry is edited): every accession whose sequence or EC numbers changed (the
long ones among them fail fast as too long for the model, which exercises failure reuse), plus all
accessions of at most ``SHORT`` residues in both releases.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from protxai_ray.models.random_init import write_random_model
from protxai_ray.pipeline import RunConfig, run_attribution
from protxai_ray.store.fs import open_store
from protxai_ray.uniprot.arrow import write_entries
from protxai_ray.uniprot.collect import collect_entries
from tests.conftest import UNIPROT_DATA

RELEASES = UNIPROT_DATA / "releases"
OLD, NEW = "2024_01", "2024_03"
# EC classes win over GO (resolve_target's rule), "other" is the negative class: EC and GO edits between
# the two releases both move proteins between classes.
LABELS = ["other", "EC2", "EC3", "EC6", "GO:0009405"]
SHORT = 300
FILES = ("entries.xml", "entries.dat")
ATTRIBUTE = dict(target="label", steps=4, actors=1, shard_size=64, progress=False)


@dataclass
class Attributed:
    store: str
    model: str
    parent_run: str
    mirror_dir: Path  # release_b subset as served
    old_dir: Path  # release_a subset as ingested
    deleted: str  # accession removed from the served release_b
    added: str  # accession only in the served release_b


def _entry_blocks_flat(text: str) -> list[str]:
    return [block + "//\n" for block in text.split("//\n") if block.strip()]


def _flat_accession(block: str) -> str:
    return re.search(r"^AC   (\w+);", block, re.M).group(1)


def _xml_accession(entry: str) -> str:
    return re.search(r"<accession>(\w+)</accession>", entry).group(1)


def chosen_accessions() -> set[str]:
    """The subset of the pair the tests use (see module docstring)."""
    old = {e.accession: e for e in collect_entries([str(RELEASES / "release_a" / f) for f in FILES]).entries}
    new = {e.accession: e for e in collect_entries([str(RELEASES / "release_b" / f) for f in FILES]).entries}
    return {
        acc
        for acc in old
        if old[acc].crc64 != new[acc].crc64
        or old[acc].ec != new[acc].ec
        or max(old[acc].length, new[acc].length) <= SHORT
    }


def write_subset(release_dir: Path, keep: set[str], out: Path) -> None:
    """``entries.xml`` / ``entries.dat`` of ``release_dir`` with only the entries of ``keep``, verbatim."""
    out.mkdir(parents=True, exist_ok=True)
    xml_text = (release_dir / "entries.xml").read_text()
    first, last = xml_text.index("<entry"), xml_text.rindex("</entry>") + len("</entry>")
    entries = re.findall(r"<entry\b.*?</entry>", xml_text[first:last], re.S)
    kept = "\n".join(e for e in entries if _xml_accession(e) in keep)
    (out / "entries.xml").write_text(xml_text[:first] + kept + xml_text[last:])
    blocks = _entry_blocks_flat((release_dir / "entries.dat").read_text())
    (out / "entries.dat").write_text("".join(b for b in blocks if _flat_accession(b) in keep))


def make_mirror(root: Path, keep: set[str]) -> tuple[Path, str, str]:
    """release_b as files to serve: entries.xml, entries.dat minus one entry, new.xml with one entry of
    the main set that is in neither release."""
    mirror = root / "mirror"
    write_subset(RELEASES / "release_b", keep, mirror)
    xml_text = (mirror / "entries.xml").read_text()
    in_xml = set(re.findall(r"<accession>(\w+)</accession>", xml_text))
    blocks = _entry_blocks_flat((mirror / "entries.dat").read_text())
    only_flat = [b for b in blocks if _flat_accession(b) not in in_xml]
    # a short one: attributed (not a too-long failure) in the parent run
    victim = next(
        b for b in only_flat if int(re.search(r"^SQ   SEQUENCE\s+(\d+) AA;", b, re.M).group(1)) <= SHORT
    )
    deleted = _flat_accession(victim)
    (mirror / "entries.dat").write_text("".join(b for b in blocks if b is not victim))
    known = (
        in_xml
        | {_flat_accession(b) for b in blocks}
        | set(
            re.findall(r"<accession>(\w+)</accession>", (RELEASES / "release_a" / "entries.xml").read_text())
        )
    )
    main_xml = (UNIPROT_DATA / "xml" / "entries_01.xml").read_text()
    for entry in re.findall(r"<entry\b.*?</entry>", main_xml, re.S):
        accession = _xml_accession(entry)
        length = int(re.search(r'<sequence[^>]*length="(\d+)"', entry).group(1))
        if accession not in known and length < 300:
            break
    (mirror / "new.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<uniprot xmlns="http://uniprot.org/uniprot">\n'
        f"{entry}\n</uniprot>\n"
    )
    return mirror, deleted, accession


def ingest(store: str, release: str, sources: list[str]) -> None:
    write_entries(open_store(store), release, collect_entries(sources), sources=sources)


def start_local_ray() -> bool:
    """``ray.init`` for the tests (True if this call started it). On an overloaded machine the local
    node can time out during start-up; that is retried once, after a clean shutdown."""
    import ray

    if ray.is_initialized():
        return False
    for attempt in range(2):
        try:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING)
            return True
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception for a node start-up timeout
            ray.shutdown()
            if attempt:
                raise
    return False


@pytest.fixture(scope="module")
def local_ray():
    """One in-process Ray for the module: the pipeline joins it instead of starting and stopping its own
    per run (three runs here)."""
    import ray

    started = start_local_ray()
    yield
    if started:
        ray.shutdown()


def rerun_model(directory: Path) -> Path:
    """The small random BERT classifier (the re-run tests' label map) every re-run test attributes with."""
    return write_random_model(
        directory, "bert", num_layers=2, num_heads=2, hidden=16, num_labels=len(LABELS), label_names=LABELS
    )


@pytest.fixture(scope="module")
def attributed(tmp_path_factory, local_ray) -> Attributed:
    root = tmp_path_factory.mktemp("rerun")
    model = rerun_model(root / "model")
    store = str(root / "store")
    keep = chosen_accessions()
    write_subset(RELEASES / "release_a", keep, root / "release_a")
    ingest(store, OLD, [str(root / "release_a" / f) for f in FILES])
    summary = run_attribution(RunConfig(store=store, release=OLD, model=str(model), **ATTRIBUTE))
    mirror, deleted, added = make_mirror(root, keep)
    return Attributed(store, str(model), summary.run_id, mirror, root / "release_a", deleted, added)
