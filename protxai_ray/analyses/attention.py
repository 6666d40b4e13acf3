"""Attention baseline: the attention each token *receives*, per layer and head, written as a pseudo-run.

Raw attention is the explanation most protein-LM papers read (Vig et al. 2021, "BERTology meets biology":
attention to binding sites, contact maps). To ask whether integrated-gradient head relevance says more
than attention does, the same statistics must run on both. ``attention_run`` therefore writes attention
as a run of the store, in exactly the run tables' schemas, so ``protxai stats --run NEW`` and every view
treat it like an attribution run:

- ``heads.relevance`` of (layer, head, position k) is the attention token k receives in that head, by
  ``measure``:

  - ``received`` (default): the mean over the protein's T = L + 2 query tokens q of α[q → k] (the
    column mean of the head's attention matrix; it sums to 1 over k);
  - ``confident``: the share of query tokens whose attention to k exceeds ``threshold`` (0.3, Vig et
    al.'s "high-confidence attention"); summed over a mask and divided by its sum over all positions it
    is Vig et al.'s proportion of high-confidence attention directed to the annotation (``vig_proportion``).

- ``residues.relevance`` is the mean of that track over all layers and heads (the embedding-level stats
  then test "attention as a whole"), ``predictions`` holds the model's logit and probability of the
  source run's target class; ``baseline_logit``, ``convergence_delta``, ``n_steps`` and ``head_error``
  are NULL (there is no integration path), ``ig_sum`` is the sum of the residue track.
- the manifest is written through ``RunManifests`` (create → commit_shard → finish) with the header
  fields of ``protxai_ray.pipeline.provenance.manifest_header``; ``method.method`` is ``"attention"``
  (the ``runs`` view's method column), ``method.measure`` / ``threshold`` say which track, and
  ``method.source_run`` names the run whose proteins and targets it took. Each shard's entry carries
  the file checks of ``write_parquet_atomic``, so ``protxai verify`` and ``protxai stats`` check them.

The attention weights are read with forward hooks on each layer's self-attention module (the adapter's
head hook points): BERT- and ESM-style modules return ``(context, weights[B, H, T, T])`` under the eager
attention implementation the model loader sets. T5 is not supported (its hook point is the output
projection's input).

``write_pseudo_run`` (also used by ``protxai_ray.analyses.randomization`` for the randomised models) writes
any per-protein results with ``residues`` / ``heads`` arrays as a finished one-or-more-shard run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from protxai_ray.errors import RunError, check_run_id
from protxai_ray.store.manifest import RunManifest

MEASURES = ("received", "confident")
THRESHOLD = 0.3  # Vig et al. 2021: attention weights above 0.3 are "high-confidence"
METHOD = "attention"
SHARD_SIZE = 64


@dataclass
class AttentionMaps:
    """Attention received by each token of one protein: ``float32[layers, heads, L + 2]`` per measure."""

    received: np.ndarray  # mean over query tokens of α[q → k]
    confident: np.ndarray  # share of query tokens with α[q → k] > threshold
    logits: np.ndarray  # float32[C]: the model's logits for the protein

    def track(self, measure: str) -> np.ndarray:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
        return self.received if measure == "received" else self.confident


def _attention_modules(adapter) -> list:
    points = adapter.head_hook_points()
    if any(p.use_input for p in points):
        raise RunError(
            f"model_type {adapter.model_type!r}: attention weights are not exposed by its head hook points "
            "(supported: BERT- and ESM-style self-attention)"
        )
    return [p.module for p in points]


def attention_weights(adapter, sequence: str, name: str = "sequence") -> tuple[list[np.ndarray], np.ndarray]:
    """Per layer ``float32[H, T, T]`` attention (row = query, column = key) of one protein, and its logits.

    Raises RunError when the model's self-attention modules do not return their weights (a non-eager
    attention implementation such as sdpa).
    """
    import torch

    modules = _attention_modules(adapter)
    captured: list = [None] * len(modules)

    def hook(index):
        def save(_module, _inputs, output):
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            captured[index] = weights.detach() if isinstance(weights, torch.Tensor) else None

        return save

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(modules)]
    try:
        ids, mask = adapter.encode([sequence], [name])
        with torch.no_grad():
            logits = adapter.logits(ids, mask)
    finally:
        for handle in handles:
            handle.remove()
    if any(w is None or w.ndim != 4 for w in captured):
        raise RunError(
            f"{adapter.path}: the self-attention modules returned no attention weights; load the model with "
            "attn_implementation='eager'"
        )
    return [w[0].float().cpu().numpy() for w in captured], logits[0].float().cpu().numpy()


def attention_maps(
    adapter, sequence: str, name: str = "sequence", threshold: float = THRESHOLD
) -> AttentionMaps:
    """``AttentionMaps`` of one protein (unpadded: every one of its T = L + 2 tokens is a query and a key)."""
    weights, logits = attention_weights(adapter, sequence, name)
    attn = np.stack(weights)  # [layers, H, T(query), T(key)]
    received = attn.mean(axis=2, dtype=np.float64).astype(np.float32)
    confident = (attn > threshold).mean(axis=2, dtype=np.float64).astype(np.float32)
    return AttentionMaps(received, confident, logits.astype(np.float32))


def vig_proportion(confident: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Vig et al.'s proportion of high-confidence attention directed to ``mask`` (per layer, head).

    ``confident``: ``[proteins][layers, heads, T]`` tracks of measure ``confident`` (counts / T per key),
    ``mask``: ``[proteins][T]`` 0/1 masks. Σ over proteins and keys of confident·mask / Σ of confident
    (NaN for a head with no high-confidence attention at all).
    """
    num = sum((c * m[None, None, :]).sum(axis=2) * c.shape[2] for c, m in zip(confident, mask, strict=True))
    den = sum(c.sum(axis=2) * c.shape[2] for c in confident)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


