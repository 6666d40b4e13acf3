"""The incremental re-run: new UniProt release in, a complete new run out, recomputing only what changed.

``run_rerun(config)`` does, in order (each step says why it comes there):

1. detect the release name and pick the parent run — cheap, so an unchanged release costs seconds
   ("up to date" when a complete run of the parent's model/target/method/selection exists for that
   release);
2. refuse a release older than the store's newest, then take the store lock ``locks/rerun-release=R``;
3. parse every source completely *before* writing anything, so a non-UniProt or truncated source leaves
   the store untouched;
4. write the release, then its ``release_changes`` rows (diff against the parent run's release);
5. apply the parent's selection (``selection``: its ``--where``/accession list) to the new release, plan
   the cache hits among those proteins (``cache.plan_reuse``, with the reason of every miss), attribute
   the misses with the pipeline (accession filter, the parent's model, target and method), copy the hits'
   rows into reuse shards, and commit them plus ``parent_run``, the selection and the counts into the
   manifest (one compare-and-swap). Nothing to re-attribute (an unchanged release) is a run of reuse
   shards only, equal to the parent;
6. recompute the statistics of the new run (annotation-only changes are picked up here).

A crash anywhere leaves an incomplete run (no ``rerun.complete``); the next call finds it and resumes it
under the same run id (the pipeline skips committed shards, reuse shards are rewritten identically).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa

from protxai_ray.errors import InvalidSource, RunError
from protxai_ray.pipeline.plan import read_release_proteins, with_feature_types
from protxai_ray.rerun.cache import RunKey, plan_reuse
from protxai_ray.rerun.config import RerunConfig, RerunResult
from protxai_ray.rerun.lock import rerun_lock
from protxai_ray.rerun.release import RELEASE_NAME, check_release_name, detect_release
from protxai_ray.rerun.reuse import copy_reused
from protxai_ray.rerun.selection import Selection, recorded_selection, run_selection
from protxai_ray.store.fs import Store, open_store
from protxai_ray.store.manifest import RunManifest, ShardEntry
from protxai_ray.store.parquet import read_table, write_parquet_atomic
from protxai_ray.store.releases import list_releases, read_release, release_dir
from protxai_ray.store.runs import RunManifests, run_dir
from protxai_ray.store.schemas import FAILURES, PREDICTIONS
from protxai_ray.uniprot.arrow import write_entries
from protxai_ray.uniprot.diff import (
    RELEASE_CHANGES,
    change_counts,
    diff_releases,
    states_from_entries,
    states_from_tables,
)

CHANGES_FILE = "changes/changes-00000.parquet"
FAILURE_EXAMPLES = 3  # failures named in the result (count always given)


def _is_complete(manifest: RunManifest) -> bool:
    """Finished, and if it is a re-run, finished as a re-run (reuse shards committed)."""
    if not manifest.finished:
        return False
    return manifest.parent_run is None or bool((manifest.rerun or {}).get("complete"))


def _release_order(release: str) -> str:
    return release if RELEASE_NAME.match(release or "") else ""


def _manifests(manifests: RunManifests) -> dict[str, RunManifest]:
    found = {}
    for run_id in manifests.list_run_ids():
        manifest = manifests.read(run_id)
        if manifest is not None:
            found[run_id] = manifest
    return found


def find_parent(all_runs: dict[str, RunManifest], from_run: str) -> tuple[str, RunManifest]:
    """The parent run: ``from_run`` itself, or for ``latest`` the complete run of the newest release
    (then the latest finished)."""
    if from_run != "latest":
        manifest = all_runs.get(from_run)
        if manifest is None:
            raise RunError(f"run {from_run} does not exist in the store")
        if not _is_complete(manifest):
            raise RunError(f"run {from_run} is not finished; finish it (same --run-id) before a re-run")
        return from_run, manifest
    complete = [(rid, m) for rid, m in all_runs.items() if _is_complete(m)]
    if not complete:
        raise RunError("the store has no finished run to re-run from (run `protxai attribute` first)")
    return max(complete, key=lambda item: (_release_order(item[1].release or ""), item[1].finished))


def _same_settings(a: RunManifest, b: RunManifest) -> bool:
    return RunKey.of_manifest(a) == RunKey.of_manifest(b)


def _existing_rerun(
    all_runs: dict[str, RunManifest], release: str, parent: RunManifest, selection: Selection
) -> tuple[str | None, str | None]:
    """(complete run of ``release`` with the parent's settings and selection, unfinished re-run of it to
    resume). A re-run that did not record its selection (made before re-runs inherited it) does not
    count: it may hold other proteins."""
    complete = unfinished = None
    wanted = selection.signature()
    for run_id, manifest in sorted(all_runs.items()):
        if manifest.release != release or not _same_settings(manifest, parent):
            continue
        if _is_complete(manifest):
            recorded = recorded_selection(manifest)
            same = run_id == parent.run_id or (recorded is not None and recorded.signature() == wanted)
            if not same:
                continue
            # prefer this parent's own re-run over, e.g., a from-scratch run of the same release
            if complete is None or manifest.parent_run == parent.run_id:
                complete = run_id
        elif manifest.parent_run == parent.run_id and ((manifest.inputs or {}).get("where") == selection.where):
            unfinished = run_id  # (the pipeline's fingerprint check refuses one with another plan)
    return complete, unfinished


def _read_sources(sources: tuple[str, ...]):
    import requests
    import urllib3

    from protxai_ray.uniprot.collect import collect_entries

    try:
        collection = collect_entries(list(sources))
    except (OSError, EOFError, ValueError, urllib3.exceptions.HTTPError, requests.RequestException) as exc:
        # e.g. a download cut short (Content-Length not reached) surfaces from urllib3 mid-parse
        reason = " ".join(str(exc).split())[:200]
        raise InvalidSource(
            ", ".join(sources), f"unreadable or truncated: {type(exc).__name__}: {reason}"
        ) from exc
    if not collection.entries:
        reasons = "; ".join(str(r) for r in collection.rejected[:3])
        raise InvalidSource(
            ", ".join(sources), f"no UniProt entries found{': ' + reasons if reasons else ''}"
        )
    return collection


def _label_resolver(parent: RunManifest):
    """(ec, go, feature_types) -> class index under the parent model's label map, None when it has no
    such class (feature types matter: a transmembrane region is the membrane label of TMbed entries)."""
    from types import SimpleNamespace

    from protxai_ray.errors import ProtxaiError
    from protxai_ray.pipeline.shards import resolve_target  # exactly what the pipeline's actors call

    labels = SimpleNamespace(label_names=list(parent.model.label_names if parent.model else ()))
    target = parent.target

    def resolve(ec: list[str], go: list[str], feature_types: list[str]) -> int | None:
        try:
            return int(resolve_target(labels, target, ec, go, feature_types))
        except ProtxaiError:
            return None

    return resolve


def _current_key(parent: RunManifest) -> RunKey:
    """The parent's key with the sha256 of the weights now at the parent's model path."""
    from protxai_ray.models.registry import weights_sha256

    path = parent.model.path if parent.model else None
    key = RunKey.of_manifest(parent)
    try:
        sha = weights_sha256(path)
    except OSError as exc:
        raise RunError(f"model {path} of the parent run cannot be read: {exc}") from exc
    return RunKey(model_sha256=sha, target=key.target, method=key.method)


def _run_table(store: Store, run_id: str, manifest: RunManifest, table: str, schema: pa.Schema) -> pa.Table:
    rels = [f"{run_dir(run_id)}/{rel}" for rel in manifest.files(table)]
    return read_table(store, rels, schema)


def _pipeline_config(
    config: RerunConfig,
    parent_id: str,
    parent: RunManifest,
    release: str,
    run_id: str,
    todo: list[str],
    selection: Selection,
):
    """The parent's model, target, method (``AttributionSettings.from_dict`` of its manifest's
    ``method``) and ``--where``, restricted to ``todo``: new rows comparable with the copied ones."""
    from protxai_ray.attribution.settings import AttributionSettings
    from protxai_ray.pipeline.config import RunConfig

    method = dict(parent.method or {})
    try:
        settings = AttributionSettings.from_dict(method)
        run_config = RunConfig(
            store=config.store,
            release=release,
            model=parent.model.path if parent.model else None,
            target=parent.target,
            steps=settings.steps,
            method=settings.method,
            derivative=settings.derivative,
            tolerance=settings.tolerance,
            precision=settings.precision,
            max_nodes=settings.max_nodes,
            actors=config.actors,
            num_gpus=config.num_gpus,
            shard_size=config.shard_size or int((parent.inputs or {}).get("shard_size") or 256),
            ray_address=config.ray_address,
            run_id=run_id,
            where=selection.where,  # recorded in the manifest; todo is already inside it
            accessions=tuple(todo),
            parent_run=parent_id,
            progress=config.progress,
        )
    except (TypeError, ValueError) as exc:
        raise RunError(
            f"run {parent_id}: its method settings {method} cannot be reproduced by this version ({exc}); "
            "start a full run with `protxai attribute`"
        ) from None
    if run_config.method_config() != method:
        raise RunError(
            f"run {parent_id}: its method settings {method} cannot be reproduced by this version "
            f"({run_config.method_config()}); start a full run with `protxai attribute`"
        )
    return run_config


def _held_accessions(store: Store):
    """(run id, manifest) -> the accessions the run holds (its predictions and failures)."""

    def held(run_id: str, manifest: RunManifest) -> set[str]:
        found = set()
        for table, schema in (("predictions", PREDICTIONS), ("failures", FAILURES)):
            found |= set(_run_table(store, run_id, manifest, table, schema)["accession"].to_pylist())
        return found

    return held


def _failures_of(
    store: Store, manifests: RunManifests, run_id: str, fresh: set[str]
) -> tuple[int, int, list[str]]:
    """(failures of the run, of them among ``fresh`` accessions, "ACC: reason" examples, fresh first)."""
    manifest = manifests.read(run_id) or RunManifest(run_id=run_id)
    rows = (
        _run_table(store, run_id, manifest, "failures", FAILURES).select(["accession", "reason"]).to_pylist()
    )
    rows.sort(key=lambda r: (r["accession"] not in fresh, r["accession"]))
    new = sum(r["accession"] in fresh for r in rows)
    examples = [
        f"{r['accession']}: {' '.join(str(r['reason']).split())[:160]}" for r in rows[:FAILURE_EXAMPLES]
    ]
    return len(rows), new, examples


def run_rerun(config: RerunConfig) -> RerunResult:
    """Run (or resume, or skip as up to date) the incremental re-run described by ``config``."""
    started = time.perf_counter()
    store = open_store(config.store)
    release = (
        check_release_name(config.release)
        if config.release
        else detect_release(list(config.sources), config.reldate)
    )
    manifests = RunManifests(store.uri)
    all_runs = _manifests(manifests)
    parent_id, parent = find_parent(all_runs, config.from_run)
    parent = replace(parent, run_id=parent_id)
    selection = run_selection(all_runs, parent_id, _held_accessions(store))
    done, unfinished = _existing_rerun(all_runs, release, parent, selection)
    if done is not None:
        return RerunResult("up_to_date", release, run_id=done, parent_run=parent_id)
    newest = max((r for r in list_releases(store) if RELEASE_NAME.match(r)), default=None)
    if newest is not None and release < newest:
        raise InvalidSource(
            ", ".join(config.sources), f"release {release} is older than the store's latest release {newest}"
        )
    if release == parent.release:
        raise RunError(f"run {parent_id} is already on release {release}; nothing to re-run")
    if config.check_only:
        return RerunResult("new_release", release, parent_run=parent_id)

    with rerun_lock(store, release, ttl_s=config.lock_ttl_s):
        # Another scheduled run may have finished this release between our first look and the lock.
        done, unfinished = _existing_rerun(_manifests(manifests), release, parent, selection)
        if done is not None:
            return RerunResult("up_to_date", release, run_id=done, parent_run=parent_id)
        timings: dict[str, float] = {}
        tick = time.perf_counter()
        collection = _read_sources(config.sources)  # everything parsed before anything is written
        previous = parent.release
        previous_proteins = read_release(store, previous, "proteins")
        previous_annotations = read_release(store, previous, "annotations")
        old_states = states_from_tables(previous_proteins, previous_annotations)
        changes = diff_releases(old_states, states_from_entries(collection.entries), release, previous)
        write_entries(store, release, collection, sources=list(config.sources))
        write_parquet_atomic(store, f"{release_dir(release)}/{CHANGES_FILE}", changes, RELEASE_CHANGES)
        counts = change_counts(changes)
        tick = _lap(timings, "ingest_and_diff_s", tick)

        released = read_release_proteins(store, release)
        proteins = selection.apply(released)  # the parent's selection, applied to the new release
        parent_predictions = _run_table(store, parent_id, parent, "predictions", PREDICTIONS)
        parent_failures = _run_table(store, parent_id, parent, "failures", FAILURES)
        plan = plan_reuse(
            RunKey.of_manifest(parent),
            _current_key(parent),
            proteins,
            parent_predictions,
            parent_failures,
            with_feature_types(previous_proteins, previous_annotations),
            _label_resolver(parent) if parent.target == "label" else None,
        )
        held = set(parent_predictions["accession"].to_pylist()) | set(
            parent_failures["accession"].to_pylist()
        )
        in_release = set(released["accession"].to_pylist())
        selected = set(proteins["accession"].to_pylist())
        dropped = {
            "deleted": len(held - in_release),
            "deselected": len((held & in_release) - selected),
        }
        run_id = config.run_id or unfinished or _new_run_id()
        tick = _lap(timings, "cache_plan_s", tick)
        from protxai_ray.pipeline import run_attribution

        # an empty todo (unchanged release) gives a run with no pipeline shard: Ray is not started
        run_attribution(
            _pipeline_config(config, parent_id, parent, release, run_id, plan.attribute, selection)
        )
        tick = _lap(timings, "attribute_s", tick)
        reuse_entries = copy_reused(store, parent_id, parent, run_id, plan.reuse, plan.reuse_failures)
        tick = _lap(timings, "copy_reused_s", tick)
        rerun_block = {
            "complete": False,
            "parent_run": parent_id,
            "previous_release": previous,
            "changes": counts,  # the release's diff (every protein; any EC/GO edit is label_changed)
            "selection": selection.as_dict(),
            "proteins": proteins.num_rows,
            "reattributed": len(plan.attribute),
            "reasons": plan.reason_counts(),  # re-attributed per reason (label_changed: this model's)
            "reused": len(plan.reuse),
            "reused_failures": len(plan.reuse_failures),
            "dropped": dropped,
            "reuse": "copy",
            "sources": list(config.sources),
        }
        _commit_reuse(manifests, run_id, parent_id, reuse_entries, rerun_block)
        failures, new_failures, examples = _failures_of(store, manifests, run_id, set(plan.attribute))
        _compute_stats(store.uri, run_id)
        _lap(timings, "stats_s", tick)
        _mark_complete(
            manifests, run_id, timings, {"total": failures, "new": new_failures, "first": examples}
        )

    return RerunResult(
        "done",
        release,
        run_id=run_id,
        parent_run=parent_id,
        counts=plan.reason_counts(),
        reattributed=plan.attribute,
        reused=len(plan.reuse) + len(plan.reuse_failures),
        seconds=time.perf_counter() - started,
        notes=list(collection.notes) + [str(r) for r in collection.rejected],
        timings=timings,
        selection=selection.describe(),
        proteins=proteins.num_rows,
        release_changes=counts,
        dropped=dropped,
        failures=failures,
        new_failures=new_failures,
        failure_examples=examples,
    )


def _new_run_id() -> str:
    from protxai_ray.pipeline.config import new_run_id

    return new_run_id()


def _commit_reuse(
    manifests: RunManifests, run_id: str, parent_id: str, entries: list[ShardEntry], block: dict
) -> None:
    """One compare-and-swap: reuse shards listed, parent and counts recorded (not yet complete)."""

    def change(old: RunManifest | None) -> RunManifest:
        if old is None:
            raise RunError(f"run {run_id}: the pipeline wrote no manifest")
        return replace(old.with_shards(entries), parent_run=parent_id, rerun=block)

    manifests.update(run_id, change)


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = round(now - since, 3)
    return now


def _mark_complete(manifests: RunManifests, run_id: str, timings: dict[str, float], failures: dict) -> None:
    """Set last, after the statistics: only now does the scheduled job consider the release done."""

    def change(old: RunManifest | None) -> RunManifest:
        if old is None:
            raise RunError(f"run {run_id}: manifest vanished")
        return replace(
            old,
            rerun={**(old.rerun or {}), "complete": True, "timings": timings, "failures": failures},
            finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    manifests.update(run_id, change)


def _compute_stats(store_uri: str, run_id: str) -> None:
    from protxai_ray.stats import compute_stats

    compute_stats(store_uri, run_id)  # given the store (not a connection), it writes the stats tables
