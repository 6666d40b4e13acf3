"""Arrow schemas of every store table (the contract in the store layout in README.md "Store").

Column names and types here are interfaces: tests, SQL and users depend on them. ``SCHEMA_VERSION`` is
written into each Parquet file's key-value metadata and into run manifests.
"""

from __future__ import annotations

import pyarrow as pa

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


# Release diff (protxai_ray.uniprot.diff), one row per accession of either release; written by the re-run
# to ``releases/release=R/changes/*.parquet`` and read by the ``release_changes`` view.
RELEASE_CHANGES = pa.schema(
    [
        ("release", pa.string()),
        ("previous_release", pa.string()),
        ("accession", pa.string()),
        ("change", pa.string()),  # primary kind: new, deleted, sequence_changed, label_changed, ...
        ("crc64_old", pa.string()),  # null for new accessions
        ("crc64_new", pa.string()),  # null for deleted accessions
        ("sequence_version_old", pa.int32()),
        ("sequence_version_new", pa.int32()),
        ("is_new", pa.bool_()),
        ("is_deleted", pa.bool_()),
        ("sequence_changed", pa.bool_()),
        ("label_changed", pa.bool_()),
        ("ec_changed", pa.bool_()),
        ("go_changed", pa.bool_()),
        ("annotations_changed", pa.bool_()),
    ]
)


# Stats tables (docs/method.md "Statistics"), written by ``protxai stats`` to
# ``runs/run_id=ID/stats/<table>/part-0.parquet``; the DuckDB views use these types while no file exists.
# The contract columns come first and keep their names; the extra columns say why a cell has no p
# (``testable``, ``note``), which p-value method scipy's rules picked (``method``: exact, permutation,
# asymptotic, none), and carry the t-test overlay (``t_statistic``, ``t_p``, ``t_p_adj``), the
# composition-adjusted test (``r_aa_adjusted`` per protein; ``aa_*`` per cell) and, per head, the seed's
# overlay mask (``positivity_p_adj``, ``overlay``). ``protein_residue_scores`` is the embedding level of
# ``protein_head_scores`` (one r per protein).
_SCORE_COLUMNS = [
    ("r", pa.float64()),
    ("rra", pa.float64()),
    ("relevance_sum", pa.float64()),
    ("n_annotated", pa.int32()),
    ("r_aa_adjusted", pa.float64()),
]
_TEST_COLUMNS = [
    ("n", pa.int64()),
    ("statistic", pa.float64()),
    ("p", pa.float64()),
    ("p_adj", pa.float64()),
    ("significant", pa.bool_()),
    ("testable", pa.bool_()),
    ("method", pa.string()),
    ("note", pa.string()),
]
_TTEST_COLUMNS = [("t_statistic", pa.float64()), ("t_p", pa.float64()), ("t_p_adj", pa.float64())]
_AA_COLUMNS = [  # the Wilcoxon of the composition-adjusted r_aa_adjusted > 0, BH over the same family
    ("aa_n", pa.int64()),
    ("aa_statistic", pa.float64()),
    ("aa_p", pa.float64()),
    ("aa_p_adj", pa.float64()),
    ("aa_significant", pa.bool_()),
]
_OVERLAY_COLUMNS = [("positivity_p_adj", pa.float64()), ("overlay", pa.bool_())]
_HEAD = [("layer", pa.int16()), ("head", pa.int16())]

PROTEIN_HEAD_SCORES = pa.schema(
    [
        ("run_id", pa.string()),
        ("accession", pa.string()),
        *_HEAD,
        ("annotation", pa.string()),
        *_SCORE_COLUMNS,
    ]
)
PROTEIN_RESIDUE_SCORES = pa.schema(
    [("run_id", pa.string()), ("accession", pa.string()), ("annotation", pa.string()), *_SCORE_COLUMNS]
)
HEAD_ENRICHMENT = pa.schema(
    [("run_id", pa.string()), ("class", pa.string()), ("annotation", pa.string()), *_HEAD]
    + _TEST_COLUMNS
    + _TTEST_COLUMNS
    + _AA_COLUMNS
    + _OVERLAY_COLUMNS
)
RESIDUE_ENRICHMENT = pa.schema(
    [("run_id", pa.string()), ("class", pa.string()), ("annotation", pa.string())]
    + _TEST_COLUMNS
    + _TTEST_COLUMNS
    + _AA_COLUMNS
)
HEAD_POSITIVITY = pa.schema([("run_id", pa.string()), ("class", pa.string()), *_HEAD] + _TEST_COLUMNS)

STATS_TABLES: dict[str, pa.Schema] = {
    "protein_head_scores": PROTEIN_HEAD_SCORES,
    "protein_residue_scores": PROTEIN_RESIDUE_SCORES,
    "head_enrichment": HEAD_ENRICHMENT,
    "residue_enrichment": RESIDUE_ENRICHMENT,
    "head_positivity": HEAD_POSITIVITY,
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
