"""Attribute one shard of proteins and write its four tables to the store (no Ray here).

``attribute_shard`` is what a Ray actor runs per shard, and what tests and benchmarks call directly:

1. each protein is checked alone first (sequence the model accepts, target resolvable), so one bad
   protein becomes a ``failures`` row with its reason instead of failing its batch;
2. the rest go to the engine's ``attribute_batch`` in one call: it packs proteins of similar length
   (shards already hold similar lengths) under its memory model; if that call still fails, the proteins
   are retried one by one so the failure lands on the protein that caused it;
3. rows are built column-wise with numpy, ordered by accession, then position (residues) or
   layer, head, position (heads), so the same inputs give byte-identical files.

``write_shard`` publishes the four files under deterministic names (``heads/shard-00000.parquet``): a
retried or concurrent attempt overwrites with identical bytes instead of adding rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from protxai_ray.errors import ProtxaiError
from protxai_ray.pipeline.config import RunConfig
from protxai_ray.store.fs import Store
from protxai_ray.store.parquet import write_parquet_atomic
from protxai_ray.store.runs import run_dir, shard_files
from protxai_ray.store.schemas import RUN_TABLES

# Activation memory per engine pass on CPU when the config does not say: fixed (not a share of free RAM)
# so that the engine's grouping, and with it every bit of the output, is the same on every run.
DEFAULT_CPU_BUDGET_MB = 1024
START_TOKEN, END_TOKEN = "<start>", "<end>"


@dataclass
class ProteinInput:
    accession: str
    crc64: str
    sequence: str
    ec: list[str] = field(default_factory=list)
    go: list[str] = field(default_factory=list)
    feature_types: list[str] = field(default_factory=list)


@dataclass
class ShardOutput:
    """The four tables of one shard plus what the manifest records about it."""

    tables: dict[str, pa.Table]
    proteins: int
    failures: int
    seconds: float
    real_tokens: int
    padded_tokens: int
    flops: float | None = None

    @property
    def padding_waste(self) -> float:
        return 0.0 if not self.padded_tokens else 1.0 - self.real_tokens / self.padded_tokens


def engine_options(config: RunConfig, device_type: str) -> dict:
    """Keyword arguments of ``attribute_batch`` that the run config decides."""
    budget = config.memory_budget_mb
    if budget is None and device_type == "cpu":
        budget = DEFAULT_CPU_BUDGET_MB
    return {"settings": config.attribution, "memory_budget_mb": budget}


def padding_tokens(model, lengths: list[int], config: RunConfig, budget_mb: int | None) -> tuple[int, int]:
    """(real, padded) tokens of the engine's grouping of these proteins (first round of steps)."""
    from protxai_ray.attribution.adaptive import INITIAL_PANELS, SEGMENT_NODES
    from protxai_ray.attribution.memory import default_budget_bytes, group_proteins, model_shape
    from protxai_ray.attribution.quadrature import node_plan

    if not lengths:
        return 0, 0
    if config.attribution.adaptive:
        nodes = 3 * INITIAL_PANELS * SEGMENT_NODES  # the first adaptive pass
    else:
        nodes = node_plan(config.method, int(config.steps), config.attribution.effective_derivative).num_nodes
    budget = budget_mb * (1 << 20) if budget_mb else default_budget_bytes(model.device)
    groups = group_proteins(lengths, nodes, model_shape(model), budget, model.device)
    real = sum(n + 2 for n in lengths)
    padded = sum(len(members) * (max(lengths[i] for i in members) + 2) for members, _ in groups)
    return real, padded


def attribute_shard(model, run_id: str, proteins: list[ProteinInput], config: RunConfig) -> ShardOutput:
    """Attributions of one shard's proteins as the four run tables (``predictions`` ... ``failures``)."""
    from protxai_ray.attribution import attribute_batch

    started = time.perf_counter()
    failures: dict[str, str] = {}
    accepted: list[tuple[ProteinInput, int]] = []
    for protein in proteins:
        try:
            model.encode([protein.sequence], [protein.accession])
            target = resolve_target(
                model, config.target, protein.ec, protein.go, protein.feature_types, protein.accession
            )
        except ProtxaiError as exc:
            failures[protein.accession] = _reason(exc)
            continue
        accepted.append((protein, target))

    options = engine_options(config, model.device.type)
    results: dict[str, object] = {}

    def attribute(items: list[tuple[ProteinInput, int]]) -> None:
        out = attribute_batch(
            model,
            [p.sequence for p, _ in items],
            [t for _, t in items],
            names=[p.accession for p, _ in items],
            **options,
        )
        results.update({p.accession: r for (p, _), r in zip(items, out, strict=True)})

    try:
        attribute(accepted)  # the engine packs similar lengths under the memory budget
    except (ProtxaiError, RuntimeError, ValueError):
        for item in accepted:  # find the protein that breaks the batch; the others still go through
            try:
                attribute([item])
            except (ProtxaiError, RuntimeError, ValueError) as exc:
                failures[item[0].accession] = _reason(exc)

    real, padded = padding_tokens(
        model, [len(p.sequence) for p, _ in accepted], config, options["memory_budget_mb"]
    )
    by_accession = {p.accession: p for p in proteins}
    tables = build_tables(run_id, model.label_names, by_accession, results, failures)
    return ShardOutput(
        tables=tables,
        proteins=len(proteins),
        failures=len(failures),
        seconds=time.perf_counter() - started,
        real_tokens=real,
        padded_tokens=padded,
        flops=shard_flops(model, [len(by_accession[a].sequence) for a in results], results, config),
    )


