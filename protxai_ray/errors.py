"""Domain errors shared across the package.

Each error is raised where the fact is known and reported once, at the edge (the CLI), as one line
that names the entry (or file, run, model) and the problem.
"""

from __future__ import annotations

import re


class ProtxaiError(Exception):
    """Base class: everything the CLI reports as a one-line message instead of a traceback."""


class InvalidEntry(ProtxaiError):
    """A UniProt entry that cannot be ingested (bad sequence, feature out of range, CRC64 mismatch...)."""

    def __init__(self, source: str, accession: str | None, reason: str) -> None:
        self.source = source
        self.accession = accession or "?"
        self.reason = reason
        super().__init__(f"{source}: entry {self.accession}: {reason}")


class InvalidSource(ProtxaiError):
    """A whole input file or URL that is unreadable, truncated, or not UniProt."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class InvalidSequence(ProtxaiError):
    """A protein sequence the model cannot take (empty, non-protein letters, too long)."""

    def __init__(self, accession: str, reason: str) -> None:
        self.accession = accession
        self.reason = reason
        super().__init__(f"{accession}: {reason}")


class StoreError(ProtxaiError):
    """The store is unreachable, refuses our credentials, or lacks what was asked for."""


class ModelLoadError(ProtxaiError):
    """A model directory that cannot be loaded (no safetensors, pickle weights, unsupported type)."""


class UnknownTarget(ProtxaiError):
    """A target class name/index that the model's label map does not have."""


class RunError(ProtxaiError):
    """A run that cannot start or continue (missing release, unreachable Ray cluster, ...)."""


class InvalidRunId(RunError):
    """A run id that is not a plain name (it becomes a directory name ``runs/run_id=ID`` of the store)."""


RUN_ID_MAX = 128
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_run_id(run_id: object, option: str = "--run-id") -> str:
    """``run_id`` if it is a safe run id (``[A-Za-z0-9][A-Za-z0-9._-]*``, at most 128 characters), else
    InvalidRunId naming ``option``: a path (``a/b``, ``../x``), blanks or control characters never reach the
    store, where they would write outside ``runs/`` or commit a run that no view can see."""
    if isinstance(run_id, str) and len(run_id) <= RUN_ID_MAX and _RUN_ID.fullmatch(run_id):
        return run_id
    shown = repr(run_id) if not isinstance(run_id, str) or len(run_id) <= 80 else repr(run_id[:80]) + "..."
    raise InvalidRunId(
        f"{option} {shown}: not a run id (1 to {RUN_ID_MAX} letters, digits, '.', '_' or '-', starting "
        "with a letter or digit)"
    )
