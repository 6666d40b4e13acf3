"""The Ray Data actor: loads the model once, attributes whole shards, writes them, returns a summary.

One ``AttributeShard`` instance lives in each actor of the pool (``map_batches(AttributeShard,
concurrency=K, num_gpus=G)``). Each input row is one shard descriptor (shard id + its proteins); the
actor writes the shard's four Parquet files itself, so only a one-row summary per shard travels back to
the driver, which commits it to the manifest. The class imports no Ray: Ray drives it, tests can call it.

Before attributing a shard the actor appends one record (worker, Ray job, start time) to the shard's
attempt log ``runs/run_id=ID/attempts/shard-S.json`` by compare-and-swap; the record's number goes into
the summary row and thence the manifest entry (``attempts``), so a shard retried after an actor, node or
driver died shows ``attempts >= 2``.
"""

from __future__ import annotations

import json
import os
import socket
import time

import pyarrow as pa

from protxai_ray.pipeline.config import RunConfig
from protxai_ray.pipeline.shards import ProteinInput, attribute_shard, device_peak_flops, write_shard

SUMMARY_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("proteins", pa.int64()),
        ("failures", pa.int64()),
        ("seconds", pa.float64()),
        ("cpu_seconds", pa.float64()),
        ("real_tokens", pa.int64()),
        ("padded_tokens", pa.int64()),
        ("flops", pa.float64()),
        ("worker", pa.string()),
        ("skipped", pa.bool_()),
        ("peak_flops", pa.float64()),
        ("checks", pa.string()),  # JSON: {table: {bytes, rows, sha256}} of the files written
        ("attempts", pa.int64()),  # attempts of this shard started so far, this one included
    ]
)


def attempts_path(run_id: str, shard: str) -> str:
    """The attempt log of one shard, relative to the store root."""
    from protxai_ray.store.runs import run_dir

    return f"{run_dir(run_id)}/attempts/shard-{shard}.json"


def read_attempts(store, run_id: str, shard: str) -> list[dict]:
    """The attempt records of one shard (oldest first); [] if none was started."""
    data, _ = store.read_versioned(attempts_path(run_id, shard))
    return json.loads(data)["attempts"] if data is not None else []


def record_attempt(store, run_id: str, shard: str, worker: str) -> int:
    """Append one attempt record to the shard's attempt log (compare-and-swap); returns its number (1, 2...)."""
    from protxai_ray.errors import StoreError
    from protxai_ray.store.fs import encode_json

    rel = attempts_path(run_id, shard)
    record = {"worker": worker, "job": _ray_job_id(), "started": time.time()}
    for _ in range(1000):
        data, version = store.read_versioned(rel)
        attempts = json.loads(data)["attempts"] if data is not None else []
        attempts.append(record)
        if store.put_if(rel, encode_json({"shard": shard, "attempts": attempts}), version):
            return len(attempts)
    raise StoreError(f"attempt log {rel} keeps changing under us")


def _ray_job_id() -> str | None:
    """The Ray job (driver) this actor works for, None outside Ray."""
    try:
        import ray

        return ray.get_runtime_context().get_job_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - diagnostics only
        return None


def _device(config: RunConfig) -> str:
    if config.num_gpus and config.num_gpus > 0:
        return "cuda"
    return "cpu"


class AttributeShard:
    """Callable class for ``map_batches``: ``pyarrow`` batch of shard descriptors -> summary rows."""

    def __init__(self, config: RunConfig) -> None:
        import torch

        from protxai_ray.models import load_model
        from protxai_ray.store.fs import Store
        from protxai_ray.store.runs import RunManifests

        if _device(config) == "cpu":
            # Actors share the machine's cores: each gets its own slice instead of oversubscribing.
            torch.set_num_threads(max(1, config.threads_per_actor))
        self.config = config
        self.model = load_model(config.model, device=_device(config))
        # check=False: a restarted actor must not fail fast while the S3 server is briefly down.
        self.store = Store(config.store, check=False)
        self.manifests = RunManifests(config.store)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.peak_flops = device_peak_flops(self.model, config.precision)  # for the manifest's MFU

    def __call__(self, batch: pa.Table) -> pa.Table:
        from protxai_ray.store.runs import committed_shards

        rows = []
        for shard in batch.to_pylist():
            if shard["shard"] in committed_shards(self.manifests.read(self.config.run_id)):
                # a concurrent driver of the same run committed it meanwhile: its files are final
                rows.append({"shard": shard["shard"], "proteins": len(shard["accession"]), "skipped": True})
                continue
            proteins = [
                ProteinInput(
                    accession=a,
                    crc64=c,
                    sequence=s,
                    ec=list(e or []),
                    go=list(g or []),
                    feature_types=list(f or []),
                )
                for a, c, s, e, g, f in zip(
                    shard["accession"],
                    shard["crc64"],
                    shard["sequence"],
                    shard["ec"],
                    shard["go"],
                    shard["feature_types"],
                    strict=True,
                )
            ]
            attempt = record_attempt(self.store, self.config.run_id, shard["shard"], self.worker)
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            out = attribute_shard(self.model, self.config.run_id, proteins, self.config)
            checks = write_shard(self.store, self.config.run_id, shard["shard"], out.tables)
            rows.append(
                {
                    "shard": shard["shard"],
                    "proteins": out.proteins,
                    "failures": out.failures,
                    "seconds": time.perf_counter() - wall_started,  # attribution + tables + writes
                    "cpu_seconds": time.process_time() - cpu_started,  # attribution + tables + writes
                    "real_tokens": out.real_tokens,
                    "padded_tokens": out.padded_tokens,
                    "flops": out.flops,
                    "worker": self.worker,
                    "skipped": False,
                    "peak_flops": self.peak_flops,
                    "checks": json.dumps(checks, sort_keys=True),
                    "attempts": attempt,
                }
            )
        return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)
