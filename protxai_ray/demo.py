"""`protxai demo`: the whole pipeline on shipped real data with the shipped demo models.

ingest the held-out TMbed fold → attribute a balanced subset with the trained membrane model and with its
shuffled-label control (2 local Ray actors each) → DuckDB statistics → analyze (faithfulness, and the
attention baseline: the attention each token receives as the pseudo-run ``<trained run>-attention`` with
its statistics; both run the trained model) → report (drawn from the store's tables, with the control and
attribution-vs-attention comparisons). Run ids are fixed per (release, model, selection), so a second
`protxai demo` on the same store resumes instead of recomputing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from protxai_ray.errors import ProtxaiError

PACKAGE_ROOT = Path(__file__).resolve().parent
DEMO_MODELS = PACKAGE_ROOT / "demo_models"
DEMO_DATA = PACKAGE_ROOT / "demo_data"  # shipped inputs (provenance and licences: demo_data/README.md)
DEMO_RELEASE = "tmbed_cv4"
HELDOUT_FOLD_FILE = "tmbed/cv/cv_04_a.fasta.gz"
# Error-controlled integration (steps="auto", head error ≤ 1 % per protein, the engine's default): the
# trained model's path is rough (flat to α ≈ 0.4, narrow features after), so its proteins need ~600–1,000
# path points each, measured against a dense reference (benchmarks/accuracy.py); the shuffled-label
# control's path is smooth and needs few. Fixed step counts moved the head results (25 / 0 / 6 / 8
# significant TM heads at 16 / 32 / 128 / 256 steps) and are not used.
DEMO_TOLERANCE = 0.01
# The TM head test uses the membrane proteins; "other" is the contrast class. 30 + 10 proteins ≤ 250 aa
# keep `make demo` under 10 minutes on a 2-core CPU at the trained model's node counts.
DEMO_MEMBRANE, DEMO_OTHER, DEMO_MAX_LENGTH = 30, 10, 250
DEMO_ANNOTATIONS = ("transmembrane", "tm_hydrophobic", "hydrophobic", "positive", "signal")

SELECTION_SQL = """
SELECT p.accession,
       EXISTS (SELECT 1 FROM annotations a
               WHERE a.release = p.release AND a.accession = p.accession
                 AND a.feature_type = 'transmembrane') AS membrane
FROM proteins p
WHERE p.release = $release AND p.length BETWEEN $min_length AND $max_length
ORDER BY md5(p.accession)
"""

TOP_HEADS_SQL = """
SELECT e.layer, e.head, e.n, e.p_adj, median(s.r) AS median_r
FROM head_enrichment e
JOIN predictions p ON p.run_id = e.run_id AND p.target_name = e.class
JOIN protein_head_scores s ON s.run_id = e.run_id AND s.accession = p.accession
     AND s.annotation = e.annotation AND s.layer = e.layer AND s.head = e.head
