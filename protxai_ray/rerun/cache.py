"""The attribution cache: which proteins of a new release can take their rows from the parent run.

Cache key of one protein's attributions: ``(model sha256, target spec, method config, CRC64)`` and, for
``target=label``, the resolved target class (the entry's class under the model's label map, computed from
its EC/GO sets and annotation feature types, as the pipeline's actors resolve it). Attributions depend on nothing else, so:

- a different model (weights sha256), target spec or method config than the parent run: no hit at all
  (the re-run keeps the parent's target and method, so only changed weights cause this);
- ``target=argmax`` or a fixed class: a protein hits when the parent run attributed the same sequence
  (same CRC64) — EC/GO changes do not matter;
- ``target=label``: it also needs the parent's ``target_index`` to equal the class resolved from the
  *new* EC/GO sets, i.e. only label changes that change the model's target cause recomputation.

A protein the parent run recorded as a failure (e.g. longer than the model's positions) keeps that
failure when its sequence and, for ``target=label``, the class resolved from its EC/GO are unchanged.

Hits prefer the same accession; another accession with the same sequence (CRC64) and target also hits
(its rows are copied under the new accession). Every miss gets a reason (``REASONS``), which the re-run
reports: a release's EC/GO edits count as ``label_changed`` only where they move the model's class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from protxai_ray.store.manifest import RunManifest

# (ec, go, feature_types) -> class index, None if unresolvable
Resolver = Callable[[list[str], list[str], list[str]], int | None]


@dataclass(frozen=True)
class RunKey:
    """The run-level part of the cache key."""

    model_sha256: str
    target: str
    method: str  # canonical JSON of the method config

    @classmethod
    def of_manifest(cls, manifest: RunManifest) -> RunKey:
        return cls(
            model_sha256=(manifest.model.sha256 if manifest.model else None) or "",
            target=str(manifest.target),
            method=json.dumps(manifest.method or {}, sort_keys=True),
        )


REASONS = ("new", "sequence_changed", "label_changed", "newly_selected", "model_changed")
"""Why a protein is re-attributed, in ``plan_reuse``'s order of precedence:

- ``model_changed``: the parent's model weights, target or method differ from now (nothing hits);
- ``new``: the accession is not in the parent run's release;
- ``sequence_changed``: its CRC64 differs from the parent run's release;
- ``label_changed``: same sequence, but the class the *model* attributes changed (``target=label``: the
  class resolved from the new EC/GO/feature types under the model's label map differs from the parent
  run's ``target_index``, or no longer resolves). An EC/GO edit that leaves the class alone is not one;
- ``newly_selected``: same sequence and class, but the parent run did not hold it (its row changed so the
  parent's ``--where`` now matches it)."""


@dataclass
class CachePlan:
    """``reuse``: new accession -> parent accession whose prediction/residue/head rows are copied;
    ``reuse_failures``: new accession -> parent accession whose failure row is copied;
    ``attribute``: accessions to send to the pipeline (sorted); ``reasons``: accession of ``attribute``
    -> one of ``REASONS``."""

    reuse: dict[str, str] = field(default_factory=dict)
    reuse_failures: dict[str, str] = field(default_factory=dict)
    attribute: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    def reason_counts(self) -> dict[str, int]:
        """Re-attributed proteins per reason (every reason present, zero when none)."""
        counts = dict.fromkeys(REASONS, 0)
        for reason in self.reasons.values():
            counts[reason] += 1
        return counts


def _column(table: pa.Table, name: str) -> list:
    return table[name].to_pylist() if name in table.column_names else [None] * table.num_rows


def plan_reuse(
    parent_key: RunKey,
    current_key: RunKey,
    proteins: pa.Table,
    parent_predictions: pa.Table,
    parent_failures: pa.Table,
    previous_proteins: pa.Table,
    resolve: Resolver | None,
) -> CachePlan:
    """Decide, per protein of the new release, reuse or re-attribute (and why).

    ``proteins``: the new release's proteins the run covers (accession, crc64, ec, go and, when the model
    labels feature types, feature_types); ``parent_predictions``: the parent run's (accession, crc64,
    target_index); ``parent_failures``: its (accession, crc64); ``previous_proteins``: the parent
    release's (accession, crc64, ec, go[, feature_types]); ``resolve`` maps (ec, go, feature_types) to the
    target class (needed for ``target=label`` only).
    """
    plan = CachePlan()
    accessions = proteins["accession"].to_pylist()
    crcs = proteins["crc64"].to_pylist()
    previous_crc = dict(
        zip(previous_proteins["accession"].to_pylist(), previous_proteins["crc64"].to_pylist(), strict=True)
    )
    if parent_key != current_key:
        plan.attribute = sorted(accessions)
        plan.reasons = dict.fromkeys(plan.attribute, "model_changed")
        return plan
    by_crc: dict[str, dict[str, int]] = {}  # crc64 -> {parent accession: target_index}
    pred = parent_predictions.select(["accession", "crc64", "target_index"]).to_pydict()
    for acc, crc, target in zip(pred["accession"], pred["crc64"], pred["target_index"], strict=True):
        by_crc.setdefault(crc, {})[acc] = int(target)
    fcols = parent_failures.select(["accession", "crc64"]).to_pydict()
    failed = set(zip(fcols["accession"], fcols["crc64"], strict=True))
    in_parent = set(pred["accession"]) | set(fcols["accession"])
    by_label = current_key.target == "label"

    def wanted_class(ec, go, feature_types) -> int | None:
        return resolve(list(ec or []), list(go or []), list(feature_types or [])) if resolve else None

    old_class: dict[str, int | None] = {}
    if by_label:
        failed_accessions = {acc for acc, _ in failed}
        prev = zip(
            previous_proteins["accession"].to_pylist(),
            _column(previous_proteins, "ec"),
            _column(previous_proteins, "go"),
            _column(previous_proteins, "feature_types"),
            strict=True,
        )
        for acc, ec, go, ftypes in prev:
            if acc in failed_accessions:  # the class the parent's failure was for
                old_class[acc] = wanted_class(ec, go, ftypes)
    rows = zip(
        accessions,
        crcs,
        _column(proteins, "ec"),
        _column(proteins, "go"),
        _column(proteins, "feature_types"),
        strict=True,
    )
    for acc, crc, ec, go, ftypes in rows:
        candidates = by_crc.get(crc, {})
        wanted = None
        if by_label:
            wanted = wanted_class(ec, go, ftypes)
            candidates = {a: t for a, t in candidates.items() if wanted is not None and t == wanted}
        if candidates:
            plan.reuse[acc] = acc if acc in candidates else min(candidates)
        elif (acc, crc) in failed and (not by_label or old_class.get(acc, -2) == wanted):
            plan.reuse_failures[acc] = acc
        else:
            plan.attribute.append(acc)
            if acc not in previous_crc:
                plan.reasons[acc] = "new"
            elif previous_crc[acc] != crc:
                plan.reasons[acc] = "sequence_changed"
            elif acc not in in_parent:
                plan.reasons[acc] = "newly_selected"
            else:  # same sequence, held by the parent: only the model's class can have moved
                plan.reasons[acc] = "label_changed"
    plan.attribute.sort()
    return plan