# ---- writing a pseudo-run --------------------------------------------------------------------------------


@dataclass
class PseudoResult:
    """What ``protxai_ray.pipeline.shards.build_tables`` reads of an engine result."""

    residues: np.ndarray
    heads: np.ndarray
    logit: float
    probability: float
    target: int
    baseline_logit: float = float("nan")
    convergence_delta: float = float("nan")
    n_steps: int = 0
    head_error: float | None = None


_NULL_WITHOUT_PATH = ("baseline_logit", "convergence_delta", "n_steps", "head_error")


def _null_columns(table: pa.Table, names: Sequence[str]) -> pa.Table:
    for name in names:
        index = table.schema.get_field_index(name)
        table = table.set_column(
            index, table.schema.field(index), pa.nulls(table.num_rows, table.schema.field(index).type)
        )
    return table


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_pseudo_run(
    store,
    run_id: str,
    *,
    release: str,
    adapter,
    model_path: str,
    proteins: Sequence,
    results: dict[str, object],
    method: dict,
    target: str,
    null_path_columns: bool = False,
    shard_size: int = SHARD_SIZE,
) -> RunManifest:
    """Write ``results`` (accession → object with ``residues``/``heads``/``logit``/... as the engine's
    ``Attribution``) for ``proteins`` (``ProteinInput``: accession, crc64, sequence) as a finished run.

    Uses the pipeline's own table builder and shard writer (``build_tables``, ``write_shard``: the run
    tables' schemas, deterministic file names, file checks) and ``RunManifests`` create / commit_shard /
    finish with the header fields of ``manifest_header``. ``null_path_columns`` writes NULL for the
    columns that only an integration path defines (baseline_logit, convergence_delta, n_steps,
    head_error). Returns the finished manifest. Raises RunError when ``run_id`` exists with other inputs.
    """
    from protxai_ray.errors import StoreError
    from protxai_ray.pipeline.provenance import code_version, code_version_string, shard_entry
    from protxai_ray.pipeline.shards import build_tables, write_shard
    from protxai_ray.store.fs import open_store
    from protxai_ray.store.runs import RunManifests
    from protxai_ray.store.schemas import SCHEMA_VERSION

    check_run_id(run_id, "--attention-run")
    st = open_store(store)
    by_accession = {p.accession: p for p in proteins}
    accessions = sorted(results)
    plan = hashlib.sha256(json.dumps([[a, by_accession[a].crc64] for a in accessions]).encode()).hexdigest()
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "release": release,
                "model_sha256": adapter.identity_sha256,
                "target": target,
                "method": method,
                "plan": plan,
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    shards = [accessions[i : i + shard_size] for i in range(0, len(accessions), shard_size)]
    header = RunManifest.from_dict({
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "release": release,
        "parent_run": None,
        "model": {
            "path": str(model_path),
            "sha256": adapter.weights_sha256,
            "label_names": list(adapter.label_names),
            "model_type": adapter.model_type,
            "num_layers": adapter.num_layers,
            "num_heads": adapter.num_heads,
        },
        "target": target,
        "method": method,
        "code_version": code_version_string(),
        "code": code_version(),
        "started": _now(),
        "finished": None,
        "inputs": {
            "proteins": len(accessions),
            "shards": len(shards),
            "shard_size": shard_size,
            "where": None,
            "accessions": len(accessions),
            "plan_sha256": plan,
        },
        "fingerprint": fingerprint,
    })
    manifests = RunManifests(st)
    try:
        manifests.create(run_id, header)
    except StoreError as exc:
        raise RunError(str(exc)) from None
    for number, chunk in enumerate(shards):
        started = time.monotonic()
        shard = f"{number:05d}"
        tables = build_tables(
            run_id,
            list(adapter.label_names),
            {a: by_accession[a] for a in chunk},
            {a: results[a] for a in chunk},
            {},
        )
        if null_path_columns:
            tables["predictions"] = _null_columns(tables["predictions"], _NULL_WITHOUT_PATH)
        checks = write_shard(st, run_id, shard, tables)
        manifests.commit_shard(
            run_id,
            shard_entry(
                {
                    "shard": shard,
                    "proteins": len(chunk),
                    "failures": 0,
                    "seconds": time.monotonic() - started,
                    "checks": checks,
                    "worker": "analyze",
                }
            ),
        )
    return manifests.finish(run_id, _now(), {"proteins": len(accessions), "failures": 0})


