"""Arrow schemas of every store table (the contract of the store layout, docs/store.md).

Column names and types here are interfaces: tests, SQL and users depend on them. ``SCHEMA_VERSION`` is
written into each Parquet file's key-value metadata and into run manifests. Every field carries its
description as Arrow field metadata (key ``b"description"``), so each written Parquet file documents its
own columns (``pyarrow.parquet.read_schema(path).field("relevance").metadata``); docs/store.md lists the
same descriptions, generated from here (``protxai_ray.store.schema_doc``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"
DESCRIPTION = b"description"


def _schema(columns: list[tuple[str, pa.DataType, str]]) -> pa.Schema:
    """A schema whose fields carry their description as field metadata."""
    return pa.schema(
        [pa.field(name, dtype, metadata={DESCRIPTION: text.encode()}) for name, dtype, text in columns]
    )


def descriptions(schema: pa.Schema) -> dict[str, str]:
    """Column name → description of ``schema`` ("" for a field without one)."""
    return {f.name: ((f.metadata or {}).get(DESCRIPTION) or b"").decode() for f in schema}


# ---- shared column texts -------------------------------------------------------------------------

_RELEASE = (
    "Release name: the `release=R` directory (a UniProt release such as 2024_01, or the name given to "
    "`protxai ingest --release`)."
)
_ACCESSION = "UniProtKB primary accession (e.g. P69905)."
_RUN_ID = "Run id: the run's `runs/run_id=ID` directory, whose manifest.json committed this row's file."
_RUN_CRC64 = (
    "CRC64 of the sequence the row was computed from (16 upper-case hex digits, = proteins.crc64 of the "
    "run's release at run time)."
)
_POSITION = (
    "Token position: 0 = start token, 1..L = residues in UniProt numbering (the numbering of "
    "annotations.start/end), L + 1 = end token; L = proteins.length."
)
_LAYER = "Encoder layer, 0-based (0 = the first layer after the embeddings)."
_HEAD = "Attention head within its layer, 0-based."
_ANNOTATION = (
    "Annotation type the mask is built from: a feature_type of annotations (active_site, binding_site, "
    "motif, transmembrane, ...) or a residue control (hydrophobic = F M W I V L P A, positive = K R, "
    "tm_hydrophobic / tm_positive = those residues inside transmembrane ranges)."
)

PROTEINS = _schema(
    [
        ("release", pa.string(), _RELEASE),
        ("accession", pa.string(), _ACCESSION),
        ("entry_name", pa.string(), "UniProtKB entry name (ID line), e.g. HBA_HUMAN."),
        ("reviewed", pa.bool_(), "True for Swiss-Prot (reviewed) entries, false for TrEMBL (unreviewed)."),
        (
            "entry_version",
            pa.int32(),
            "Entry version in this release; NULL when the source gives none (old flat files). When one "
            "release is ingested from several sources, the highest entry version of an accession wins.",
        ),
        (
            "sequence_version",
            pa.int32(),
            "Sequence version (UniProt increments it when the sequence changes); NULL when not given.",
        ),
        (
            "crc64",
            pa.string(),
            "CRC64 of `sequence` (UniProt's checksum, 16 upper-case hex digits), computed at ingest and "
            "checked against the checksum the entry carries.",
        ),
        ("length", pa.int32(), "Sequence length L in residues."),
        (
            "sequence",
            pa.string(),
            "Amino-acid sequence, one-letter codes; its residue i (1-based) is position i of the run "
            "tables residues and heads.",
        ),
        ("organism", pa.string(), "Source organism as named by the entry (empty when the format has none)."),
        ("ec", pa.list_(pa.string()), "EC numbers of the entry (e.g. 3.4.21.4); empty list when none."),
        ("go", pa.list_(pa.string()), "GO term ids of the entry (e.g. GO:0016020); empty list when none."),
    ]
)

ANNOTATIONS = _schema(
    [
        ("release", pa.string(), _RELEASE),
        ("accession", pa.string(), _ACCESSION),
        (
            "feature_type",
            pa.string(),
            "UniProt sequence feature type, snake_case of UniProt's XML name (active_site, binding_site, "
            "motif, transmembrane, signal, ...); one row per feature.",
        ),
        (
            "start",
            pa.int32(),
            "First residue of the feature, 1-based UniProt numbering (= position in residues/heads).",
        ),
        (
            "end",
            pa.int32(),
            "Last residue of the feature, 1-based and inclusive (= start for a single site).",
        ),
        ("description", pa.string(), "The feature's description text as the entry gives it (may be empty)."),
        (
            "ligand",
            pa.string(),
            "Ligand of a binding site (UniProt's ligand name, or derived from the description in older "
            "releases); empty for other features.",
        ),
        (
            "evidence",
            pa.string(),
            "ECO evidence codes the entry attaches to the feature, sorted and comma-joined (e.g. "
            "ECO:0000255,ECO:0000269); NULL when it gives none (TMbed records, pre-2014 entries).",
        ),
    ]
)

PREDICTIONS = _schema(
    [
        ("run_id", pa.string(), _RUN_ID),
        ("accession", pa.string(), _ACCESSION),
        ("crc64", pa.string(), _RUN_CRC64),
        (
            "target_index",
            pa.int16(),
            "0-based index of the attributed class in the model's label map (label_names in the run "
            "manifest's model); its logit is the output F every relevance of this protein explains.",
        ),
        (
            "target_name",
            pa.string(),
            "Name of the attributed class (label_names[target_index], e.g. GO:0016020 or EC:3); the "
            "protein's class in the statistics.",
        ),
        (
            "logit",
            pa.float32(),
            "F(x): the model's logit of the target class for the protein (not a probability).",
        ),
        (
            "baseline_logit",
            pa.float32(),
            "F(b): the target logit at the IG baseline b (start token + pad or mask tokens + end token, "
            "docs/method.md).",
        ),
        ("probability", pa.float32(), "Softmax probability of the target class at the input x."),
        (
            "ig_sum",
            pa.float32(),
            "Sum of the embedding IG over all L + 2 positions (= sum of residues.relevance); by "
            "completeness ≈ logit − baseline_logit.",
        ),
        (
            "convergence_delta",
            pa.float32(),
            "Relative completeness gap of the embedding IG: |ig_sum − (logit − baseline_logit)| / "
            "max(|logit − baseline_logit|, eps); small = the path integral is complete.",
        ),
        (
            "n_steps",
            pa.int16(),
            "Path points evaluated for this protein (one forward + backward each): the fixed step count, "
            "or with steps = 'auto' the nodes of all refined Gauss-Legendre segments.",
        ),
        (
            "head_error",
            pa.float32(),
            "steps = 'auto' only: estimated relative error of the head conductance (error norm / norm of "
            "each layer's head tensor, max over layers; 0.01 = 1 %). Above the run's tolerance "
            "(runs.tolerance) the protein is left out of protxai stats. NULL for fixed steps (no estimate).",
        ),
    ]
)

RESIDUES = _schema(
    [
        ("run_id", pa.string(), _RUN_ID),
        ("accession", pa.string(), _ACCESSION),
        ("crc64", pa.string(), _RUN_CRC64),
        ("position", pa.int32(), _POSITION),
        (
            "residue",
            pa.string(),
            "The token at position: the residue's one-letter code at 1..L, '<start>' at 0 and '<end>' at "
            "L + 1.",
        ),
        (
            "relevance",
            pa.float32(),
            "Embedding Integrated Gradients of the target logit (predictions.logit) for this token, summed "
            "over the embedding dimension, in logit units: > 0 = the token's embedding raises the target "
            "logit relative to the baseline, < 0 = lowers it. Sums over positions to predictions.ig_sum.",
        ),
    ]
)

HEADS = _schema(
    [
        ("run_id", pa.string(), _RUN_ID),
        ("accession", pa.string(), _ACCESSION),
        ("crc64", pa.string(), _RUN_CRC64),
        ("layer", pa.int16(), _LAYER),
        ("head", pa.int16(), _HEAD),
        ("position", pa.int32(), _POSITION),
        (
            "relevance",
            pa.float32(),
            "Layer conductance of attention head (layer, head) at this token for the target logit, in "
            "logit units (docs/method.md: the head's context vector before the output projection, "
            "integrated along the IG path): > 0 = the head's output at this token raises the target "
            "logit relative to the baseline, < 0 = lowers it.",
        ),
    ]
)

# Per-protein failures of a run (issue 5): recorded, never fatal to the run.
FAILURES = _schema(
    [
        ("run_id", pa.string(), _RUN_ID),
        ("accession", pa.string(), _ACCESSION),
        ("crc64", pa.string(), "CRC64 of the sequence that could not be attributed."),
        (
            "reason",
            pa.string(),
            "One-line reason (sequence the model does not accept, target not resolvable, engine error); "
            "the protein has no rows in predictions, residues or heads of this run.",
        ),
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
RELEASE_CHANGES = _schema(
    [
        ("release", pa.string(), "The newer release (its `release=R` directory holds this diff)."),
        ("previous_release", pa.string(), "The release it is compared against."),
        ("accession", pa.string(), _ACCESSION),
        (
            "change",
            pa.string(),
            "Primary kind of change, by precedence new > deleted > sequence_changed > label_changed > "
            "annotations_changed > unchanged (the boolean columns give every kind that applies).",
        ),
        ("crc64_old", pa.string(), "Sequence CRC64 in previous_release; NULL for new accessions."),
        ("crc64_new", pa.string(), "Sequence CRC64 in release; NULL for deleted accessions."),
        ("sequence_version_old", pa.int32(), "Sequence version in previous_release (NULL when absent)."),
        ("sequence_version_new", pa.int32(), "Sequence version in release (NULL when absent)."),
        ("is_new", pa.bool_(), "The accession is in release only."),
        ("is_deleted", pa.bool_(), "The accession is in previous_release only."),
        (
            "sequence_changed",
            pa.bool_(),
            "CRC64 differs, or both releases give a sequence version and they differ.",
        ),
        (
            "label_changed",
            pa.bool_(),
            "The EC set or the GO set differs (ec_changed / go_changed say which); whether a model's "
            "target changes is decided per model by the re-run.",
        ),
        ("ec_changed", pa.bool_(), "The set of EC numbers differs."),
        ("go_changed", pa.bool_(), "The set of GO terms differs."),
        (
            "annotations_changed",
            pa.bool_(),
            "The multiset of features compared on (feature_type, start, end) differs; a change of "
            "description wording alone is not a change.",
        ),
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
def _score_columns(track: str) -> list[tuple[str, pa.DataType, str]]:
    """Per protein × annotation scores of one relevance track (``track`` names it in the texts)."""
    return [
        (
            "r",
            pa.float64(),
            f"Point-biserial correlation (Pearson r with the 0/1 annotation mask) of {track} over all "
            "L + 2 positions (start and end tokens count as not annotated); NULL for a constant track.",
        ),
        (
            "rra",
            pa.float64(),
            "Relevance rank accuracy: share of the K most relevant residues (positions 1..L, ties broken "
            "by position) that are annotated, K = n_annotated.",
        ),
        (
            "relevance_sum",
            pa.float64(),
            f"Sum of {track} over all L + 2 positions, logit units (the value the positivity tests use).",
        ),
        ("n_annotated", pa.int32(), "K: residues of the protein inside annotations of this type."),
        (
            "r_aa_adjusted",
            pa.float64(),
            "Composition-adjusted r: partial correlation of relevance and mask over residues 1..L given "
            "the amino acid (both centred on their per-amino-acid means within the protein); NULL where "
            "the mask or the relevance is a function of residue identity.",
        ),
    ]


def _test_columns(x: str, family: str) -> list[tuple[str, pa.DataType, str]]:
    """One-sided Wilcoxon signed-rank test of ``x`` > 0 over the proteins of a class, BH over ``family``."""
    return [
        ("n", pa.int64(), f"Proteins with a value of {x} in the cell (zeros included)."),
        (
            "statistic",
            pa.float64(),
            f"Wilcoxon signed-rank statistic W+ of {x}: sum of the ranks of |x| of the positive values "
            "(zeros dropped, ties averaged); NULL when n = 0.",
        ),
        (
            "p",
            pa.float64(),
            f"One-sided Wilcoxon signed-rank p of {x} > 0, as scipy.stats.wilcoxon(x, "
            "alternative='greater'); NULL when not testable.",
        ),
        ("p_adj", pa.float64(), f"Benjamini-Hochberg adjusted p over {family}; NULL when not testable."),
        ("significant", pa.bool_(), "p_adj < 0.05 (false when not testable)."),
        ("testable", pa.bool_(), "p is defined: n ≥ 2 and not every value is zero (note says why not)."),
        (
            "method",
            pa.string(),
            "How p was computed, by scipy's method='auto' rules: exact, permutation (n ≤ 13 with zeros "
            "or ties), asymptotic (normal approximation), none (not testable).",
        ),
        (
            "note",
            pa.string(),
            "Why the cell has no p (no annotated proteins / no proteins with values, n < 2, all values "
            "are zero); NULL when testable.",
        ),
    ]


_TTEST_COLUMNS = [
    (
        "t_statistic",
        pa.float64(),
        "One-sample t statistic of r > 0 (the seed's overlay test, next to the Wilcoxon).",
    ),
    ("t_p", pa.float64(), "One-sided one-sample t-test p of r > 0; NULL when not testable."),
    ("t_p_adj", pa.float64(), "Benjamini-Hochberg adjusted t_p over the same family as p_adj."),
]
_AA_COLUMNS = [  # the Wilcoxon of the composition-adjusted r_aa_adjusted > 0, BH over the same family
    ("aa_n", pa.int64(), "n of the composition-adjusted test: proteins with a value of r_aa_adjusted."),
    ("aa_statistic", pa.float64(), "Wilcoxon W+ of r_aa_adjusted (composition-adjusted test)."),
    (
        "aa_p",
        pa.float64(),
        "One-sided Wilcoxon p of r_aa_adjusted > 0: does the annotation get more "
        "relevance than the same amino acids elsewhere in the protein?",
    ),
    ("aa_p_adj", pa.float64(), "Benjamini-Hochberg adjusted aa_p over the same family as p_adj."),
    ("aa_significant", pa.bool_(), "aa_p_adj < 0.05."),
]
_OVERLAY_COLUMNS = [
    (
        "positivity_p_adj",
        pa.float64(),
        "Benjamini-Hochberg adjusted Wilcoxon p of the head's relevance_sum > 0 over the class's proteins "
        "annotated with this annotation type (the seed's positivity input).",
    ),
    ("overlay", pa.bool_(), "The seed's overlay mask: t_p_adj < 0.05 and positivity_p_adj < 0.05."),
]
_HEAD_COLUMNS = [("layer", pa.int16(), _LAYER), ("head", pa.int16(), _HEAD)]
_CLASS = ("class", pa.string(), "Class c of the cell: the proteins whose predictions.target_name is c.")
_STATS_RUN_ID = ("run_id", pa.string(), "Run id: the run whose relevance was tested (runs/run_id=ID/stats/).")

PROTEIN_HEAD_SCORES = _schema(
    [
        _STATS_RUN_ID,
        ("accession", pa.string(), _ACCESSION),
        *_HEAD_COLUMNS,
        ("annotation", pa.string(), _ANNOTATION),
        *_score_columns("the head's relevance (heads.relevance)"),
    ]
)
PROTEIN_RESIDUE_SCORES = _schema(
    [
        _STATS_RUN_ID,
        ("accession", pa.string(), _ACCESSION),
        ("annotation", pa.string(), _ANNOTATION),
        *_score_columns("the embedding IG (residues.relevance)"),
    ]
)
HEAD_ENRICHMENT = _schema(
    [_STATS_RUN_ID, _CLASS, ("annotation", pa.string(), _ANNOTATION), *_HEAD_COLUMNS]
    + _test_columns("r (protein_head_scores)", "all heads of the model for this class × annotation")
    + _TTEST_COLUMNS
    + _AA_COLUMNS
    + _OVERLAY_COLUMNS
)
RESIDUE_ENRICHMENT = _schema(
    [_STATS_RUN_ID, _CLASS, ("annotation", pa.string(), _ANNOTATION)]
    + _test_columns("r (protein_residue_scores)", "all annotation types of this class")
    + _TTEST_COLUMNS
    + _AA_COLUMNS
)
HEAD_POSITIVITY = _schema(
    [_STATS_RUN_ID, _CLASS, *_HEAD_COLUMNS]
    + _test_columns("the head's relevance_sum", "all heads of the model for this class")
)

# Trained vs control (protxai_ray.stats.compare.compare_runs): paired per-protein differences of r between
# run_id and control_run_id per class × annotation × head, with percentile bootstrap CIs over proteins;
# written to runs/run_id=ID/stats/head_comparison/control-CONTROL.parquet.
_DIFFERENCE = "r(run_id) − r(control_run_id) of the same protein (protein_head_scores)"
HEAD_COMPARISON = _schema(
    [
        _STATS_RUN_ID,
        ("control_run_id", pa.string(), "The control run compared against (e.g. a shuffled-label model)."),
        _CLASS,
        ("annotation", pa.string(), _ANNOTATION),
        *_HEAD_COLUMNS,
        (
            "n",
            pa.int64(),
            "Paired proteins: attributed in both runs with the same sequence (accession and CRC64), r "
            "defined in both.",
        ),
        ("mean_r", pa.float64(), "Mean r of run_id over the n paired proteins."),
        ("control_mean_r", pa.float64(), "Mean r of control_run_id over the n paired proteins."),
        ("mean_difference", pa.float64(), f"Mean over the n proteins of {_DIFFERENCE}."),
        (
            "ci_low",
            pa.float64(),
            "Lower end of the percentile bootstrap confidence interval of mean_difference (proteins "
            "resampled with replacement); NULL when n < 2.",
        ),
        ("ci_high", pa.float64(), "Upper end of that interval; NULL when n < 2."),
        ("aa_n", pa.int64(), "Paired proteins with r_aa_adjusted defined in both runs."),
        ("aa_mean_difference", pa.float64(), "Mean paired difference of r_aa_adjusted (composition-adjusted r)."),
        ("aa_ci_low", pa.float64(), "Lower end of the bootstrap interval of aa_mean_difference."),
        ("aa_ci_high", pa.float64(), "Upper end of the bootstrap interval of aa_mean_difference."),
        ("resamples", pa.int32(), "Bootstrap resamples of the proteins (the same ones for every head of a cell)."),
        ("confidence", pa.float64(), "Confidence level of the interval (0.95 = 2.5th to 97.5th percentile)."),
        ("seed", pa.int64(), "Seed of the resampling (with class and annotation; compare_runs documents it)."),
    ]
)

STATS_TABLES: dict[str, pa.Schema] = {
    "protein_head_scores": PROTEIN_HEAD_SCORES,
    "protein_residue_scores": PROTEIN_RESIDUE_SCORES,
    "head_enrichment": HEAD_ENRICHMENT,
    "residue_enrichment": RESIDUE_ENRICHMENT,
    "head_positivity": HEAD_POSITIVITY,
    "head_comparison": HEAD_COMPARISON,
}

# Tables of ``protxai analyze`` (analyses that run the model), under ``runs/run_id=ID/stats/<table>/``.
_DROP = "original target logit − the variant's target logit (positive: the replacement lowered the logit)"
FAITHFULNESS_DROPS = _schema(
    [
        ("run_id", pa.string(), _RUN_ID),
        ("accession", pa.string(), _ACCESSION),
        ("n", pa.int32(), "Residues replaced in the variant."),
        ("kind", pa.string(), "top: the n residues of highest embedding-level relevance; random: n drawn at random."),
        ("draw", pa.int32(), "Draw index (0-based) of the replacement amino acids (and, for random, positions)."),
        ("drop", pa.float64(), f"Target-logit drop: {_DROP}."),
    ]
)


def _interval_columns(prefix: str, what: str) -> list[tuple[str, pa.DataType, str]]:
    return [
        (f"{prefix}_mean", pa.float64(), f"Mean over proteins of {what}."),
        (f"{prefix}_ci_low", pa.float64(), f"Lower end of the t confidence interval of {prefix}_mean."),
        (f"{prefix}_ci_high", pa.float64(), f"Upper end of the t confidence interval of {prefix}_mean."),
    ]


FAITHFULNESS = _schema(
    [
        ("run_id", pa.string(), _RUN_ID),
        ("n", pa.int32(), "Residues replaced."),
        ("proteins", pa.int32(), "Proteins with at least n residues (each contributes one mean per kind)."),
        ("draws", pa.int32(), "Draws per protein, n and kind."),
        *_interval_columns("top", "the per-protein mean drop when the top-n residues are replaced"),
        *_interval_columns("random", "the per-protein mean drop when n random residues are replaced"),
        *_interval_columns("diff", "top − random, paired per protein"),
        ("confidence", pa.float64(), "Confidence level of the intervals (0.95)."),
        ("replacement", pa.string(), "How a chosen residue is replaced (composition: drawn from the protein's own composition)."),
        ("seed", pa.int64(), "Seed of the draws."),
    ]
)

ANALYSIS_TABLES: dict[str, pa.Schema] = {"faithfulness_drops": FAITHFULNESS_DROPS, "faithfulness": FAITHFULNESS}

# One row per run manifest (the ``runs`` view).
RUNS = _schema(
    [
        ("run_id", pa.string(), "Run id (the runs/run_id=ID directory)."),
        ("release", pa.string(), "Release the run attributed (manifest release)."),
        (
            "target",
            pa.string(),
            "Target rule given to protxai attribute: label, argmax, or a class name or index.",
        ),
        ("model_sha256", pa.string(), "SHA-256 of the model's safetensors weights (manifest model.sha256)."),
        (
            "parent_run",
            pa.string(),
            "Run a re-run reused attributions from (protxai rerun); NULL for a fresh run.",
        ),
        ("started", pa.string(), "When the run was created (ISO-8601, UTC)."),
        (
            "finished",
            pa.string(),
            "When every planned shard was committed (ISO-8601, UTC); NULL while unfinished.",
        ),
        ("n_shards", pa.int32(), "Committed shards listed by the manifest."),
        ("proteins", pa.int64(), "Proteins of the committed shards (attributed and failed)."),
        (
            "method",
            pa.string(),
            "Quadrature rule (manifest method.method): gausslegendre or a riemann_* rule.",
        ),
        (
            "derivative",
            pa.string(),
            "How the head conductance's derivative along the path is taken: spectral, exact, finite or seed.",
        ),
        ("steps", pa.string(), "Fixed step count (an integer) or 'auto' (error-controlled integration)."),
        ("precision", pa.string(), "Numeric precision of the model passes: fp32, tf32 or bf16."),
        (
            "tolerance",
            pa.float64(),
            "Head-error goal of steps = 'auto' (a protein with predictions.head_error above it is not "
            "converged); NULL for fixed steps.",
        ),
    ]
)

# Every table of the store by name (the ``runs`` table is built from the run manifests, not from files).
ALL_TABLES: dict[str, pa.Schema] = {
    **RELEASE_TABLES,
    "release_changes": RELEASE_CHANGES,
    **RUN_TABLES,
    **STATS_TABLES,
    **ANALYSIS_TABLES,
    "runs": RUNS,
}
