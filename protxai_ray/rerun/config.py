"""``RerunConfig`` (every setting of an incremental re-run) and ``RerunResult`` (what it did)."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class RerunResult:
    """``status``: ``up_to_date`` (nothing done), ``new_release`` (check only) or ``done``."""

    status: str
    release: str
    run_id: str | None = None
    parent_run: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    reattributed: list[str] = field(default_factory=list)  # accessions sent to the pipeline
    reused: int = 0  # proteins whose rows were copied from the parent run
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (also in the manifest)

    def message(self) -> str:
        if self.status == "up_to_date":
            return f"up to date: release {self.release} already has run {self.run_id}; nothing to do"
        if self.status == "new_release":
            return f"new release {self.release}: a re-run of {self.parent_run} is needed"
        return (
            f"release {self.release}: re-attributed {len(self.reattributed)} proteins, reused {self.reused} "
            f"from run {self.parent_run} in {self.seconds:.1f} s"
        )
