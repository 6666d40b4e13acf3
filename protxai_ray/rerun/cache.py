"""The attribution cache: which proteins of a new release can take their rows from the parent run.

Cache key of one protein's attributions: ``(model sha256, target spec, method config, CRC64)`` and, for
``target=label``, the resolved target class (the entry's class under the model's label map, computed from
its EC/GO sets). Attributions depend on nothing else, so:

- a different model (weights sha256), target spec or method config than the parent run: no hit at all
  (the re-run keeps the parent's target and method, so only changed weights cause this);
- ``target=argmax`` or a fixed class: a protein hits when the parent run attributed the same sequence
  (same CRC64) — EC/GO changes do not matter;
- ``target=label``: it also needs the parent's ``target_index`` to equal the class resolved from the
  *new* EC/GO sets, i.e. only label changes that change the model's target cause recomputation.

A protein the parent run recorded as a failure (e.g. longer than the model's positions) keeps that
failure when its sequence and, for ``target=label``, the class resolved from its EC/GO are unchanged.

Hits prefer the same accession; another accession with the same sequence (CRC64) and target also hits
(its rows are copied under the new accession).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

Resolver = Callable[[list[str], list[str]], int | None]  # (ec, go) -> class index, None if unresolvable


@dataclass(frozen=True)
class RunKey:
    """The run-level part of the cache key."""

    model_sha256: str
    target: str
    method: str  # canonical JSON of the method config

    @classmethod
    def of_manifest(cls, manifest: dict) -> RunKey:
        model = manifest.get("model") or {}
        return cls(
            model_sha256=str(model.get("sha256") or ""),
            target=str(manifest.get("target")),
            method=json.dumps(manifest.get("method") or {}, sort_keys=True),
        )


@dataclass
class CachePlan:
    """``reuse``: new accession -> parent accession whose prediction/residue/head rows are copied;
    ``reuse_failures``: new accession -> parent accession whose failure row is copied;
    ``attribute``: accessions to send to the pipeline (sorted)."""

    reuse: dict[str, str] = field(default_factory=dict)
    reuse_failures: dict[str, str] = field(default_factory=dict)
    attribute: list[str] = field(default_factory=list)


def plan_reuse(
    parent_key: RunKey,
    current_key: RunKey,
    proteins: pa.Table,
    parent_predictions: pa.Table,
    parent_failures: pa.Table,
    previous_proteins: pa.Table,
    resolve: Resolver | None,
) -> CachePlan:
    """Decide, per protein of the new release, reuse or re-attribute.

    ``proteins``: the new release's (accession, crc64, ec, go); ``parent_predictions``: the parent run's
    (accession, crc64, target_index); ``parent_failures``: its (accession, crc64); ``previous_proteins``:
    the parent release's (accession, ec, go); ``resolve`` maps (ec, go) to the target class (needed for
    ``target=label`` only).
    """
    plan = CachePlan()
    rows = proteins.select(["accession", "crc64", "ec", "go"]).to_pydict()
    accessions = rows["accession"]
    if parent_key != current_key:
        plan.attribute = sorted(accessions)
        return plan
    by_crc: dict[str, dict[str, int]] = {}  # crc64 -> {parent accession: target_index}
    pred = parent_predictions.select(["accession", "crc64", "target_index"]).to_pydict()
    for acc, crc, target in zip(pred["accession"], pred["crc64"], pred["target_index"], strict=True):
        by_crc.setdefault(crc, {})[acc] = int(target)
    fcols = parent_failures.select(["accession", "crc64"]).to_pydict()
    failed = set(zip(fcols["accession"], fcols["crc64"], strict=True))
    by_label = current_key.target == "label"
    old_class: dict[str, int | None] = {}
    if by_label and resolve is not None:
        failed_accessions = {acc for acc, _ in failed}
        prev = previous_proteins.select(["accession", "ec", "go"]).to_pydict()
        for acc, ec, go in zip(prev["accession"], prev["ec"], prev["go"], strict=True):
            if acc in failed_accessions:  # the class the parent's failure was for
                old_class[acc] = resolve(list(ec or []), list(go or []))
    for acc, crc, ec, go in zip(accessions, rows["crc64"], rows["ec"], rows["go"], strict=True):
        candidates = by_crc.get(crc, {})
        wanted = None
        if by_label:
            wanted = resolve(list(ec or []), list(go or [])) if resolve is not None else None
            candidates = {a: t for a, t in candidates.items() if wanted is not None and t == wanted}
        if candidates:
            plan.reuse[acc] = acc if acc in candidates else min(candidates)
        elif (acc, crc) in failed and (not by_label or old_class.get(acc, -2) == wanted):
            plan.reuse_failures[acc] = acc
        else:
            plan.attribute.append(acc)
    plan.attribute.sort()
    return plan
