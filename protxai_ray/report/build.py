"""Assemble a run's report from the store's tables: ``index.html`` plus its figures.

The page answers "what did the run find?" first: the run (model, release, integration settings,
proteins, convergence), a table of contents, the significant heads per annotation × class with their
effect sizes, the control-run comparison, attribution vs the run's attention baseline (``attention_run``,
``protxai_ray.report.attention``), faithfulness (when ``protxai analyze`` wrote it), and only then the
integration accuracy and the figures. Nothing here runs a model: the report reads tables only.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from protxai_ray.errors import RunError
from protxai_ray.report import analyses, data, figures
from protxai_ray.report.attention import AttentionComparison, attention_comparison, check_attention_run
from protxai_ray.store.manifest import RunManifest

TEST_SECTIONS = {
    "aa": "Composition-adjusted head enrichment (−ln aa_p_adj): relevance of annotated residues vs the same "
    "amino acids elsewhere in the protein (partial r given the amino acid, Wilcoxon > 0, BH)",
    "overlay": "Seed overlay (−ln t_p_adj): t-test of r > 0 significant and the head's summed relevance "
    "significantly positive over the annotated proteins (both BH)",
}
PER_CELL = 10  # significant heads listed per class × annotation (all of them are in the heatmaps)
TRACK_HEADS = 3  # heads drawn under each relevance track


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _e(value) -> str:
    return html.escape(str(value))


def _p(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.2g}"


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table from already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def heatmap_anchor(cls: str, annotation: str, test: str = "r") -> str:
    prefix = "heatmap" if test == "r" else f"heatmap-{test}"
    return f"{prefix}-{_slug(cls)}-{_slug(annotation)}"


def tracks_anchor(annotation: str) -> str:
    return f"tracks-{_slug(annotation)}"


def build_report(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    out_dir: str | Path,
    *,
    store=None,
    annotations: list[str] | None = None,
    control_run: str | None = None,
    attention_run: str | None = None,
    track_annotation: str | None = None,
    n_tracks: int = 4,
    progress: bool = False,
) -> Path:
    """Write ``index.html`` and its figures for ``run_id`` into ``out_dir``; returns the page's path.

    ``store`` (a ``Store`` or URI; optional) supplies the run manifest's model name and type for the
    header. ``annotations``: the annotation types shown (default ``data.DEFAULT_ANNOTATIONS`` present in
    the stats). ``attention_run``: the attention pseudo-run of ``run_id`` (``protxai analyze
    --attention-run``, with ``protxai stats`` done), compared per head in section "Attribution vs
    attention"; it needs ``store`` (its manifest names the source run). ``track_annotation``: draw relevance
    tracks for this type only (default: every shown type with listed heads). ``progress``: a step bar with
    elapsed time on stderr. Raises RunError for an unknown run, a run without statistics, or an
    ``attention_run`` that is missing, made from another run or without stats (``check_attention_run``).
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not con.execute("SELECT count(*) FROM runs WHERE run_id = $r", {"r": run_id}).fetchone()[0]:
        raise RunError(f"run {run_id!r} not found in the store")
    layers, heads = data.model_shape(con, run_id)
    shown = data.report_annotations(con, run_id, annotations)
    maps = [m for m in data.head_maps(con, run_id, layers, heads) if m.annotation in shown]
    if not maps:
        raise RunError(f"run {run_id!r} has no statistics; run `protxai stats --run {run_id}` first")
    attention_manifest = None
    if attention_run:
        if store is None:
            raise ValueError("attention_run needs store= (the attention run's manifest names its source run)")
        attention_manifest = check_attention_run(con, store, run_id, attention_run, shown)
    bar = tqdm(total=7, desc=f"report {run_id}", unit="step", disable=not progress, dynamic_ncols=True)

    def step(label: str) -> None:
        bar.set_postfix_str(label, refresh=False)
        bar.update(1)

    info = data.run_info(con, run_id, layers, heads, _manifest(store, run_id))
    found = data.findings(con, run_id, shown)
    flips = data.faithfulness(con, run_id)
    step("tables read")

    tracks_html, drawn = _tracks_section(con, run_id, found, shown, track_annotation, n_tracks, out)
    step("relevance tracks")
    sections: list[tuple[str, str, str, str]] = []  # (anchor, contents label, heading, body)
    sections.append(
        (
            "findings",
            "Significant heads",
            "Significant heads",
            _findings_body(con, run_id, found, drawn, control_run),
        )
    )
    if control_run:
        sections.append(
            (
                "control",
                "Control run",
                f"Control run {_e(control_run)}",
                _control_body(con, run_id, control_run, shown),
            )
        )
    compared = None
    if attention_manifest is not None:
        measure = (attention_manifest.method or {}).get("measure")
        compared = attention_comparison(con, run_id, attention_run, shown, measure)
        sections.append(
            ("attention", "Attribution vs attention", "Attribution vs attention", _attention_body(compared))
        )
    sections.append(("faithfulness", "Faithfulness", "Faithfulness", _faithfulness_body(flips, run_id, out)))
    sections.append(
        ("accuracy", "Integration accuracy", "Integration accuracy", _accuracy_body(con, run_id, out))
    )
    step("findings, faithfulness, accuracy")
    sections += _heatmap_sections(con, run_id, layers, heads, maps, shown, out)
    step("heatmaps")
    embedding = data.embedding_results(con, run_id)
    embedding = embedding[embedding["annotation"].isin(shown)]
    if not embedding.empty:
        figures.embedding_bars(embedding, out / "embedding_enrichment.png")
        sections.append(
            (
                "embedding",
                "Embedding level",
                "Embedding level",
                '<img src="embedding_enrichment.png" alt="embedding-level enrichment">'
                + embedding.to_html(index=False, float_format="%.3g"),
            )
        )
    if tracks_html:
        sections.append(("tracks", "Relevance tracks", "Relevance tracks", tracks_html))
    step("embedding level")
    accessions, classes, profiles = data.head_profiles(con, run_id)
    if len(accessions) >= 3 and profiles.shape[1] >= 2:
        coords, explained = analyses.profile_pca(profiles)
        figures.pca_scatter(coords, classes, explained, out / "pca_head_profiles.png")
        sections.append(
            ("pca", "PCA", "PCA of head-relevance profiles", '<img src="pca_head_profiles.png" alt="PCA">')
        )

    step("PCA")
    index = out / "index.html"
    index.write_text(_page(info, flips, control_run, shown, sections, compared))
    step("index.html")
    bar.close()
    return index


