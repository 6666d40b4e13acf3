"""``run_attribution(config)``: the driver of an attribution run.

1. Check cheaply, on the driver, everything that would otherwise fail inside Ray: the store opens, the
   release exists, the model loads (and the target names a class), the Ray address answers.
2. Plan shards (``plan.py``) and create or reopen ``runs/run_id=ID/manifest.json`` (``store/runs.py``).
3. Stream the shards not yet committed through a Ray Data actor pool (``actor.py``): each actor writes its
   shard's files and returns one summary row; the driver alone commits each shard to the manifest as the
   rows arrive (compare-and-swap, so concurrent drivers of the same run cannot lose commits).
4. Mark the run finished once every planned shard is committed, and return a ``RunSummary``.

Example::

    from protxai_ray.pipeline import RunConfig, run_attribution
    summary = run_attribution(RunConfig(store="out/store", release="2024_01", model="model_dir"))
    print(summary.run_id, summary.proteins_per_s)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tqdm import tqdm

from protxai_ray.errors import ProtxaiError, RunError
from protxai_ray.pipeline.cluster import CurrentStderr
from protxai_ray.pipeline.config import RunConfig
from protxai_ray.pipeline.plan import ShardPlan, filter_proteins, make_plan, read_release_proteins
from protxai_ray.pipeline.provenance import code_version, manifest_header, shard_entry
from protxai_ray.store.fs import Store
from protxai_ray.store.manifest import RunManifest
from protxai_ray.store.runs import RunManifests, committed_shards, run_dir
from protxai_ray.store.verify import clear_quarantine, verify_run

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one invocation of a run did (``computed_shards``: ids attributed by this invocation)."""

    run_id: str
    store: str
    manifest: str
    proteins: int
    failures: int
    shards: int
    computed_shards: list[str] = field(default_factory=list)
    skipped_shards: list[str] = field(default_factory=list)
    seconds: float = 0.0
    proteins_computed: int = 0
    tolerance: float | None = None  # head-error goal (steps="auto"), None for fixed steps
    head_errors: list[float] = field(default_factory=list)  # per attributed protein (auto)
    nodes: list[int] = field(default_factory=list)  # path points per attributed protein
    failure_reasons: list[str] = field(default_factory=list)  # "ACCESSION: reason", the first few

    @property
    def all_failed(self) -> bool:
        """Every planned protein failed (the run is committed, but holds no attribution at all)."""
        return self.proteins > 0 and self.failures >= self.proteins

    @property
    def proteins_per_s(self) -> float:
        return self.proteins_computed / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        return [
            f"run_id={self.run_id}",
            f"proteins={self.proteins} failures={self.failures} shards={self.shards} "
            f"(computed now: {len(self.computed_shards)}, already committed: {len(self.skipped_shards)})",
            f"time={self.seconds:.1f}s throughput={self.proteins_per_s:.2f} proteins/s",
            *self.accuracy_lines(),
            f"store={self.manifest}",
        ]

    def accuracy_lines(self) -> list[str]:
        if self.tolerance is None or not self.head_errors:
            return []
        errors, nodes = sorted(self.head_errors), sorted(self.nodes)
        above = sum(e > self.tolerance for e in errors)
        return [
            f"head error (estimated, max over layers): median {errors[len(errors) // 2]:.2g}, max "
            f"{errors[-1]:.2g}; {above} of {len(errors)} proteins above the tolerance {self.tolerance:g}"
            f"{' (left out by stats; more --max-nodes would refine them)' if above else ''}; "
            f"path points per protein: median {nodes[len(nodes) // 2]}, max {nodes[-1]}"
        ]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def prepare(config: RunConfig):
    """Driver-side checks and the plan: (store, model, plan). Raises one ProtxaiError on bad input."""
    from protxai_ray.models import load_model
    from protxai_ray.pipeline.shards import resolve_target

    store = Store(config.store)
    proteins = read_release_proteins(store, config.release)
    selected = filter_proteins(proteins, config.where, config.accessions)
    plan = make_plan(selected, config.shard_size)
    model = load_model(config.model, device="cpu")
    if config.target not in ("label", "argmax"):
        resolve_target(model, config.target, [], [])  # UnknownTarget now rather than per protein
    return store, model, plan


def descriptors(plan: ShardPlan, todo: set[str]) -> list[dict]:
    """One row per shard to compute, longest proteins first (big shards start early: shorter tail)."""
    rows = []
    for sid, table in zip(plan.shard_ids, plan.shards, strict=True):
        if sid in todo:
            rows.append({"shard": sid, **{name: table[name].to_pylist() for name in table.column_names}})
    return rows[::-1]


