"""Figures and the HTML report of a run: head heatmaps, embedding-level bars, relevance tracks,
and the seed paper's extra analyses (faithfulness, PCA of head profiles, control-model Jaccard), and
attribution vs the attention baseline per head (``attention.py``).

Reads only the store's DuckDB views (``protxai_ray.store.duck``); writes PNGs and ``index.html``.
"""

from protxai_ray.report.build import build_report

__all__ = ["build_report"]
