"""What a run manifest records about where its numbers came from (README "Store").

``manifest_header`` is written once when a run starts; ``shard_entry`` once per committed shard.
"""

from __future__ import annotations

import functools
import os
import subprocess
from importlib import metadata
from pathlib import Path

from protxai_ray.pipeline.config import RunConfig
from protxai_ray.pipeline.plan import ShardPlan
from protxai_ray.store.runs import shard_files
from protxai_ray.store.schemas import SCHEMA_VERSION


@functools.cache
def code_version() -> dict[str, str | None]:
    """Package version and, when the code runs from a git checkout, its commit (``-dirty`` if modified)."""
    try:
        version = metadata.version("protxai_ray")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = None
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            commit = (
                subprocess.run(
                    ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
                ).stdout.strip()
                or None
            )
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "protxai_ray"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            if commit and dirty:
                commit += "-dirty"
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"package": version, "git_commit": commit}


def code_version_string() -> str:
    info = code_version()
    return f"{info['package']}+{info['git_commit']}" if info["git_commit"] else str(info["package"])


def manifest_header(config: RunConfig, model, plan: ShardPlan, started: str) -> dict:
    """Everything but the shards: identity, inputs, model, method, code, times."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": config.run_id,
        "release": config.release,
        "parent_run": config.parent_run,
        "model": {
            "path": os.path.abspath(config.model),
            "sha256": model.weights_sha256,
            "label_names": list(model.label_names),
            "model_type": model.model_type,
            "num_layers": model.num_layers,
            "num_heads": model.num_heads,
        },
        "target": config.target,
        "method": config.method_config(),
        "code_version": code_version_string(),
        "code": code_version(),
        "started": started,
        "finished": None,
        "inputs": {
            "proteins": plan.total_proteins,
            "shards": len(plan.shard_ids),
            "shard_size": config.shard_size,
            "where": config.where,
            "accessions": len(config.accessions) if config.accessions is not None else None,
            "plan_sha256": plan.digest,
        },
        "fingerprint": config.fingerprint(model.weights_sha256, plan.digest),
    }


def shard_entry(row: dict) -> dict:
    """The manifest entry of one finished shard, from the actor's summary row."""
    seconds = float(row["seconds"] or 0.0)
    proteins = int(row["proteins"])
    padded = int(row.get("padded_tokens") or 0)
    entry = {
        "shard": row["shard"],
        "proteins": proteins,
        "failures": int(row["failures"]),
        "files": shard_files(row["shard"]),
        "seconds": round(seconds, 4),
        "cpu_seconds": round(float(row.get("cpu_seconds") or 0.0), 4),
        "proteins_per_s": round(proteins / seconds, 4) if seconds > 0 else None,
        "padding_waste": round(1.0 - int(row.get("real_tokens") or 0) / padded, 4) if padded else 0.0,
        "worker": row.get("worker"),
    }
    if row.get("flops"):
        entry["flops"] = float(row["flops"])
        entry["flops_per_s"] = float(row["flops"]) / seconds if seconds > 0 else None
        if row.get("peak_flops") and seconds > 0:
            entry["mfu"] = round(float(row["flops"]) / seconds / float(row["peak_flops"]), 6)
    return entry
