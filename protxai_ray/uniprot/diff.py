"""Release diff: what changed for each accession between two UniProt releases (the ``release_changes`` table).

A pure function over two releases' states, built either from parsed entries (``states_from_entries``) or
from the store's ``proteins``/``annotations`` tables (``states_from_tables``). One row per accession of
either release. A protein can change in several ways at once, so every kind has its own boolean column and
``change`` names the primary kind by precedence::

    new > deleted > sequence_changed > label_changed > annotations_changed > unchanged

Definitions (docs/method.md "Re-runs on new releases"):

- ``sequence_changed``: CRC64 differs, or both releases give a sequence version and they differ.
- ``label_changed``: the EC set or the GO set differs (``ec_changed`` / ``go_changed`` say which). Whether
  that changes a model's *target* depends on the model's label map; the re-run decides that per model.
- ``annotations_changed``: the multiset of features, compared on (feature_type, start, end) — the fields
  the statistics' masks are built from — differs. Description/evidence wording alone is not a change.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from protxai_ray.store.schemas import RELEASE_CHANGES
from protxai_ray.uniprot.records import ProteinEntry

CHANGE_KINDS = ("new", "deleted", "sequence_changed", "label_changed", "annotations_changed", "unchanged")

FeatureKey = tuple[str, int, int]  # (feature_type, start, end)


@dataclass(frozen=True, slots=True)
class ProteinState:
    """What the diff compares for one accession in one release."""

    crc64: str
    sequence_version: int | None
    ec: frozenset[str]
    go: frozenset[str]
    features: tuple[FeatureKey, ...]  # sorted, duplicates kept (a multiset)


def states_from_entries(entries: Iterable[ProteinEntry]) -> dict[str, ProteinState]:
    """States of parsed entries (e.g. a new release before it is written)."""
    return {
        e.accession: ProteinState(
            crc64=e.crc64,
            sequence_version=e.sequence_version,
            ec=frozenset(e.ec),
            go=frozenset(e.go),
            features=tuple(sorted((f.feature_type, int(f.start), int(f.end)) for f in e.features)),
        )
        for e in entries
    }


def states_from_tables(proteins: pa.Table, annotations: pa.Table) -> dict[str, ProteinState]:
    """States of one release read from the store (``proteins`` and ``annotations`` rows of that release)."""
    features: dict[str, list[FeatureKey]] = defaultdict(list)
    cols = annotations.select(["accession", "feature_type", "start", "end"]).to_pydict()
    for acc, ftype, start, end in zip(
        cols["accession"], cols["feature_type"], cols["start"], cols["end"], strict=True
    ):
        features[acc].append((ftype, int(start), int(end)))
    pcols = proteins.select(["accession", "crc64", "sequence_version", "ec", "go"]).to_pydict()
    return {
        acc: ProteinState(
            crc64=crc,
            sequence_version=seq_version,
            ec=frozenset(ec or ()),
            go=frozenset(go or ()),
            features=tuple(sorted(features.get(acc, ()))),
        )
        for acc, crc, seq_version, ec, go in zip(
            pcols["accession"],
            pcols["crc64"],
            pcols["sequence_version"],
            pcols["ec"],
            pcols["go"],
            strict=True,
        )
    }


def _primary(flags: Mapping[str, bool]) -> str:
    for kind in CHANGE_KINDS[:-1]:
        if flags[kind]:
            return kind
    return "unchanged"


def diff_releases(
    old: Mapping[str, ProteinState],
    new: Mapping[str, ProteinState],
    release: str,
    previous_release: str,
) -> pa.Table:
    """``release_changes`` rows (schema ``RELEASE_CHANGES``), one per accession of either release, sorted."""
    rows: dict[str, list] = {name: [] for name in RELEASE_CHANGES.names}
    for acc in sorted(set(old) | set(new)):
        before, after = old.get(acc), new.get(acc)
        both = before is not None and after is not None
        seq_changed = both and (
            before.crc64 != after.crc64
            or (
                before.sequence_version is not None
                and after.sequence_version is not None
                and before.sequence_version != after.sequence_version
            )
        )
        ec_changed = both and before.ec != after.ec
        go_changed = both and before.go != after.go
        flags = {
            "new": before is None,
            "deleted": after is None,
            "sequence_changed": seq_changed,
            "label_changed": ec_changed or go_changed,
            "annotations_changed": both and before.features != after.features,
        }
        values = {
            "release": release,
            "previous_release": previous_release,
            "accession": acc,
            "change": _primary(flags),
            "crc64_old": before.crc64 if before else None,
            "crc64_new": after.crc64 if after else None,
            "sequence_version_old": before.sequence_version if before else None,
            "sequence_version_new": after.sequence_version if after else None,
            "is_new": flags["new"],
            "is_deleted": flags["deleted"],
            "sequence_changed": seq_changed,
            "label_changed": flags["label_changed"],
            "ec_changed": ec_changed,
            "go_changed": go_changed,
            "annotations_changed": flags["annotations_changed"],
        }
        for name, value in values.items():
            rows[name].append(value)
    return pa.table(rows, schema=RELEASE_CHANGES)


def change_counts(changes: pa.Table) -> dict[str, int]:
    """Counts per primary ``change`` kind (every kind present, zero when absent) plus flag totals.

    Flag totals (``any_sequence_changed``...) count a protein under every kind it has, not only its primary.
    """
    primary = Counter(changes.column("change").to_pylist())
    counts = {kind: int(primary.get(kind, 0)) for kind in CHANGE_KINDS}
    for flag in ("sequence_changed", "label_changed", "ec_changed", "go_changed", "annotations_changed"):
        counts[f"any_{flag}"] = int(sum(bool(v) for v in changes.column(flag).to_pylist()))
    return counts