# ---- the attention run of an attribution run's proteins -----------------------------------------------

SOURCE_SQL = """
SELECT p.accession, p.crc64, pr.sequence, p.target_index
FROM predictions p
JOIN runs r ON r.run_id = p.run_id
JOIN proteins pr ON pr.release = r.release AND pr.accession = p.accession AND pr.crc64 = p.crc64
WHERE p.run_id = $run_id
ORDER BY p.accession
"""


@dataclass
class AttentionRunSummary:
    run_id: str
    source_run: str
    measure: str
    threshold: float
    proteins: int
    model: str
    manifest: RunManifest
    notes: list[str] = field(default_factory=list)


def attention_run(
    store,
    source_run: str,
    new_run: str,
    model: str | Path | None = None,
    *,
    measure: str = "received",
    threshold: float = THRESHOLD,
    device: str | None = "cpu",
    log=print,
) -> AttentionRunSummary:
    """Write the attention pseudo-run ``new_run`` of the proteins and targets of run ``source_run``.

    ``model``: the model directory (default: the source run manifest's). ``measure``: ``received`` or
    ``confident`` (module docstring). Then ``protxai stats --run NEW_RUN`` tests attention exactly as it
    tests the source run's head relevance. Raises RunError for an unknown source run, a missing model, an
    architecture without attention weights, or an existing ``new_run`` with other inputs.
    """
    from protxai_ray.analyses.run import _manifest, load_run_model
    from protxai_ray.pipeline.shards import ProteinInput
    from protxai_ray.store.duck import connect
    from protxai_ray.store.fs import open_store

    if measure not in MEASURES:
        raise RunError(f"attention measure {measure!r}: use one of {', '.join(MEASURES)}")
    if not 0.0 <= threshold < 1.0:
        raise RunError(f"attention threshold {threshold}: use a value in [0, 1)")
    st = open_store(store)
    manifest = _manifest(st, source_run)
    adapter, model_path, notes = load_run_model(st, source_run, model, device)
    con = connect(st)
    rows = con.execute(SOURCE_SQL, {"run_id": source_run}).fetchall()
    if not rows:
        raise RunError(f"run {source_run!r}: no attributed protein found in its release")
    proteins, results = [], {}
    log(f"attention ({measure}) of {len(rows)} proteins of run {source_run} with {model_path}")
    for accession, crc64, sequence, target in rows:
        maps = attention_maps(adapter, sequence, accession, threshold)
        track = maps.track(measure)
        logits = maps.logits.astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        proteins.append(ProteinInput(accession, crc64, sequence))
        results[accession] = PseudoResult(
            residues=track.mean(axis=(0, 1)).astype(np.float32),
            heads=track,
            logit=float(logits[int(target)]),
            probability=float(probs[int(target)]),
            target=int(target),
        )
    method = {
        "method": METHOD,
        "measure": measure,
        "threshold": float(threshold),
        "derivative": None,
        "steps": None,
        "precision": "fp32",
        "source_run": source_run,
    }
    written = write_pseudo_run(
        st,
        new_run,
        release=str(manifest.release),
        adapter=adapter,
        model_path=model_path,
        proteins=proteins,
        results=results,
        method=method,
        target=manifest.target or "label",
        null_path_columns=True,
    )
    return AttentionRunSummary(
        new_run, source_run, measure, threshold, len(results), model_path, written, notes
    )
