"""Arrow schemas of the stats tables written to ``runs/run_id=ID/stats/<table>/part-0.parquet``.

The contract columns come first and keep their names; the extra columns say why a cell has no p
(``testable``, ``note``), which p-value method scipy's rules picked (``method``: exact, permutation,
asymptotic, none), and carry the t-test overlay (``t_statistic``, ``t_p``, ``t_p_adj``), the
composition-adjusted test (``r_aa_adjusted`` per protein; ``aa_*`` per cell) and, per head, the seed's
overlay mask (``positivity_p_adj``, ``overlay``). ``protein_residue_scores`` is the embedding level of
``protein_head_scores`` (one r per protein).
"""

from __future__ import annotations

import pyarrow as pa

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
