"""``RunConfig``: every setting of an attribution run in one frozen object (the Ray Data style).

The CLI (``protxai attribute``), the Ray job script (``jobs/attribute.py``) and the incremental re-run all
build a ``RunConfig`` and hand it to ``protxai_ray.pipeline.run_attribution``; nothing else is passed
around. Settings that change results (release, model, target, method, precision, shard plan) go into
the run's fingerprint; settings that only change how fast it runs (actors, GPUs, Ray address) do not, so a
run can be resumed on a different cluster.

Example::

    config = RunConfig(store="s3://bucket/store", release="2024_01", model="models/ec", target="label")
    summary = run_attribution(config)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from protxai_ray.attribution.settings import AttributionSettings
from protxai_ray.errors import check_run_id

DEFAULT_SHARD_SIZE = 256
_DEFAULTS = AttributionSettings()


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC start time plus 6 random hex digits (``20261125T120301Z-9f3a1c``)."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunConfig:
    """One attribution run.

    ``steps``, ``tolerance``, ``max_nodes``, ``method``, ``derivative``, ``precision``: the
    ``AttributionSettings`` of the run (``attribution``; defaults: ``steps="auto"``, head error ≤ 1 %).
    ``actors``/``num_gpus`` size the Ray actor pool (``num_gpus`` per actor; 0 = CPU actors with
    ``threads_per_actor`` torch threads each); ``executor="local"`` runs the same shard code in this
    process instead (validate, tests, benchmarks that must not start Ray). ``where`` is a DuckDB SQL
    condition on the ``proteins`` table, ``accessions`` restricts the run to those accessions. ``memory_budget_mb`` bounds the activation
    memory of one engine pass (the engine packs proteins of similar length under it); None means a fixed
    1024 MB on CPU (fixed, so batching and hence the bits do not depend on free RAM) and the engine's share
    of free memory on GPUs. ``run_id`` and ``parent_run`` must be plain names (``check_run_id``).
    """

    store: str
    release: str
    model: str
    target: str = "label"
    steps: int | str = _DEFAULTS.steps
    method: str = _DEFAULTS.method
    derivative: str = _DEFAULTS.derivative
    tolerance: float = _DEFAULTS.tolerance
    precision: str = _DEFAULTS.precision
    max_nodes: int = _DEFAULTS.max_nodes
    actors: int = 1
    num_gpus: float = 0.0
    threads_per_actor: int = 1
    shard_size: int = DEFAULT_SHARD_SIZE
    memory_budget_mb: int | None = None
    ray_address: str | None = None
    executor: str = "ray"  # "ray": actor pool; "local": one AttributeShard in this process (no Ray)
    run_id: str = field(default_factory=new_run_id)
    where: str | None = None
    accessions: tuple[str, ...] | None = None
    parent_run: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check_run_id(self.run_id, "run id")  # InvalidRunId (a RunError): it names a store directory
        if self.parent_run is not None:
            check_run_id(self.parent_run, "parent run id")
        if self.shard_size < 1:
            raise ValueError("shard_size must be >= 1")
        if self.actors < 1:
            raise ValueError("actors must be >= 1")
        if self.executor not in ("ray", "local"):
            raise ValueError(f"executor must be 'ray' or 'local', got {self.executor!r}")
        if not self.num_gpus >= 0:  # also NaN
            raise ValueError(f"num_gpus must be >= 0 (0 = CPU actors), got {self.num_gpus!r}")
        if self.threads_per_actor < 1:
            raise ValueError("threads_per_actor must be >= 1")
        self.attribution  # validates the attribution settings  # noqa: B018

    @property
    def attribution(self) -> AttributionSettings:
        """The run's ``AttributionSettings`` (what ``attribute_batch`` gets)."""
        return AttributionSettings(
            steps=self.steps,
            tolerance=self.tolerance,
            max_nodes=self.max_nodes,
            method=self.method,
            derivative=self.derivative,
            precision=self.precision,
        )

    def method_config(self) -> dict:
        """The settings that decide the numbers (recorded in the manifest, part of the fingerprint and of
        the re-run cache key): ``AttributionSettings.as_dict()``."""
        return self.attribution.as_dict()

    def fingerprint(self, model_sha256: str, plan_digest: str) -> str:
        """sha256 of everything that must match for a resumed run to continue this one."""
        payload = {
            "release": self.release,
            "model_sha256": model_sha256,
            "target": self.target,
            "method": self.method_config(),
            "shard_size": self.shard_size,
            "plan": plan_digest,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)