def _drop_damaged(store: Store, manifests: RunManifests, run_id: str, manifest: RunManifest) -> RunManifest:
    """On resume: committed shards whose files no longer match their checks are un-committed (and their
    quarantine lifted) so this run re-computes them."""
    if not manifest.shards:
        return manifest
    problems = verify_run(store, run_id, manifest, deep=True)
    if not problems:
        return manifest
    shards = {p.shard for p in problems}
    print(
        f"run {run_id}: {len(shards)} committed shard(s) damaged ({problems[0].line(store)}"
        f"{'' if len(problems) == 1 else f'; {len(problems) - 1} more'}); re-computing them",
        file=sys.stderr,
    )
    manifest = manifests.drop_shards(run_id, shards)
    clear_quarantine(store, run_id, shards)
    return manifest


def gpu_capacity(gpus_per_node: list[float], num_gpus: float) -> int:
    """How many actors of ``num_gpus`` GPUs each fit on nodes with these GPU counts (Ray's packing: a
    fraction of one GPU per actor, or whole GPUs of one node)."""
    if num_gpus <= 0:
        return 0
    if num_gpus <= 1:
        per_gpu = int(1 / num_gpus + 1e-9)
        return sum(int(g) * per_gpu for g in gpus_per_node)
    return sum(int(g // num_gpus) for g in gpus_per_node)


def _gpus_per_node(address: str | None) -> tuple[list[float], str]:
    """GPU count of each node the actors can use, and where they were counted (for the message)."""
    if not address:
        import torch

        return [torch.cuda.device_count() if torch.cuda.is_available() else 0], "this machine"
    import ray

    from protxai_ray.pipeline.cluster import connect

    started = connect(address)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive", n.get("alive"))]
        gpus = [float((n.get("Resources") or {}).get("GPU", 0)) for n in nodes]
        return gpus, f"the Ray cluster at {address}"
    finally:
        if started:
            ray.shutdown()


def check_gpus(config: RunConfig) -> None:
    """RunError (one line) when ``--num-gpus`` asks for GPUs that are not there: Ray would wait for them
    forever, with the run's manifest already created. Counted locally (``torch.cuda``) or, when joining a
    cluster (``ray_address`` / ``RAY_ADDRESS``), from the cluster's nodes."""
    if not config.num_gpus:
        return
    address = config.ray_address or os.environ.get("RAY_ADDRESS") or None
    per_node, where = _gpus_per_node(address)
    capacity = gpu_capacity(per_node, config.num_gpus)
    if capacity >= config.actors:
        return
    total = sum(per_node)
    found = (
        "no GPU"
        if not total
        else f"{total:g} GPU(s), room for {capacity} actor(s) of {config.num_gpus:g} GPU"
    )
    raise RunError(
        f"--num-gpus {config.num_gpus:g} with --actors {config.actors}: {where} has {found}; "
        f"use --num-gpus 0 for CPU actors{' or fewer --actors' if capacity else ''}"
    )


def run_attribution(config: RunConfig) -> RunSummary:
    """Run (or resume) ``config.run_id``; see the module docstring."""
    started = time.perf_counter()
    check_gpus(config)  # before anything is written
    store, model, plan = prepare(config)
    manifests = RunManifests(config.store)
    header = manifest_header(config, model, plan, _now())
    manifest = manifests.create(config.run_id, header)
    manifest = _drop_damaged(store, manifests, config.run_id, manifest)
    done = committed_shards(manifest)
    todo = set(plan.shard_ids) - done
    summary = RunSummary(
        run_id=config.run_id,
        store=store.uri,
        manifest=store.uri_of(f"{run_dir(config.run_id)}/manifest.json"),
        proteins=plan.total_proteins,
        failures=manifest.failures,
        shards=len(plan.shard_ids),
        skipped_shards=sorted(done & set(plan.shard_ids)),
    )
    del model  # the actors load their own copy
    if todo:
        rows = descriptors(plan, todo)
        initial = manifest.proteins
        with tqdm(
            total=plan.total_proteins,
            initial=initial,
            unit="protein",
            desc=f"attribute {config.run_id}",
            disable=not config.progress,
            dynamic_ncols=True,
            file=CurrentStderr(),  # still the terminal while Ray's native output is redirected
        ) as bar:
            for row in stream_shards(config, rows):
                if row.get("skipped"):
                    summary.skipped_shards.append(row["shard"])
                else:
                    manifests.commit_shard(config.run_id, shard_entry(row))
                    summary.computed_shards.append(row["shard"])
                    summary.proteins_computed += int(row["proteins"])
                bar.update(int(row["proteins"]))
        manifest = manifests.read(config.run_id) or manifest
        summary.failures = manifest.failures
    missing = set(plan.shard_ids) - committed_shards(manifest)
    if missing:
        raise RunError(
            f"run {config.run_id}: {len(missing)} shard(s) were not committed; rerun with --run-id"
        )
    summary.seconds = time.perf_counter() - started
    manifests.finish(
        config.run_id,
        _now(),
        {"proteins": summary.proteins, "failures": summary.failures, "shards": summary.shards},
    )
    summary.computed_shards.sort()
    summary.skipped_shards.sort()
    if config.attribution.adaptive:
        summary.tolerance = config.tolerance
        summary.head_errors, summary.nodes = _accuracy(store, config.run_id, manifest)
    if summary.failures:
        summary.failure_reasons = _first_failures(store, config.run_id, manifest)
    return summary


def _first_failures(store: Store, run_id: str, manifest: RunManifest, limit: int = 3) -> list[str]:
    """``ACCESSION: reason`` of the first ``limit`` failed proteins of the run's committed shards."""
    from protxai_ray.store.parquet import read_table

    reasons: list[str] = []
    for shard in manifest.shards:
        name = shard.files.get("failures")
        if not shard.failures or not name:
            continue
        table = read_table(store, [f"{run_dir(run_id)}/{name}"])
        for accession, reason in zip(
            table["accession"].to_pylist(), table["reason"].to_pylist(), strict=True
        ):
            text = " ".join(str(reason).split())
            if text.startswith(f"{accession}: "):
                text = text[len(accession) + 2 :]
            reasons.append(f"{accession}: {text[:160]}{'...' if len(text) > 160 else ''}")
            if len(reasons) == limit:
                return reasons
    return reasons


def _accuracy(store: Store, run_id: str, manifest: RunManifest) -> tuple[list[float], list[int]]:
    """Estimated head error and path points of every protein the run's committed shards hold."""
    from protxai_ray.store.parquet import read_table

    files = [f"{run_dir(run_id)}/{rel}" for rel in manifest.files("predictions")]
    if not files:
        return [], []
    table = read_table(store, files)
    if "head_error" not in table.column_names:
        return [], []
    pairs = [
        (e, n)
        for e, n in zip(table["head_error"].to_pylist(), table["n_steps"].to_pylist(), strict=True)
        if e is not None
    ]
    return [float(e) for e, _ in pairs], [int(n) for _, n in pairs]


def stream_local(config: RunConfig, rows: list[dict]):
    """``executor="local"``: the actor's code in this process, one shard after another."""
    import pyarrow as pa

    from protxai_ray.pipeline.actor import AttributeShard

    worker = AttributeShard(config.replace(accessions=None, where=None))
    for row in rows:
        yield from worker(pa.Table.from_pylist([row])).to_pylist()


def stream_shards(config: RunConfig, rows: list[dict]):
    """Yield one summary dict per shard as actors finish them (Ray started here if not yet running)."""
    if config.executor == "local":
        yield from stream_local(config, rows)
        return
    import ray

    from protxai_ray.pipeline.actor import AttributeShard
    from protxai_ray.pipeline.cluster import connect, native_stderr_to_ray_logs, quiet_ray_data_console

    started_ray = connect(config.ray_address)
    try:
        with native_stderr_to_ray_logs():  # Ray's C++ log lines go to its log files
            ctx = ray.data.DataContext.get_current()
            quiet_ray_data_console()
            ctx.enable_progress_bars = False  # ours counts proteins, not blocks
            ctx.print_on_execution_start = False
            ctx.max_consecutive_actor_init_deaths = 2  # a model that cannot load fails the run, fast
            cpus = 0 if config.num_gpus else max(1, config.threads_per_actor)
            dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows))).map_batches(
                AttributeShard,
                fn_constructor_args=(config.replace(accessions=None, where=None),),
                batch_size=1,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=min(config.actors, max(1, len(rows)))),
                num_cpus=cpus,
                num_gpus=config.num_gpus or None,
                # Ray Data's actor pools default to max_restarts=-1, max_task_retries=-1: a killed actor is
                # restarted and its shard retried, which overwrites the same files.
            )
            try:
                yield from dataset.iter_rows()
            except ProtxaiError:
                raise
            except Exception as exc:
                raise domain_error(exc) from None
    finally:
        if started_ray:
            ray.shutdown()


def domain_error(exc: BaseException) -> ProtxaiError:
    """The ProtxaiError inside a Ray failure (actor init, task), else a one-line RunError."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ProtxaiError):
            return current
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else (current.__cause__ or current.__context__)
    text = str(exc)
    for line in text.splitlines()[::-1]:
        for name in ("ModelLoadError", "StoreError", "InvalidSequence", "UnknownTarget", "RunError"):
            if line.strip().startswith(f"{name}:") or f"errors.{name}:" in line:
                return RunError(line.split(":", 1)[1].strip())
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    return RunError(f"Ray run failed: {type(exc).__name__}: {first.strip()[:300]}")


__all__ = ["RunSummary", "code_version", "run_attribution"]
