"""Scheduled re-runs on new UniProt releases: release detection, store lock, attribution cache, orchestration.

``run_rerun(RerunConfig(...))`` is the library entry point under ``protxai rerun`` and
``jobs/rerun_release.py``; see ``orchestrate`` for the steps and ``cache`` for the cache key.
"""

from protxai_ray.rerun.config import RerunConfig, RerunResult
from protxai_ray.rerun.lock import ReleaseLocked, StoreLock, rerun_lock
from protxai_ray.rerun.orchestrate import run_rerun
from protxai_ray.rerun.release import detect_release, parse_reldate

__all__ = [
    "ReleaseLocked",
    "RerunConfig",
    "RerunResult",
    "StoreLock",
    "detect_release",
    "parse_reldate",
    "rerun_lock",
    "run_rerun",
]