def _manifest(store, run_id: str) -> RunManifest | None:
    if store is None:
        return None
    from protxai_ray.store.fs import open_store
    from protxai_ray.store.runs import read_run_manifest

    return read_run_manifest(open_store(store), run_id)


# ---- sections ------------------------------------------------------------------------------------


def _findings_body(con, run_id: str, found: data.Findings, drawn: dict, control_run: str | None) -> str:
    control: set[tuple[str, str, int, int]] = set()
    if control_run:
        control = {
            (str(c), str(a), int(layer), int(head))
            for c, a, layer, head in con.execute(
                "SELECT class, annotation, layer, head FROM head_enrichment WHERE run_id = $r AND significant",
                {"r": control_run},
            ).fetchall()
        }
    headers = ["annotation", "class", "head", "n", "median r", "median RRA", "p_adj", "aa p_adj", "overlay"]
    headers += ["in control"] if control_run else []
    headers.append("figures")
    rows = []
    for (annotation, cls), cell in found.heads.groupby(["annotation", "class"], sort=False):
        for row in cell.head(PER_CELL).itertuples(index=False):
            layer, head = int(row.layer), int(row.head)
            label = f"L{layer} H{head}"
            heat = f"<a href='#{heatmap_anchor(cls, annotation)}'>heatmap</a>"
            in_tracks = (layer, head) in drawn.get(annotation, ())
            head_cell = (
                f"<a href='#{tracks_anchor(annotation)}'>{label}</a>"
                if in_tracks
                else f"<a href='#{heatmap_anchor(cls, annotation)}'>{label}</a>"
            )
            links = heat + (f" · <a href='#{tracks_anchor(annotation)}'>tracks</a>" if in_tracks else "")
            cells = [
                _e(annotation),
                _e(cls),
                head_cell,
                str(int(row.n)),
                f"{row.median_r:.3f}",
                "n/a" if pd.isna(row.median_rra) else f"{row.median_rra:.3f}",
                _p(row.p_adj),
                _p(row.aa_p_adj) + (" ✓" if row.aa_significant else ""),
                "✓" if row.overlay else "–",
            ]
            if control_run:
                cells.append("yes" if (cls, annotation, layer, head) in control else "no")
            rows.append(cells + [links])
        if len(cell) > PER_CELL:
            more = f"… {len(cell) - PER_CELL} more significant heads in the heatmap"
            rows.append(
                [_e(annotation), _e(cls), f"<a href='#{heatmap_anchor(cls, annotation)}'>{more}</a>"]
                + [""] * (len(headers) - 3)
            )
    caption = (
        "<p class='note'>Wilcoxon of r &gt; 0, BH per class × annotation, p_adj &lt; 0.05; listed with median r "
        f"&gt; 0 and n ≥ {data.MIN_N}; best first. Each head links to its relevance tracks or heatmap.</p>"
    )
    intro = (
        "<p class='note'>Heads whose relevance is enriched in the annotated residues: Wilcoxon signed-rank of "
        "the per-protein correlation r &gt; 0, BH-adjusted per class × annotation, p_adj &lt; 0.05; sorted by "
        f"p_adj within each cell. Listed only with median r &gt; 0 and n ≥ {data.MIN_N} annotated proteins. "
        "Effect sizes: median r and median RRA (relevance rank accuracy) over the class's proteins. "
        "aa p_adj: the composition-adjusted test (✓ significant); overlay: the seed's definition.</p>"
    )
    table = (
        _table(headers, rows, "findings")
        if rows
        else "<p><b>No head is significantly enriched</b> in the shown annotations.</p>"
    )
    left_out = []
    if found.not_positive:
        left_out.append(f"{found.not_positive} significant head(s) with median r ≤ 0 (not enrichment)")
    if found.small_n:
        left_out.append(f"{found.small_n} significant head(s) of cells with n < {data.MIN_N}")
    omitted = f"<p class='note'>Not listed: {'; '.join(left_out)}.</p>" if left_out else ""
    cell_rows = [
        [
            _e(c.annotation),
            _e(c["class"]),
            str(int(c.n)),
            str(int(c.tested)),
            str(int(c.r)),
            str(int(c.aa)),
            str(int(c.overlay)),
            _e(c.status),
        ]
        for _, c in found.cells.iterrows()
    ]
    cells_table = (
        "<details><summary>Cells tested (class × annotation)</summary>"
        + _table(
            ["annotation", "class", "n", "heads tested", "significant r", "aa", "overlay", "status"],
            cell_rows,
        )
        + "</details>"
    )
    return caption + table + intro + omitted + cells_table


