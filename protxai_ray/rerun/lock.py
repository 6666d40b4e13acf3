"""The lock that keeps two scheduled re-runs of one release apart: the store's lock (``store/lock.py``) at
``S/locks/rerun-release=R.json``."""

from __future__ import annotations

from protxai_ray.store.fs import Store
from protxai_ray.store.lock import DEFAULT_TTL_S, Locked, StoreLock

ReleaseLocked = Locked

__all__ = ["DEFAULT_TTL_S", "ReleaseLocked", "StoreLock", "rerun_lock"]


def rerun_lock(store: Store | str, release: str, ttl_s: float = DEFAULT_TTL_S) -> StoreLock:
    """``with rerun_lock(store, "2024_05"):`` — ``ReleaseLocked`` while another live re-run holds it."""
    return StoreLock(
        store, f"locks/rerun-release={release}.json", what=f"re-run of release {release}", ttl_s=ttl_s
    )
