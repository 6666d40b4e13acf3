"""Domain errors shared across the package.

Each error is raised where the fact is known and reported once, at the edge (the CLI), as one line
that names the entry (or file, run, model) and the problem.
"""

from __future__ import annotations


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
