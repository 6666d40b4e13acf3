"""The store: Parquet tables of releases and runs on a local directory or ``s3://bucket/prefix``.

- ``fs.Store``: a store root and its paths, over a ``backend.Backend`` (local or S3: read, atomic write,
  list, compare-and-swap, delete); ``s3``: the one S3 URI parser, client factory and retry policy.
- ``lock.StoreLock``: the one lock (owner host/pid/heartbeat; dead holders taken over).
- ``parquet.write_parquet_atomic`` / ``read_table``: exact schemas (``schemas``), zstd, schema version.
- ``releases.write_release`` / ``list_releases`` / ``read_release``: ``releases/release=R`` + ``_release.json``
  (rows built by ``protxai_ray.uniprot.arrow``).
- ``runs.RunManifests``: run manifests (written by the pipeline).
- ``duck.connect``: DuckDB with every table registered as a view.

Names are re-exported lazily so that importing ``protxai_ray.store.schemas`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Store": "fs",
    "open_store": "fs",
    "write_parquet_atomic": "parquet",
    "read_table": "parquet",
    "write_release": "releases",
    "list_releases": "releases",
    "read_release": "releases",
    "connect": "duck",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"protxai_ray.store.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'protxai_ray.store' has no attribute {name!r}")
