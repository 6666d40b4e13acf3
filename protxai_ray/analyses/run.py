"""``analyze_run``: the model-running analyses of one run, written as tables of the run.

Reads the run's proteins, predictions and residue relevance through the store views, loads the run's
model (the manifest's model directory, or ``model=``), and writes

- ``faithfulness_drops``: one row per scored variant (accession, n, kind, draw, drop);
- ``faithfulness``: per n, proteins, draws and mean drop with its t confidence interval for the top-n,
  the random control and their paired difference (``protxai_ray.analyses.summary``),

each to ``runs/run_id=ID/stats/<table>/part-0.parquet`` (replacing earlier files there), where
``protxai_ray.store.duck`` registers them as views like the stats tables. ``protxai stats`` does not touch
them, and ``protxai report`` draws them when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from protxai_ray.analyses.faithfulness import DRAWS, FLIP_COUNTS, FlipProtein, flip_drops
from protxai_ray.analyses.summary import CONFIDENCE, summarize_drops
from protxai_ray.errors import RunError
from protxai_ray.store.manifest import ModelRecord, RunManifest
from protxai_ray.store.schemas import ANALYSIS_TABLES

REPLACEMENT = "composition"  # how both kinds replace a chosen residue (see faithfulness.py)
MIN_LENGTH = 16

PROTEINS_SQL = """
SELECT p.accession, pr.sequence, p.target_index, p.logit
FROM predictions p
JOIN runs r ON r.run_id = p.run_id
JOIN proteins pr ON pr.release = r.release AND pr.accession = p.accession AND pr.crc64 = p.crc64
WHERE p.run_id = $run_id AND pr.length BETWEEN $min_length AND $max_length
ORDER BY md5(p.accession), p.accession
"""


@dataclass
class AnalyzeSummary:
    run_id: str
    model: str
    proteins: list[str]
    faithfulness: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


def _manifest(store, run_id: str) -> RunManifest:
    from protxai_ray.store.runs import read_run_manifest

    manifest = read_run_manifest(store, run_id)
    if manifest is None:
        raise RunError(f"run {run_id!r} not found in {store.uri}")
    return manifest


def load_run_model(store, run_id: str, model: str | Path | None, device: str) -> tuple[Any, str, list[str]]:
    """The model of ``run_id`` (``model`` overrides the manifest's path): (adapter, its path, notes). A note
    says when the weights differ from the run's (the analysis then describes this model, not the run's)."""
    from protxai_ray.models import load_model

    recorded = _manifest(store, run_id).model or ModelRecord()
    model_path = str(model) if model else recorded.path
    if not model_path or not Path(model_path).is_dir():
        raise RunError(
            f"run {run_id!r}: its model directory {model_path!r} is not available here; pass --model DIR"
        )
    adapter = load_model(model_path, device=device)
    notes = []
    if recorded.sha256 and recorded.sha256 != adapter.weights_sha256:
        notes.append(
            f"the weights of {model_path} (sha256 {adapter.weights_sha256[:12]}) are not the run's model "
            f"(run {run_id}: sha256 {recorded.sha256[:12]}): the analysis describes this model"
        )
    return adapter, model_path, notes


def write_analysis_tables(store, run_id: str, tables: dict[str, pa.Table]) -> list[str]:
    """Write each table to ``runs/run_id=ID/stats/<table>/part-0.parquet``; drop older files there."""
    from protxai_ray.store.runs import write_run_tables

    return write_run_tables(store, run_id, tables, ANALYSIS_TABLES)


def analyze_run(
    store,
    run_id: str,
    model: str | Path | None = None,
    *,
    proteins: int = 24,
    draws: int = DRAWS,
    counts=FLIP_COUNTS,
    seed: int = 0,
    device: str | None = "cpu",
    batch_size: int = 64,
    log=print,
) -> AnalyzeSummary:
    """Run the faithfulness flips of ``run_id`` with its model and write the analysis tables.

    ``proteins``: at most this many of the run's proteins (md5 order of the accession: a fixed, unbiased
    subset), length 16..the model's maximum, leaving out proteins above the run's head-error tolerance
    (as ``protxai stats`` does). ``draws`` (≥ 10) replacement draws per protein, n and kind. Raises
    RunError for an unknown run, a missing model directory, or no usable protein.
    """
    from protxai_ray.stats.run import unconverged_proteins
    from protxai_ray.store.duck import connect
    from protxai_ray.store.fs import open_store

    if draws < 10:
        raise RunError(f"draws={draws}: use at least 10 random draws per protein and n")
    st = open_store(store)
    adapter, model_path, notes = load_run_model(st, run_id, model, device)
    con = connect(st)
    _, unconverged = unconverged_proteins(con, run_id)
    excluded = {accession for accession, _ in unconverged}
    rows = con.execute(
        PROTEINS_SQL, {"run_id": run_id, "min_length": MIN_LENGTH, "max_length": adapter.max_residues}
    ).fetchall()
    rows = [row for row in rows if row[0] not in excluded][:proteins]
    if not rows:
        raise RunError(f"run {run_id!r}: no protein of length {MIN_LENGTH}..{adapter.max_residues} to flip")
    if excluded:
        notes.append(f"{len(excluded)} protein(s) above the run's head-error tolerance left out")
    chosen, stored_logits = [], {}
    for accession, sequence, target, logit in rows:
        relevance = con.execute(
            "SELECT relevance FROM residues WHERE run_id = $r AND accession = $a ORDER BY position",
            {"r": run_id, "a": accession},
        ).fetchnumpy()["relevance"]
        if len(relevance) != len(sequence) + 2:
            notes.append(f"{accession}: {len(relevance)} residue rows for length {len(sequence)}; skipped")
            continue
        chosen.append(FlipProtein(accession, sequence, int(target), relevance))
        stored_logits[accession] = logit
    log(f"faithfulness: {len(chosen)} proteins × n ≤ L/2 of {list(counts)} × {draws} draws × (top, random)")
    drops, originals = flip_drops(
        adapter, chosen, counts=counts, draws=draws, seed=seed, batch_size=batch_size
    )
    differences = [
        abs(originals[a] - float(stored_logits[a])) for a in originals if stored_logits.get(a) is not None
    ]
    if differences and max(differences) > 0.05:
        notes.append(
            f"the model's target logit differs from the run's by up to {max(differences):.3g}: "
            "is it the run's model?"
        )
    summary = summarize_drops(drops)
    drops_table = pa.Table.from_pandas(drops.assign(run_id=run_id), preserve_index=False)
    summary_table = pa.Table.from_pandas(
        summary.assign(run_id=run_id, confidence=CONFIDENCE, replacement=REPLACEMENT, seed=seed),
        preserve_index=False,
    )
    written = write_analysis_tables(
        st, run_id, {"faithfulness_drops": drops_table, "faithfulness": summary_table}
    )
    return AnalyzeSummary(run_id, model_path, [p.accession for p in chosen], summary, notes, written)