WHERE e.run_id = $run_id AND e.annotation = 'transmembrane' AND e.class = $cls AND e.testable
GROUP BY e.layer, e.head, e.n, e.p_adj, e.p ORDER BY e.p_adj, e.p, e.layer, e.head LIMIT $limit
"""


@dataclass
class DemoResult:
    store: str
    report: Path
    runs: dict[str, str] = field(default_factory=dict)  # model name -> run id
    significant: dict[str, int] = field(default_factory=dict)  # model name -> significant TM heads (r)
    significant_aa: dict[str, int] = field(default_factory=dict)  # ... composition-adjusted test
    significant_overlay: dict[str, int] = field(default_factory=dict)  # ... the seed's overlay
    top_heads: list[tuple] = field(default_factory=list)
    embedding: dict[str, float | None] = field(default_factory=dict)  # model name -> embedding-level p_adj
    embedding_aa: dict[str, float | None] = field(default_factory=dict)  # ... composition-adjusted
    # trained vs control, transmembrane in GO:0016020, per head: (layer, head, n, mean Δr, CI low, CI high)
    comparison: list[tuple] = field(default_factory=list)
    attention_run: str | None = None  # the trained run's attention pseudo-run
    # attribution vs attention, transmembrane in GO:0016020: the report's cell (report.attention CELL_COLUMNS)
    attention: dict = field(default_factory=dict)


def select_proteins(con, release: str, membrane: int, other: int, max_length: int) -> list[str]:
    """A deterministic subset: ``membrane`` proteins with and ``other`` without a TM segment (md5 order)."""
    rows = con.execute(
        SELECTION_SQL, {"release": release, "min_length": 30, "max_length": max_length}
    ).fetchall()
    chosen = [a for a, is_membrane in rows if is_membrane][:membrane]
    chosen += [a for a, is_membrane in rows if not is_membrane][:other]
    return sorted(chosen)


def _run_id(name: str, model_dir: Path, accessions: list[str], settings: dict) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in sorted(model_dir.glob("*.safetensors")):
        digest.update(path.read_bytes())
    digest.update(",".join(accessions).encode())
    return f"demo-{name}-{digest.hexdigest()[:10]}"


def run_demo(
    store: str = "demo_store",
    report_dir: str | Path | None = None,
    membrane: int = DEMO_MEMBRANE,
    other: int = DEMO_OTHER,
    max_length: int = DEMO_MAX_LENGTH,
    steps: int | str = "auto",
    tolerance: float = DEMO_TOLERANCE,
    actors: int = 2,
    data_dir: Path = DEMO_DATA,
    log=print,
) -> DemoResult:
    from protxai_ray.attribution.settings import AttributionSettings
    from protxai_ray.pipeline import RunConfig, run_attribution
    from protxai_ray.report import build_report
    from protxai_ray.stats import compute_stats
    from protxai_ray.store.duck import connect, register_views
    from protxai_ray.store.fs import open_store
    from protxai_ray.store.releases import list_releases
    from protxai_ray.uniprot.arrow import write_entries
    from protxai_ray.uniprot.collect import collect_entries

    source = Path(data_dir) / HELDOUT_FOLD_FILE
    if not source.is_file():
        raise ProtxaiError(f"{source}: the demo's TMbed fold is missing (shipped in protxai_ray/demo_data)")
    models = {name: DEMO_MODELS / name for name in ("membrane", "membrane_shuffled")}
    for name, path in models.items():
        if not (path / "config.json").is_file():
            raise ProtxaiError(f"{path}: demo model {name!r} missing; train it with `protxai train-demo`")

    st = open_store(store)
    if DEMO_RELEASE not in list_releases(st):
        log(f"[1/4] ingest {source.name} (held-out TMbed fold) into {st.uri} as release {DEMO_RELEASE}")
        write_entries(st, DEMO_RELEASE, collect_entries([str(source)], progress=True), sources=[str(source)])
    else:
        log(f"[1/4] release {DEMO_RELEASE} already in {st.uri}")
    con = connect(st)
    accessions = select_proteins(con, DEMO_RELEASE, membrane, other, max_length)
    log(f"      {len(accessions)} proteins selected ({membrane} membrane + {other} other, ≤ {max_length} aa)")

    result = DemoResult(store=st.uri, report=Path())
    settings = AttributionSettings(steps=steps, tolerance=tolerance)
    how = (
        f"head error ≤ {tolerance:g} per protein (steps=auto)"
        if settings.adaptive
        else f"{steps} fixed Gauss–Legendre steps"
    )
    for step, (name, model_dir) in enumerate(models.items(), start=2):
        run_id = _run_id(name, model_dir, accessions, settings.as_dict())
        log(f"[{step}/4] attribute with {name} model ({actors} Ray actors, {how}): run_id={run_id}")
        config = RunConfig(
            store=st.uri,
            release=DEMO_RELEASE,
            model=str(model_dir),
            target="label",
            steps=settings.steps,
            tolerance=settings.tolerance,
            actors=actors,
            run_id=run_id,
            accessions=tuple(accessions),
            shard_size=5,  # 8 shards of 40 proteins (sorted by length): balanced over 2 actors
        )
        summary = run_attribution(config)
        log(f"      {summary.proteins} proteins, {summary.failures} failures")
        for line in summary.accuracy_lines():
            log(f"      {line}")
        register_views(con, st)
        compute_stats(con, run_id, annotations=list(DEMO_ANNOTATIONS), store=st)
        result.runs[name] = run_id

    register_views(con, st)
    for name, run_id in result.runs.items():
        counts = con.execute(
            """SELECT count(*) FILTER (WHERE significant), count(*) FILTER (WHERE aa_significant),
                      count(*) FILTER (WHERE overlay)
               FROM head_enrichment WHERE run_id = $r AND annotation = 'transmembrane'
               AND class = 'GO:0016020'""",
            {"r": run_id},
        ).fetchone()
        result.significant[name], result.significant_aa[name], result.significant_overlay[name] = counts
        row = con.execute(
            """SELECT p_adj, aa_p_adj FROM residue_enrichment WHERE run_id = $r AND annotation = 'transmembrane'
               AND class = 'GO:0016020'""",
            {"r": run_id},
        ).fetchone()
        result.embedding[name], result.embedding_aa[name] = (None, None) if row is None else row
    trained = result.runs["membrane"]
    from protxai_ray.stats.compare import compare_runs

    compare_runs(con, trained, result.runs["membrane_shuffled"], ["transmembrane"], store=st)
    register_views(con, st)
    result.comparison = con.execute(
        """SELECT layer, head, n, mean_difference, ci_low, ci_high FROM head_comparison
           WHERE run_id = $r AND control_run_id = $c AND annotation = 'transmembrane' AND class = 'GO:0016020'
           ORDER BY mean_difference DESC NULLS LAST, layer, head""",
        {"r": trained, "c": result.runs["membrane_shuffled"]},
    ).fetchall()
    result.top_heads = con.execute(
        TOP_HEADS_SQL, {"run_id": trained, "cls": "GO:0016020", "limit": 10}
    ).fetchall()

    out = (
        Path(report_dir)
        if report_dir
        else (Path(st.base) / "report" if not st.is_s3 else Path("demo_report"))
    )
    log(f"[4/4] analyze (faithfulness: top-n vs random residues replaced, model {models['membrane'].name})")
    from protxai_ray.analyses.run import analyze_run
    from protxai_ray.report.data import faithfulness

    if faithfulness(con, trained) is None:  # deterministic (seeded): a resumed demo keeps the tables
        analysis = analyze_run(st, trained, models["membrane"], log=lambda line: log(f"      {line}"))
        for note in analysis.notes:
            log(f"      note: {note}")
        register_views(con, st)
    else:
        log("      faithfulness tables already in the store")
    result.attention_run = _attention_baseline(con, st, trained, models["membrane"], log)
    log(f"      report → {out}")
    result.report = build_report(
        con,
        trained,
        out,
        store=st,
        annotations=list(DEMO_ANNOTATIONS),
        control_run=result.runs["membrane_shuffled"],
        attention_run=result.attention_run,
        track_annotation="transmembrane",
    )
    from protxai_ray.report.attention import attention_comparison

    cells = attention_comparison(con, trained, result.attention_run, ["transmembrane"]).cells
    membrane = cells[cells["class"] == "GO:0016020"]
    result.attention = membrane.iloc[0].to_dict() if not membrane.empty else {}
    return result


def _attention_baseline(con, st, trained: str, model_dir: Path, log) -> str:
    """The attention pseudo-run of ``trained`` (attention received per token) with its stats on the demo's
    annotations, made unless the store already has its stats; returns its run id."""
    from protxai_ray.analyses.attention import attention_run
    from protxai_ray.stats import compute_stats
    from protxai_ray.store.duck import register_views

    run_id = f"{trained}-attention"
    done = con.execute("SELECT count(*) FROM head_enrichment WHERE run_id = $r", {"r": run_id}).fetchone()[0]
    if done:
        log(f"      attention baseline {run_id} and its stats already in the store")
        return run_id
    log(f"      attention baseline (attention each token receives, model {model_dir.name}): run_id={run_id}")
    attention_run(st, trained, run_id, model_dir, log=lambda line: log(f"      {line}"))
    register_views(con, st)
    compute_stats(con, run_id, annotations=list(DEMO_ANNOTATIONS), store=st)
    register_views(con, st)
    return run_id
