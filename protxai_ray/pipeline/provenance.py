"""What a run manifest records about where its numbers came from (README "Store").

``manifest_header`` is written once when a run starts; ``shard_entry`` once per committed shard.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

from protxai_ray.pipeline.config import RunConfig
from protxai_ray.pipeline.plan import ShardPlan
from protxai_ray.store.manifest import RunManifest, ShardEntry
from protxai_ray.store.runs import shard_files
from protxai_ray.store.schemas import SCHEMA_VERSION

GIT_COMMIT_ENV = "PROTXAI_GIT_COMMIT"  # the commit, for code without a .git (a `ray job submit` working dir)
_SOURCE_SUFFIXES = (".py", ".sql")


def source_sha256(root: Path | None = None) -> str:
    """sha256 over the package's code files (``*.py``, ``*.sql``: relative path and bytes, sorted by path).

    The same for a checkout, an installed copy and a job's working-dir package of the same code, so runs
    can be matched to code even where there is no git.
    """
    root = root or Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES and p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _git_commit(root: Path) -> str | None:
    """HEAD of the checkout at root (``-dirty`` when the package is modified); None without git."""
    if not (root / ".git").exists():
        return None
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
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if commit and dirty else commit


@functools.cache
def code_version() -> dict[str, str | None]:
    """The running code: package version, sha256 of its sources, and its git commit when known.

    The commit comes from the checkout's ``.git`` (``-dirty`` if the package is modified) or, where there
    is none (the package ``ray job submit --working-dir`` ships has no .git), from ``PROTXAI_GIT_COMMIT``
    set at submit time; otherwise None, and ``source_sha256`` alone identifies the code.
    """
    from protxai_ray import __version__

    root = Path(__file__).resolve().parents[2]
    commit = _git_commit(root) or os.environ.get(GIT_COMMIT_ENV, "").strip() or None
    return {"package": __version__, "git_commit": commit, "source_sha256": source_sha256()}


def code_version_string() -> str:
    info = code_version()
    suffix = info["git_commit"] or f"src.{info['source_sha256'][:12]}"
    return f"{info['package']}+{suffix}"


def manifest_header(config: RunConfig, model, plan: ShardPlan, started: str) -> RunManifest:
    """Everything but the shards: identity, inputs, model, method, code, times."""
    return RunManifest.from_dict({
        "schema_version": SCHEMA_VERSION,
        "run_id": config.run_id,
        "release": config.release,
        "parent_run": config.parent_run,
        "model": {
            "path": config.model,  # as given (relative: to the run's working directory); sha256 pins it
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
        "fingerprint": config.fingerprint(model.identity_sha256, plan.digest),
    })


def shard_entry(row: dict) -> ShardEntry:
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
    if row.get("attempts"):  # this shard's attempts started so far (>= 2: it was retried)
        entry["attempts"] = int(row["attempts"])
    checks = row.get("checks")
    if checks:  # size, rows and SHA-256 of each file: `protxai verify`, resume and stats check them
        entry["checks"] = json.loads(checks) if isinstance(checks, str) else dict(checks)
    if row.get("flops"):
        entry["flops"] = float(row["flops"])
        entry["flops_per_s"] = float(row["flops"]) / seconds if seconds > 0 else None
        if row.get("peak_flops") and seconds > 0:
            entry["mfu"] = round(float(row["flops"]) / seconds / float(row["peak_flops"]), 6)
    return ShardEntry.from_dict(entry)
