"""Which proteins a run covers, and how a re-run inherits that from its parent run.

A run's *selection* is what the user asked for when the lineage started: ``protxai attribute --where
SQL`` (a DuckDB condition on the ``proteins`` table) and/or ``--accessions FILE``; neither means every
protein of the release. A re-run applies its parent's selection to the *new* release (so a protein whose
row now matches the condition joins, one that no longer matches or was deleted leaves) and records it in
its manifest (``rerun.selection``), so the re-run of a re-run inherits it in turn.

Where a manifest does not record it:

- ``inputs.where`` is the condition a run started with ``protxai attribute`` was given;
- its manifest records only the *number* of ``--accessions``, so the list is taken to be the accessions
  the run holds (its predictions and failures): the proteins of the list that were in the release;
- a re-run made before ``rerun.selection`` existed inherits the selection of its own parent, up the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from protxai_ray.pipeline.plan import filter_proteins
from protxai_ray.store.manifest import RunManifest


@dataclass(frozen=True)
class Selection:
    """``where``: DuckDB condition on ``proteins`` (None: no condition); ``accessions``: sorted accession
    list the run is restricted to (None: no list)."""

    where: str | None = None
    accessions: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.where is None and self.accessions is None

    def as_dict(self) -> dict:
        return {
            "where": self.where,
            "accessions": list(self.accessions) if self.accessions is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Selection:
        accessions = data.get("accessions")
        return cls(
            where=data.get("where") or None,
            accessions=tuple(sorted(set(accessions))) if accessions is not None else None,
        )

    def signature(self) -> str:
        """Equal for equal selections (compares long accession lists cheaply)."""
        accessions = None
        if self.accessions is not None:
            accessions = hashlib.sha256("\n".join(self.accessions).encode()).hexdigest()
        return json.dumps({"where": self.where, "accessions": accessions}, sort_keys=True)

    def describe(self) -> str:
        parts = []
        if self.where is not None:
            parts.append(f"--where {self.where!r}")
        if self.accessions is not None:
            parts.append(f"{len(self.accessions)} listed accessions")
        return " and ".join(parts) if parts else "all proteins"

    def apply(self, proteins: pa.Table) -> pa.Table:
        """The rows of ``proteins`` (``plan.PLAN_COLUMNS``) this selection covers (the pipeline's filter)."""
        if self.where is not None:
            from protxai_ray.errors import RunError
            from protxai_ray.store.duck import SQLRefused, check_where

            try:  # the manifest is data: checked as the CLI checks --where
                check_where(self.where)
            except SQLRefused as exc:
                raise RunError(f"the parent run's selection: {exc}") from None
        return filter_proteins(proteins, self.where, self.accessions)


AccessionsOf = Callable[[str, RunManifest], set[str]]  # (run id, manifest) -> accessions the run holds


def recorded_selection(manifest: RunManifest) -> Selection | None:
    """The selection a manifest states without reading any table; None when it cannot say."""
    block = manifest.rerun or {}
    if isinstance(block.get("selection"), dict):
        return Selection.from_dict(block["selection"])
    if manifest.parent_run is None:
        inputs = manifest.inputs or {}
        if inputs.get("accessions") is None:
            return Selection(where=inputs.get("where") or None)
    return None


def run_selection(all_runs: dict[str, RunManifest], run_id: str, accessions_of: AccessionsOf) -> Selection:
    """The selection of ``run_id`` (see the module docstring), following old re-runs to their parents."""
    seen: set[str] = set()
    current = run_id
    while current in all_runs and current not in seen:
        seen.add(current)
        manifest = all_runs[current]
        found = recorded_selection(manifest)
        if found is not None:
            return found
        if manifest.parent_run is None:  # started with --accessions: the list is what it holds
            inputs = manifest.inputs or {}
            return Selection(
                where=inputs.get("where") or None, accessions=tuple(sorted(accessions_of(current, manifest)))
            )
        current = manifest.parent_run
    # an old re-run whose ancestors are gone: the proteins it holds
    return Selection(accessions=tuple(sorted(accessions_of(run_id, all_runs[run_id]))))
