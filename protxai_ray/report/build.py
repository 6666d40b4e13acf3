"""Assemble a run's report: every figure plus ``index.html`` linking them with the result tables."""

from __future__ import annotations

import html
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from protxai_ray.errors import RunError
from protxai_ray.report import analyses, data, figures

TOP_HEADS_SQL = """
SELECT e.class, e.annotation, e.layer, e.head, e.n, e.p_adj,
       median(s.r) AS median_r, median(s.rra) AS median_rra,
       e.aa_p_adj, median(s.r_aa_adjusted) AS median_r_aa_adjusted, e.overlay
FROM head_enrichment e
JOIN predictions p ON p.run_id = e.run_id AND p.target_name = e.class
JOIN protein_head_scores s ON s.run_id = e.run_id AND s.accession = p.accession
     AND s.annotation = e.annotation AND s.layer = e.layer AND s.head = e.head
WHERE e.run_id = $run_id AND e.significant
GROUP BY ALL
ORDER BY e.class, e.annotation, e.p_adj, e.layer, e.head
"""


TEST_SECTIONS = {
    "aa": "Composition-adjusted head enrichment (−ln aa_p_adj): relevance of annotated residues vs the same "
    "amino acids elsewhere in the protein (partial r given the amino acid, Wilcoxon > 0, BH)",
    "overlay": "Seed overlay (−ln t_p_adj): t-test of r > 0 significant and the head's summed relevance "
    "significantly positive over the annotated proteins (both BH)",
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def top_heads(con: duckdb.DuckDBPyConnection, run_id: str, per_cell: int = 5) -> pd.DataFrame:
    """The most significant heads per class × annotation with their median r and RRA."""
    table = con.execute(TOP_HEADS_SQL, {"run_id": run_id}).df()
    return table.groupby(["class", "annotation"], sort=True).head(per_cell).reset_index(drop=True)


def build_report(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    out_dir: str | Path,
    *,
    adapter=None,
    control_run: str | None = None,
    track_annotation: str | None = None,
    n_tracks: int = 4,
    n_flip_proteins: int = 12,
) -> Path:
    """Write the integration accuracy (first: every number below depends on it), heatmaps, embedding bars,
    tracks, PCA, faithfulness (when ``adapter`` is given) and ``index.html`` for ``run_id`` into
    ``out_dir``; returns the path of ``index.html``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not con.execute("SELECT count(*) FROM runs WHERE run_id = $r", {"r": run_id}).fetchone()[0]:
        raise RunError(f"run {run_id!r} not found in the store")
    layers, heads = data.model_shape(con, run_id)
    maps = data.head_maps(con, run_id, layers, heads)
    if not maps:
        raise RunError(f"run {run_id!r} has no statistics; run `protxai stats --run {run_id}` first")
    sections: list[str] = [_accuracy_section(con, run_id, out)]

    finite = [m.neg_log_p[m.significant] for m in maps if m.significant.any()]
    vmax = float(max((v.max() for v in finite), default=-np.log(0.05)))
    heat_items = []
    for head_map in maps:
        name = f"heatmap_{_slug(head_map.cls)}_{_slug(head_map.annotation)}.png"
        figures.head_heatmap(head_map, vmax, out / name)
        heat_items.append(
            f'<figure><img src="{name}"><figcaption>{html.escape(head_map.cls)} · '
            f"{html.escape(head_map.annotation)}: {int(head_map.significant.sum())} significant</figcaption></figure>"
        )
    sections.append("<h2>Head-level enrichment (−ln p_adj, Wilcoxon r &gt; 0, BH)</h2>" + "".join(heat_items))
    for test in ("aa", "overlay"):
        items = []
        for head_map in data.head_maps(con, run_id, layers, heads, test=test):
            name = f"heatmap_{test}_{_slug(head_map.cls)}_{_slug(head_map.annotation)}.png"
            figures.head_heatmap(head_map, vmax, out / name)
            items.append(
                f'<figure><img src="{name}"><figcaption>{html.escape(head_map.cls)} · '
                f"{html.escape(head_map.annotation)}: {int(head_map.significant.sum())} significant"
                "</figcaption></figure>"
            )
        if items:
            sections.append(f"<h2>{html.escape(TEST_SECTIONS[test])}</h2>" + "".join(items))

    top = top_heads(con, run_id)
    sections.append(
        "<h2>Top significant heads</h2>"
        + (top.to_html(index=False, float_format="%.3g") if not top.empty else "<p>No significant heads.</p>")
    )

    embedding = data.embedding_results(con, run_id)
    if not embedding.empty:
        figures.embedding_bars(embedding, out / "embedding_enrichment.png")
        sections.append(
            '<h2>Embedding level</h2><img src="embedding_enrichment.png">'
            + embedding.to_html(index=False, float_format="%.3g")
        )

    annotation = track_annotation or _best_annotation(con, run_id, top)
    if annotation:
        head_list = _track_heads(con, run_id, annotation)
        items = []
        for accession in data.track_proteins(con, run_id, annotation, n_tracks):
            track = data.protein_track(con, run_id, accession, head_list)
            name = f"track_{_slug(accession)}.png"
            figures.relevance_track(track, out / name)
            items.append(f'<figure><img src="{name}" style="max-width:100%"></figure>')
        if items:
            heads_text = ", ".join(f"L{layer} H{head}" for layer, head in head_list)
            sections.append(
                f"<h2>Relevance tracks ({html.escape(annotation)}; heads {heads_text})</h2>" + "".join(items)
            )

    accessions, classes, profiles = data.head_profiles(con, run_id)
    if len(accessions) >= 3 and profiles.shape[1] >= 2:
        coords, explained = analyses.profile_pca(profiles)
        figures.pca_scatter(coords, classes, explained, out / "pca_head_profiles.png")
        sections.append('<h2>PCA of head-relevance profiles</h2><img src="pca_head_profiles.png">')

    if adapter is not None:
        flip = _faithfulness(con, run_id, adapter, n_flip_proteins)
        if not flip.empty:
            figures.faithfulness_curve(flip, out / "faithfulness.png")
            flip.to_csv(out / "faithfulness.csv", index=False)
            sections.append(
                '<h2>Faithfulness (alanine flipping)</h2><img src="faithfulness.png">'
                + flip.to_html(index=False, float_format="%.4g")
            )

    if control_run:
        table = control_comparison(con, run_id, control_run, sorted({m.annotation for m in maps}))
        sections.append(
            f"<h2>Control run {html.escape(control_run)}: significant heads and their Jaccard similarity</h2>"
            "<p>r: the Wilcoxon of r; aa: the composition-adjusted test; overlay: the seed's overlay. "
            "A head that only tracks residue identity is significant under r and overlay whenever the "
            "annotation differs in composition (transmembrane: hydrophobic), in any model; aa asks for "
            "more relevance than the same amino acids get elsewhere (not defined for the residue-defined "
            "controls hydrophobic and positive, which count 0 here).</p>"
            + table.to_html(index=False, float_format="%.3g", na_rep="n/a")
        )

    index = out / "index.html"
    index.write_text(_page(run_id, layers, heads, sections))
    return index


def control_comparison(
    con: duckdb.DuckDBPyConnection, run_id: str, control_run: str, annotations: list[str]
) -> pd.DataFrame:
    """Per annotation and significance definition: significant heads of the run and of the control, and
    the Jaccard similarity of the two sets (n/a when both are empty)."""
    rows = []
    for annotation_name in annotations:
        for test in data.HEAD_TESTS:
            ours = analyses.significant_heads(con, run_id, annotation_name, test)
            control = analyses.significant_heads(con, control_run, annotation_name, test)
            rows.append(
                {
                    "annotation": annotation_name,
                    "test": test,
                    "significant_heads": len(ours),
                    "control_significant_heads": len(control),
                    "jaccard": analyses.jaccard(ours, control),
                }
            )
    return pd.DataFrame(rows)


def _best_annotation(con, run_id: str, top: pd.DataFrame) -> str | None:
    """The stored feature type (controls have no spans to draw) with the most significant heads."""
    stored = {
        row[0]
        for row in con.execute(
            """SELECT DISTINCT feature_type FROM annotations
           WHERE release = (SELECT release FROM runs WHERE run_id = $r)""",
            {"r": run_id},
        ).fetchall()
    }
    ranked = [a for a in top["annotation"].value_counts().index if a in stored] if not top.empty else []
    if ranked:
        return str(ranked[0])
    tested = con.execute(
        "SELECT DISTINCT annotation FROM head_enrichment WHERE run_id = $r AND testable ORDER BY 1",
        {"r": run_id},
    ).fetchall()
    return next((a for (a,) in tested if a in stored), None)


def _track_heads(con, run_id: str, annotation: str, limit: int = 3) -> list[tuple[int, int]]:
    """The heads most enriched for ``annotation`` (lowest p_adj over classes)."""
    rows = con.execute(
        """SELECT layer, head FROM head_enrichment
           WHERE run_id = $r AND annotation = $a AND testable
           GROUP BY layer, head ORDER BY min(p_adj), min(p), layer, head LIMIT $k""",
        {"r": run_id, "a": annotation, "k": limit},
    ).fetchall()
    return [(int(layer), int(head)) for layer, head in rows]


def _faithfulness(con, run_id: str, adapter, limit: int) -> pd.DataFrame:
    rows = con.execute(
        """SELECT p.accession, pr.sequence, p.target_index FROM predictions p
           JOIN runs r ON r.run_id = p.run_id
           JOIN proteins pr ON pr.release = r.release AND pr.accession = p.accession
           WHERE p.run_id = $run_id AND pr.length BETWEEN 16 AND $max_len
           ORDER BY p.accession LIMIT $limit""",
        {"run_id": run_id, "limit": limit, "max_len": adapter.max_residues},
    ).fetchall()
    proteins = []
    for accession, sequence, target in rows:
        relevance = con.execute(
            "SELECT relevance FROM residues WHERE run_id = $r AND accession = $a ORDER BY position",
            {"r": run_id, "a": accession},
        ).fetchnumpy()["relevance"]
        proteins.append(analyses.FlipProtein(accession, sequence, int(target), relevance))
    return analyses.alanine_flip_curve(adapter, proteins)


ACCURACY_NOTE = (
    "Estimated relative error of each protein's head relevance (max over layers of ‖error‖/‖C_l‖, "
    "from the adaptive integration's embedded estimate, validated as conservative against a dense "
    "reference) and the path points it took. Proteins above the run's tolerance are left out of the "
    "statistics by default (`protxai stats --include-unconverged` keeps them)."
)


def _accuracy_section(con, run_id: str, out: Path) -> str:
    """The head-error distribution and node counts of the run (read from ``predictions``)."""
    accuracy = data.integration_accuracy(con, run_id)
    if accuracy.tolerance is None or accuracy.errors.size == 0:
        return (
            "<h2>Integration accuracy</h2><p class='warn'>This run used a fixed number of quadrature steps "
            f"({html.escape(str(accuracy.steps))}); its head-relevance error is not estimated. Trained models "
            "have rough integration paths (the shipped membrane model: 81 % head error at 32 steps): re-run "
            "with <code>--steps auto</code> before trusting head-level results.</p>"
        )
    figures.error_histogram(accuracy, out / "head_error.png")
    above = int((accuracy.errors > accuracy.tolerance).sum())
    summary = (
        f"<p>{accuracy.errors.size} proteins; tolerance {accuracy.tolerance:g}; median head error "
        f"{np.median(accuracy.errors):.2g} (max {accuracy.errors.max():.2g}); path points per protein: median "
        f"{int(np.median(accuracy.nodes))}, max {int(accuracy.nodes.max())}; "
        f"<b>{above}</b> above tolerance{' (left out of the statistics)' if above else ''}.</p>"
    )
    return f"<h2>Integration accuracy</h2><p>{ACCURACY_NOTE}</p>{summary}<img src='head_error.png'>"


def _page(run_id: str, layers: int, heads: int, sections: list[str]) -> str:
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "figure{display:inline-block;margin:6px;vertical-align:top}"
        "img{max-width:520px}table{border-collapse:collapse;font-size:12px;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>protxai run {html.escape(run_id)}"
        f"</title><style>{style}</style></head><body><h1>protxai report: run {html.escape(run_id)}</h1>"
        f"<p>Model: {layers} layers × {heads} heads.</p>" + "\n".join(sections) + "</body></html>"
    )
