"""Enrichment statistics over a run in DuckDB: annotation masks, per protein × head scores (point-biserial
r, RRA, summed relevance), Wilcoxon signed-rank / t-test per head × class × annotation with BH-FDR, and
head positivity. Entry point: ``compute_stats``; SQL in ``masks.sql``, ``scores.sql``, ``enrichment.sql``;
saved user queries in ``queries.sql``.
"""

from protxai_ray.stats.run import StatsSummary, compute_stats

__all__ = ["StatsSummary", "compute_stats"]
