"""Arrow schemas of every store table (the contract in the store layout in README.md "Store").

Column names and types here are interfaces: tests, SQL and users depend on them. ``SCHEMA_VERSION`` is
written into each Parquet file's key-value metadata and into run manifests.
"""

from __future__ import annotations

import pyarrow as pa

from protxai_ray.uniprot.diff import RELEASE_CHANGES as _release_changes_schema

SCHEMA_VERSION = "1"

PROTEINS = pa.schema(
    [
        ("release", pa.string()),
        ("accession", pa.string()),
        ("entry_name", pa.string()),
        ("reviewed", pa.bool_()),
        ("entry_version", pa.int32()),
        ("sequence_version", pa.int32()),
        ("crc64", pa.string()),
        ("length", pa.int32()),
        ("sequence", pa.string()),
        ("organism", pa.string()),
        ("ec", pa.list_(pa.string())),
        ("go", pa.list_(pa.string())),
    ]
)

ANNOTATIONS = pa.schema(
    [
        ("release", pa.string()),
        ("accession", pa.string()),
        ("feature_type", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("description", pa.string()),
        ("ligand", pa.string()),
    ]
)

PREDICTIONS = pa.schema(
    [
        ("run_id", pa.string()),
        ("accession", pa.string()),
        ("crc64", pa.string()),
        ("target_index", pa.int16()),
        ("target_name", pa.string()),
        ("logit", pa.float32()),
        ("baseline_logit", pa.float32()),
        ("probability", pa.float32()),
        ("ig_sum", pa.float32()),
        ("convergence_delta", pa.float32()),
        ("n_steps", pa.int16()),  # path points evaluated (steps="auto": all segments' nodes)
        ("head_error", pa.float32()),  # estimated relative head error, max over layers (auto); NULL = fixed
    ]
)

RESIDUES = pa.schema(
    [
        ("run_id", pa.string()),
        ("accession", pa.string()),
        ("crc64", pa.string()),
        ("position", pa.int32()),
        ("residue", pa.string()),
        ("relevance", pa.float32()),
    ]
)

HEADS = pa.schema(
    [
        ("run_id", pa.string()),
        ("accession", pa.string()),
        ("crc64", pa.string()),
        ("layer", pa.int16()),
        ("head", pa.int16()),
        ("position", pa.int32()),
        ("relevance", pa.float32()),
    ]
)

# Per-protein failures of a run (issue 5): recorded, never fatal to the run.
FAILURES = pa.schema(
    [
        ("run_id", pa.string()),
        ("accession", pa.string()),
        ("crc64", pa.string()),
        ("reason", pa.string()),
    ]
)

RELEASE_TABLES: dict[str, pa.Schema] = {"proteins": PROTEINS, "annotations": ANNOTATIONS}
RUN_TABLES: dict[str, pa.Schema] = {
    "predictions": PREDICTIONS,
    "residues": RESIDUES,
    "heads": HEADS,
    "failures": FAILURES,
}


def with_version(schema: pa.Schema) -> pa.Schema:
    """The schema with ``protxai.schema_version`` in its metadata, as written to every file."""
    return schema.with_metadata({b"protxai.schema_version": SCHEMA_VERSION.encode()})


# Release diff (issue 8), one row per accession of either release; written by the re-run to
# ``releases/release=R/changes/*.parquet`` and read by the ``release_changes`` view. The diff owns it.
RELEASE_CHANGES = _release_changes_schema

# Stats tables (docs/method.md "Statistics"), under ``runs/run_id=ID/stats/<table>/*.parquet``. The DuckDB views
# use these types only while no file exists (empty, typed views); the ``run_id`` column comes from the path
# when a file lacks it.
_CLASS_HEAD = [("class", pa.string()), ("annotation", pa.string())]
STATS_TABLES: dict[str, pa.Schema] = {
    "protein_head_scores": pa.schema(
        [
            ("run_id", pa.string()),
            ("accession", pa.string()),
            ("layer", pa.int16()),
            ("head", pa.int16()),
            ("annotation", pa.string()),
            ("r", pa.float64()),
            ("rra", pa.float64()),
            ("relevance_sum", pa.float64()),
        ]
    ),
    "head_enrichment": pa.schema(
        [
            ("run_id", pa.string()),
            *_CLASS_HEAD,
            ("layer", pa.int16()),
            ("head", pa.int16()),
            ("n", pa.int64()),
            ("statistic", pa.float64()),
            ("p", pa.float64()),
            ("p_adj", pa.float64()),
            ("significant", pa.bool_()),
        ]
    ),
    "residue_enrichment": pa.schema(
        [
            ("run_id", pa.string()),
            *_CLASS_HEAD,
            ("n", pa.int64()),
            ("statistic", pa.float64()),
            ("p", pa.float64()),
            ("p_adj", pa.float64()),
        ]
    ),
    "head_positivity": pa.schema(
        [
            ("run_id", pa.string()),
            ("class", pa.string()),
            ("layer", pa.int16()),
            ("head", pa.int16()),
            ("n", pa.int64()),
            ("statistic", pa.float64()),
            ("p", pa.float64()),
            ("p_adj", pa.float64()),
        ]
    ),
}

# One row per run manifest (the ``runs`` view).
RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("release", pa.string()),
        ("target", pa.string()),
        ("model_sha256", pa.string()),
        ("parent_run", pa.string()),
        ("started", pa.string()),
        ("finished", pa.string()),
        ("n_shards", pa.int32()),
        ("proteins", pa.int64()),
        ("method", pa.string()),  # quadrature (manifest "method"), e.g. gausslegendre
        ("derivative", pa.string()),  # spectral | exact | finite | seed
        ("steps", pa.string()),  # an integer or "auto"
        ("precision", pa.string()),
        ("tolerance", pa.float64()),  # head-error goal of steps="auto" (NULL for fixed steps)
    ]
)