def shard_flops(model, lengths: list[int], results: dict, config: RunConfig) -> float | None:
    """Model FLOPs of the shard (``attribution.flops``: forward + input-gradient backward per node), with
    the derivative each protein actually used (a spectral group may have fallen back to exact)."""
    try:
        from protxai_ray.attribution.flops import attribution_flops
    except ImportError:
        return None
    total = 0.0
    for result, length in zip(results.values(), lengths, strict=False):
        total += attribution_flops(model, length, int(result.n_steps), result.derivative, config.method)
    return total


def device_peak_flops(model, precision: str) -> float | None:
    """Peak FLOP/s of the actor's device for MFU: datasheet for GPUs, a measured matmul on CPU."""
    try:
        from protxai_ray.attribution.flops import gpu_peak, measure_cpu_peak
    except ImportError:
        return None
    if model.device.type == "cuda":
        import torch

        return gpu_peak(torch.cuda.get_device_name(model.device), precision)
    return measure_cpu_peak(size=1024, repeats=3)


def resolve_target(
    model,
    spec: str,
    ec: list[str],
    go: list[str],
    feature_types: list[str] = (),
    accession: str | None = None,
) -> int:
    """The class index to attribute (-1 = argmax after the forward), by the models' label rules."""
    from protxai_ray.models.targets import resolve_target as resolve

    return resolve(model, spec, list(ec), list(go), feature_types=tuple(feature_types), accession=accession)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return " ".join(str(reason).split())[:500]


def build_tables(
    run_id: str,
    label_names: list[str],
    proteins: dict[str, ProteinInput],
    results: dict[str, object],
    failures: dict[str, str],
) -> dict[str, pa.Table]:
    """Rows of the four run tables, ordered by accession (then position / layer, head, position)."""
    done = sorted(results)
    pred = {name: [] for name in RUN_TABLES["predictions"].names}
    res_parts: list[dict[str, np.ndarray]] = []
    head_parts: list[dict[str, np.ndarray]] = []
    for accession in done:
        r = results[accession]
        protein = proteins[accession]
        residues = np.asarray(r.residues, dtype=np.float32)
        heads = np.asarray(r.heads, dtype=np.float32)
        tokens = len(protein.sequence) + 2
        if residues.shape != (tokens,) or heads.ndim != 3 or heads.shape[2] != tokens:
            raise ValueError(f"{accession}: engine returned shapes {residues.shape} / {heads.shape}")
        target = int(r.target)
        pred["run_id"].append(run_id)
        pred["accession"].append(accession)
        pred["crc64"].append(protein.crc64)
        pred["target_index"].append(target)
        pred["target_name"].append(label_names[target] if 0 <= target < len(label_names) else str(target))
        pred["logit"].append(float(r.logit))
        pred["baseline_logit"].append(float(r.baseline_logit))
        pred["probability"].append(float(r.probability))
        pred["ig_sum"].append(float(residues.sum(dtype=np.float64)))
        pred["convergence_delta"].append(float(r.convergence_delta))
        pred["n_steps"].append(int(r.n_steps))
        head_error = getattr(r, "head_error", None)
        pred["head_error"].append(None if head_error is None else float(head_error))
        res_parts.append(
            {
                "index": np.full(tokens, len(res_parts), dtype=np.int32),
                "position": np.arange(tokens, dtype=np.int32),
                "residue": np.array([START_TOKEN, *protein.sequence, END_TOKEN], dtype=object),
                "relevance": residues,
            }
        )
        layers, nheads, _ = heads.shape
        layer, head, position = np.meshgrid(
            np.arange(layers, dtype=np.int16),
            np.arange(nheads, dtype=np.int16),
            np.arange(tokens, dtype=np.int32),
            indexing="ij",
        )
        head_parts.append(
            {
                "index": np.full(heads.size, len(head_parts), dtype=np.int32),
                "layer": layer.ravel(),
                "head": head.ravel(),
                "position": position.ravel(),
                "relevance": heads.ravel(),  # C order = layer, head, position
            }
        )

    def keyed(parts: list[dict[str, np.ndarray]], schema: pa.Schema, columns: list[str]) -> pa.Table:
        index = np.concatenate([p["index"] for p in parts]) if parts else np.zeros(0, np.int32)
        arrays = {
            "run_id": pa.DictionaryArray.from_arrays(np.zeros(len(index), np.int32), pa.array([run_id])),
            "accession": pa.DictionaryArray.from_arrays(index, pa.array(done, pa.string())),
            "crc64": pa.DictionaryArray.from_arrays(
                index, pa.array([proteins[a].crc64 for a in done], pa.string())
            ),
        }
        for name in columns:
            values = np.concatenate([p[name] for p in parts]) if parts else []
            arrays[name] = pa.array(values, type=schema.field(name).type)
        return pa.table({name: arrays[name] for name in schema.names}).cast(schema)

    failed = sorted(failures)
    return {
        "predictions": pa.table(pred, schema=RUN_TABLES["predictions"]),
        "residues": keyed(res_parts, RUN_TABLES["residues"], ["position", "residue", "relevance"]),
        "heads": keyed(head_parts, RUN_TABLES["heads"], ["layer", "head", "position", "relevance"]),
        "failures": pa.table(
            {
                "run_id": [run_id] * len(failed),
                "accession": failed,
                "crc64": [proteins[a].crc64 for a in failed],
                "reason": [failures[a] for a in failed],
            },
            schema=RUN_TABLES["failures"],
        ),
    }


def write_shard(store: Store, run_id: str, shard: str, tables: dict[str, pa.Table]) -> dict[str, dict]:
    """Write the shard's four Parquet files (retried by the store); returns each table's file check
    (bytes, rows, sha256) for the manifest entry that commits the shard."""
    return {
        table: write_parquet_atomic(store, f"{run_dir(run_id)}/{rel}", tables[table], RUN_TABLES[table])
        for table, rel in shard_files(shard).items()
    }
