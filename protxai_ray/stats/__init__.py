"""Enrichment statistics over a run in DuckDB: annotation masks, per protein × head scores (point-biserial
r, RRA, summed relevance), Wilcoxon signed-rank / t-test per head × class × annotation with BH-FDR, and
head positivity. Entry points: ``compute_stats``, and ``compare_runs`` (trained vs control); SQL in
``masks.sql``, ``scores.sql``, ``enrichment.sql``; saved user queries in ``queries.sql``.
"""

from protxai_ray.stats.compare import RunComparison, compare_runs
from protxai_ray.stats.run import StatsSummary, compute_stats

__all__ = ["RunComparison", "StatsSummary", "compare_runs", "compute_stats"]