def _control_body(con, run_id: str, control_run: str, shown: list[str]) -> str:
    table = control_comparison(con, run_id, control_run, shown)
    effects = data.effect_sizes(con, run_id, control_run, shown)
    if effects is None:
        paired = (
            "<p class='hint'>Paired effect sizes not computed: run <code>protxai stats --store S --run "
            f"{_e(run_id)} --control-run {_e(control_run)}</code>, then the report again.</p>"
        )
    else:
        paired = (
            "<p class='note'>Paired per-protein difference of r (run − control) per head: mean Δr and its 95 % "
            "percentile bootstrap interval over proteins (<code>head_comparison</code>); heads whose interval "
            "lies above 0 first (<code>above_zero</code> counts them per row's class × annotation), at most 10 "
            "per cell. This, not the counts below, is the comparison of the two models.</p>"
            + effects.to_html(index=False, float_format="%.3g", na_rep="n/a")
        )
    return paired + (
        "<p class='note'>Significant heads per annotation in the run and in the control, and the Jaccard "
        "similarity of the two sets. r: the Wilcoxon of r; aa: the composition-adjusted test; overlay: the "
        "seed's overlay. A head that only tracks residue identity is significant under r and overlay whenever "
        "the annotation differs in composition (transmembrane: hydrophobic), in any model; aa asks for more "
        "relevance than the same amino acids get elsewhere (not defined for the residue-defined controls "
        "hydrophobic and positive, which count 0 here).</p>"
        + table.to_html(index=False, float_format="%.3g", na_rep="n/a")
    )


