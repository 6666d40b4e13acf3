"""``RerunConfig`` (every setting of an incremental re-run) and ``RerunResult`` (what it did)."""

from __future__ import annotations

from dataclasses import dataclass, field

from protxai_ray.errors import check_run_id
from protxai_ray.rerun.lock import DEFAULT_TTL_S


@dataclass(frozen=True)
class RerunConfig:
    """One incremental re-run of ``from_run`` on a new release read from ``sources``.

    ``release`` None: detected (``reldate``, ``X-UniProt-Release`` header, ``reldate.txt`` beside the first
    source). ``from_run`` ``"latest"``: the newest complete run in the store. ``shard_size`` None: the
    parent run's. ``check_only``: detect and report, write nothing.
    """

    store: str
    sources: tuple[str, ...]
    release: str | None = None
    reldate: str | None = None
    from_run: str = "latest"
    run_id: str | None = None
    actors: int = 1
    num_gpus: float = 0.0
    shard_size: int | None = None
    ray_address: str | None = None
    check_only: bool = False
    lock_ttl_s: float = DEFAULT_TTL_S
    progress: bool = True

    def __post_init__(self) -> None:
        # before anything is read or written: a run id names a store directory
        if self.run_id is not None:
            check_run_id(self.run_id, "--run-id")
        if self.from_run != "latest":
            check_run_id(self.from_run, "--from-run")


REASON_WORDS = {
    "new": "new",
    "sequence_changed": "sequence changed",
    "label_changed": "this model's label changed",
    "newly_selected": "newly selected",
    "model_changed": "model weights changed",
}


@dataclass
class RerunResult:
    """``status``: ``up_to_date`` (nothing done), ``new_release`` (check only) or ``done``.

    ``counts``: re-attributed proteins per reason (``cache.REASONS``: new, sequence_changed,
    label_changed = the class this model attributes changed, newly_selected, model_changed);
    ``release_changes``: the release's own diff counts against the parent's release (every protein of the
    release, any EC/GO edit counted as ``label_changed``), kept for reference.
    """

    status: str
    release: str
    run_id: str | None = None
    parent_run: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    reattributed: list[str] = field(default_factory=list)  # accessions sent to the pipeline
    reused: int = 0  # proteins whose rows (predictions or failure) were copied from the parent run
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (also in the manifest)
    selection: str = ""  # the parent's selection, inherited ("all proteins", "--where '...'")
    proteins: int = 0  # proteins the new run holds (reattributed + reused)
    release_changes: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # parent's proteins left out: deleted, deselected
    failures: int = 0  # proteins of the new run recorded as failures
    new_failures: int = 0  # ... of them re-attributed now (the rest were kept from the parent run)
    failure_examples: list[str] = field(default_factory=list)  # "ACCESSION: reason", new ones first

    def message(self) -> str:
        if self.status == "up_to_date":
            return f"up to date: release {self.release} already has run {self.run_id}; nothing to do"
        if self.status == "new_release":
            return f"new release {self.release}: a re-run of {self.parent_run} is needed"
        why = ", ".join(f"{REASON_WORDS.get(k, k)} {v}" for k, v in self.counts.items() if v)
        lines = [
            f"release {self.release}: {self.proteins} proteins selected as in run {self.parent_run} "
            f"({self.selection or 'all proteins'}); re-attributed {len(self.reattributed)}"
            f"{f' ({why})' if why else ''}, reused {self.reused} from run {self.parent_run} "
            f"in {self.seconds:.1f} s"
        ]
        if any(self.dropped.values()):
            lines.append(
                f"left out {sum(self.dropped.values())} protein(s) of run {self.parent_run}: "
                f"{self.dropped.get('deleted', 0)} deleted from the release, "
                f"{self.dropped.get('deselected', 0)} no longer matching its selection"
            )
        if self.failures:
            first = "; ".join(self.failure_examples)
            lines.append(
                f"failures: {self.failures} ({self.new_failures} new, {self.failures - self.new_failures} "
                f"kept from run {self.parent_run}){f'; first: {first}' if first else ''}"
            )
        else:
            lines.append("failures: 0")
        return "\n".join(lines)