def _r(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.3f}"


def _difference(mean, low, high) -> str:
    if pd.isna(mean):
        return "n/a"
    return f"{mean:.3f}" if pd.isna(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _attention_body(compared: AttentionComparison) -> str:
    """Per class × annotation: significant heads in each run, the Spearman ρ of mean r across heads and
    the heads whose paired Δr interval excludes 0; then, per cell, every head side by side."""
    measure = f" (measure <code>{_e(compared.measure)}</code>)" if compared.measure else ""
    intro = (
        f"<p class='note'>The attention baseline <code>{_e(compared.attention_run)}</code>{measure}: the "
        "attention each token receives, per layer and head, of this run's proteins (<code>protxai analyze "
        "--attention-run</code>), tested by the same statistics. Per class × annotation: heads significant in "
        "each run (Wilcoxon of r &gt; 0, BH, each run's own <code>head_enrichment</code>) and in both; the "
        "Spearman rank correlation across heads of the two runs' mean r (<code>scipy.stats.spearmanr</code>); "
        "heads whose paired per-protein Δr = r(attribution) − r(attention) has a 95 % percentile bootstrap "
        "interval above or below 0 (<code>compare_runs</code>: the <code>head_comparison</code> that "
        f"<code>protxai stats --run {_e(compared.run_id)} --control-run {_e(compared.attention_run)}</code> "
        "writes; computed here, not written). Mean r is over the n proteins paired in both runs (same "
        "sequence, r defined in both; proteins left out of the run's stats as unconverged are not "
        "paired).</p>"
    )
    rows = [
        [
            _e(c.annotation),
            _e(c["class"]),
            str(int(c.n)),
            str(int(c.heads)),
            str(int(c.significant)),
            str(int(c.attention_significant)),
            str(int(c.both)),
            "n/a" if pd.isna(c.spearman_rho) else f"{c.spearman_rho:.2f} (p {_p(c.spearman_p)})",
            str(int(c.above_zero)),
            str(int(c.below_zero)),
            _e(c.status),
        ]
        for _, c in compared.cells.iterrows()
    ]
    summary = _table(
        [
            "annotation",
            "class",
            "n",
            "heads",
            "significant: attribution",
            "significant: attention",
            "both",
            "Spearman ρ of mean r",
            "Δr above 0",
            "Δr below 0",
            "status",
        ],
        rows,
        "attention",
    )
    details = []
    for (cls, annotation), cell in compared.heads.groupby(["class", "annotation"], sort=False):
        head_rows = [
            [
                f"L{int(h.layer)} H{int(h.head)}",
                str(int(h.n)),
                _r(h.mean_r),
                _r(h.attention_mean_r),
                _difference(h.mean_difference, h.ci_low, h.ci_high),
                "✓" if h.significant else "–",
                "✓" if h.attention_significant else "–",
            ]
            for h in cell.itertuples(index=False)
        ]
        details.append(
            f"<details><summary>{_e(annotation)} · {_e(cls)}: every head, largest Δr first</summary>"
            + _table(
                [
                    "head",
                    "n",
                    "mean r: attribution",
                    "mean r: attention",
                    "Δr [95 % CI]",
                    "significant: attribution",
                    "significant: attention",
                ],
                head_rows,
            )
            + "</details>"
        )
    return summary + intro + "".join(details)


def attention_headline(compared: AttentionComparison | None) -> str:
    """One line for the header: heads whose paired Δr (attribution − attention) interval excludes 0."""
    if compared is None:
        return "none"
    shown = compared.cells[compared.cells["status"] == "shown"]
    return (
        f"{_e(compared.attention_run)}: {int(shown.above_zero.sum())} head(s) with Δr reliably above 0, "
        f"{int(shown.below_zero.sum())} below, of {int(shown.heads.sum())} in cells with n ≥ {data.MIN_N} "
        "(<a href='#attention'>per head</a>)"
    )


def faithfulness_hint(run_id: str) -> str:
    return (
        "<p class='hint'>Faithfulness not computed for this run: run <code>protxai analyze --store S --run "
        f"{_e(run_id)}</code> (it needs the run's model), then the report again.</p>"
    )


def _faithfulness_body(flips: pd.DataFrame | None, run_id: str, out: Path) -> str:
    if flips is None:
        return faithfulness_hint(run_id)
    figures.faithfulness_curve(flips, out / "faithfulness.png")
    flips.to_csv(out / "faithfulness.csv", index=False)
    first = flips.iloc[0]
    method = (
        "<p class='note'>Target-logit drop (original − variant) when the n residues of highest embedding-level "
        "relevance are replaced, against n residues drawn at random, each replaced the same way: by an "
        f"amino acid drawn from the protein's own composition (never the residue itself), {int(first.draws)} "
        "draws per protein, n and kind. Means and 95 % t intervals across proteins; top − random is paired "
        "per protein. Written by <code>protxai analyze</code> (table <code>faithfulness</code>, per variant "
        "<code>faithfulness_drops</code>).</p>"
    )
    rows = [
        [
            str(int(r.n)),
            str(int(r.proteins)),
            _interval(r.top_mean, r.top_ci_low, r.top_ci_high),
            _interval(r.random_mean, r.random_ci_low, r.random_ci_high),
            _interval(r.diff_mean, r.diff_ci_low, r.diff_ci_high),
        ]
        for r in flips.itertuples(index=False)
    ]
    return (
        method
        + '<img src="faithfulness.png" alt="faithfulness curve" class="wide">'
        + _table(["n", "proteins", "top-n drop", "random drop", "top − random"], rows)
    )


def _interval(mean, low, high) -> str:
    if pd.isna(low):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def faithfulness_headline(flips: pd.DataFrame | None) -> str:
    """One line for the header: the paired top − random drop at the largest n most proteins reach."""
    if flips is None:
        return "not computed (run <code>protxai analyze</code>)"
    most = flips[flips["proteins"] == flips["proteins"].max()].iloc[-1]
    return (
        f"top-{int(most.n)} residues drop the target logit by "
        f"{_interval(most.diff_mean, most.diff_ci_low, most.diff_ci_high)} more than {int(most.n)} random ones "
        f"({int(most.proteins)} proteins; <a href='#faithfulness'>curve</a>)"
    )


ACCURACY_NOTE = (
    "Estimated relative error of each protein's head relevance (max over layers of ‖error‖/‖C_l‖, "
    "from the adaptive integration's embedded estimate, validated as conservative against a dense "
    "reference) and the path points it took. Proteins above the run's tolerance are left out of the "
    "statistics by default (`protxai stats --include-unconverged` keeps them)."
)


def _accuracy_body(con, run_id: str, out: Path) -> str:
    """The head-error distribution and node counts of the run (read from ``predictions``)."""
    accuracy = data.integration_accuracy(con, run_id)
    if accuracy.tolerance is None or accuracy.errors.size == 0:
        return (
            "<p class='warn'>This run used a fixed number of quadrature steps "
            f"({_e(accuracy.steps)}); its head-relevance error is not estimated. Trained models "
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
    return f"<p class='note'>{ACCURACY_NOTE}</p>{summary}<img src='head_error.png' alt='head error'>"


def _heatmap_sections(con, run_id, layers, heads, maps, shown, out) -> list[tuple[str, str, str, str]]:
    finite = [m.neg_log_p[m.significant] for m in maps if m.significant.any()]
    vmax = float(max((v.max() for v in finite), default=-np.log(0.05)))
    sections = []
    for test, label, title in (
        ("r", "Heatmaps", "Head-level enrichment (−ln p_adj, Wilcoxon r &gt; 0, BH)"),
        ("aa", "composition-adjusted", _e(TEST_SECTIONS["aa"])),
        ("overlay", "seed overlay", _e(TEST_SECTIONS["overlay"])),
    ):
        items, skipped = [], []
        test_maps = maps if test == "r" else data.head_maps(con, run_id, layers, heads, test=test)
        for head_map in (m for m in test_maps if m.annotation in shown):
            if head_map.n < data.MIN_N:
                skipped.append(f"{_e(head_map.cls)} · {_e(head_map.annotation)} (n = {head_map.n})")
                continue
            prefix = "heatmap" if test == "r" else f"heatmap_{test}"
            name = f"{prefix}_{_slug(head_map.cls)}_{_slug(head_map.annotation)}.png"
            figures.head_heatmap(head_map, vmax, out / name)
            items.append(
                f"<figure id='{heatmap_anchor(head_map.cls, head_map.annotation, test)}'><img src='{name}' "
                f"alt='{_e(head_map.cls)} {_e(head_map.annotation)}'><figcaption>{_e(head_map.cls)} · "
                f"{_e(head_map.annotation)}: {int(head_map.significant.sum())} significant</figcaption></figure>"
            )
        if skipped:
            items.append(f"<p class='note'>Not drawn (n &lt; {data.MIN_N}): {', '.join(skipped)}.</p>")
        if items:
            sections.append((f"heatmaps-{test}", label, title, "".join(items)))
    return sections


def _tracks_section(con, run_id, found, shown, track_annotation, n_tracks, out) -> tuple[str, dict]:
    """Relevance tracks per annotation (its best listed heads under each protein); returns the HTML and
    the heads drawn per annotation (the findings table links those to the tracks)."""
    stored = {
        row[0]
        for row in con.execute(
            """SELECT DISTINCT feature_type FROM annotations
               WHERE release = (SELECT release FROM runs WHERE run_id = $r)""",
            {"r": run_id},
        ).fetchall()
    }
    if track_annotation:
        wanted = [track_annotation]
    else:
        wanted = [a for a in shown if a in stored and a in set(found.heads["annotation"])]
        if not wanted:  # no listed heads: the best tested annotation with spans, as before
            wanted = [a for a in shown if a in stored][:1]
    parts, drawn = [], {}
    for annotation in wanted:
        listed = found.heads[found.heads["annotation"] == annotation].sort_values(["p_adj", "layer", "head"])
        head_list = list(
            dict.fromkeys(zip(listed["layer"].astype(int), listed["head"].astype(int), strict=True))
        )
        head_list = head_list[:TRACK_HEADS] or _track_heads(con, run_id, annotation)
        items = []
        for accession in data.track_proteins(con, run_id, annotation, n_tracks):
            track = data.protein_track(con, run_id, accession, head_list)
            name = f"track_{_slug(annotation)}_{_slug(accession)}.png"
            figures.relevance_track(track, out / name)
            items.append(f"<figure><img src='{name}' alt='{_e(accession)}' class='track'></figure>")
        if items:
            drawn[annotation] = set(head_list)
            heads_text = ", ".join(f"L{layer} H{head}" for layer, head in head_list)
            parts.append(
                f"<h3 id='{tracks_anchor(annotation)}'>{_e(annotation)} (heads {heads_text})</h3>"
                + "".join(items)
            )
    return "".join(parts), drawn


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


def _track_heads(con, run_id: str, annotation: str, limit: int = TRACK_HEADS) -> list[tuple[int, int]]:
    """The heads most enriched for ``annotation`` (lowest p_adj over classes)."""
    rows = con.execute(
        """SELECT layer, head FROM head_enrichment
           WHERE run_id = $r AND annotation = $a AND testable
           GROUP BY layer, head ORDER BY min(p_adj), min(p), layer, head LIMIT $k""",
        {"r": run_id, "a": annotation, "k": limit},
    ).fetchall()
    return [(int(layer), int(head)) for layer, head in rows]


# ---- page ----------------------------------------------------------------------------------------

STYLE = (
    "body{font-family:sans-serif;max-width:1240px;margin:1em auto;color:#222;font-size:14px}"
    "h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:22px 0 6px;border-bottom:1px solid #ddd}"
    "h3{font-size:15px}figure{display:inline-block;margin:6px;vertical-align:top}"
    "img{max-width:520px}img.track{max-width:100%}img.wide{max-width:900px}"
    "table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ccc;padding:2px 6px}"
    "th{background:#f3f3f3}table.meta td:first-child{font-weight:bold;background:#f7f7f7}"
    "table.meta{width:100%}nav{margin:8px 0;font-size:13px}nav a{margin-right:12px}"
    ".note{color:#555;font-size:12px}.warn{color:#a33}.hint{background:#fff6d5;padding:4px 8px}"
    ".ok{color:#1b7f3b}"
)


def _meta_rows(
    info: data.RunInfo,
    flips,
    control_run: str | None,
    shown: list[str],
    compared: AttentionComparison | None = None,
) -> list[list[str]]:
    if info.steps == "auto" and info.tolerance is not None:
        integration = f"steps=auto, head-error tolerance {info.tolerance:g}"
    else:
        integration = f"{_e(info.steps) if info.steps else 'unrecorded'} fixed steps (error not estimated)"
    if info.within_tolerance is None:
        convergence = "<span class='warn'>not estimated (fixed steps)</span>"
    elif info.within_tolerance == info.proteins:
        convergence = (
            f"<span class='ok'>{info.within_tolerance}/{info.proteins} proteins within tolerance</span>"
        )
    else:
        convergence = (
            f"<span class='warn'>{info.proteins - info.within_tolerance} of {info.proteins} proteins above "
            "tolerance (left out of the stats)</span>"
        )
    classes = ", ".join(f"{_e(c)} {k}" for c, k in info.classes)
    sha = f" · sha256 {_e(info.model_sha256[:12])}" if info.model_sha256 else ""
    attention = [["attention run", attention_headline(compared), "", ""]] if compared is not None else []
    return [
        ["model", f"{_e(info.model)}{sha}", "release", f"{_e(info.release)} (target {_e(info.target)})"],
        [
            "integration",
            f"{integration} ({_e(info.method)})",
            "convergence",
            convergence + " · <a href='#accuracy'>accuracy</a>",
        ],
        [
            "proteins",
            f"{info.proteins} ({classes})",
            "control run",
            _e(control_run) if control_run else "none",
        ],
        ["annotations", _e(", ".join(shown)), "faithfulness", faithfulness_headline(flips)],
        *attention,
    ]


def _page(
    info: data.RunInfo,
    flips,
    control_run,
    shown,
    sections: list[tuple[str, str, str, str]],
    compared: AttentionComparison | None = None,
) -> str:
    meta = _table([], _meta_rows(info, flips, control_run, shown, compared), "meta").replace(
        "<thead><tr></tr></thead>", ""
    )
    toc = "<nav>Contents: " + "".join(f"<a href='#{a}'>{t}</a>" for a, t, _, _ in sections) + "</nav>"
    body = "\n".join(f"<h2 id='{a}'>{h}</h2>{b}" for a, _, h, b in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>protxai run {_e(info.run_id)}</title>"
        f"<style>{STYLE}</style></head><body><h1>protxai report: run {_e(info.run_id)}</h1>"
        f"{meta}{toc}{body}</body></html>"
    )
