"""Sanity checks of head relevance (Adebayo et al. 2018) and the attention baseline on the demo model.

1. Cascading model randomisation: the trained membrane model's classifier, then layer 3, 2, 1, 0, then
   the word embeddings are re-initialised cumulatively; after each step the same proteins are attributed
   (``attribute_batch`` defaults: steps="auto", head error ≤ 1 %) and each protein's head relevance map
   (per layer and head, over positions) is rank-correlated (Spearman) with the trained model's. Each step
   is also written as a run and tested with ``compute_stats`` (transmembrane): the significant TM heads
   and their overlap with the trained model's.
2. Data randomisation: the shipped shuffled-label control is checked for fitting its labels (it does
   not: near-constant output); a model trained on permuted labels of a small fold-0 subset until it
   fits them (``train_random_label_model``) is attributed and compared the same way.
3. Attention baseline: ``attention_run`` (received, and the share > 0.3) of the trained run's proteins,
   tested with the same stats; per head, mean TM r of attention vs of attribution.

    .venv/bin/python benchmarks/sanity.py --out        # benchmarks/results/sanity_<date>.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import write_results  # noqa: E402
from protxai_ray.analyses.attention import attention_run, write_pseudo_run  # noqa: E402
from protxai_ray.analyses.randomization import (  # noqa: E402
    cascading_randomization,
    head_map_similarity,
    layer_means,
    train_random_label_model,
)
from protxai_ray.attribution import AttributionSettings, attribute_batch  # noqa: E402
from protxai_ray.demo import DEMO_DATA, DEMO_MODELS, DEMO_RELEASE, HELDOUT_FOLD_FILE, select_proteins  # noqa: E402
from protxai_ray.models import load_model  # noqa: E402
from protxai_ray.pipeline.shards import ProteinInput  # noqa: E402
from protxai_ray.stats import compute_stats  # noqa: E402
from protxai_ray.store.duck import connect  # noqa: E402
from protxai_ray.store.fs import open_store  # noqa: E402
from protxai_ray.training.data import MEMBRANE_LABELS, read_tmbed_fold  # noqa: E402
from protxai_ray.training.train import predict_probabilities  # noqa: E402

MEMBRANE_CLASS = "GO:0016020"
RANDOM_LABEL_CACHE = Path(tempfile.gettempdir()) / "protxai_sanity_random_labels"

HEAD_R_SQL = """
SELECT s.layer, s.head, avg(s.r) AS mean_r
FROM protein_head_scores s JOIN predictions p ON p.run_id = s.run_id AND p.accession = s.accession
WHERE s.run_id = $run AND s.annotation = 'transmembrane' AND p.target_name = $cls
GROUP BY 1, 2 ORDER BY 1, 2
"""
SIGNIFICANT_SQL = """
SELECT layer, head, significant, aa_significant FROM head_enrichment
WHERE run_id = $run AND annotation = 'transmembrane' AND class = $cls ORDER BY layer, head
"""
VIG_SQL = """
WITH tm AS (
  SELECT h.layer, h.head, h.relevance,
         EXISTS (SELECT 1 FROM annotations a WHERE a.release = $release AND a.accession = h.accession
                 AND a.feature_type = 'transmembrane' AND h.position BETWEEN a.start AND a."end") AS inside
  FROM heads h JOIN predictions p ON p.run_id = h.run_id AND p.accession = h.accession
  WHERE h.run_id = $run AND p.target_name = $cls)
SELECT layer, head, sum(relevance) FILTER (WHERE inside) / nullif(sum(relevance), 0) AS proportion,
       avg(CASE WHEN inside THEN 1.0 ELSE 0.0 END) AS background
FROM tm GROUP BY 1, 2 ORDER BY 1, 2
"""


def head_sets(con, run: str) -> dict:
    rows = con.execute(SIGNIFICANT_SQL, {"run": run, "cls": MEMBRANE_CLASS}).fetchall()
    return {
        "significant": sorted(f"{layer}.{head}" for layer, head, sig, _ in rows if sig),
        "aa_significant": sorted(f"{layer}.{head}" for layer, head, _, aa in rows if aa),
    }


def jaccard(a: list[str], b: list[str]) -> float | None:
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else None


def head_r(con, run: str) -> np.ndarray:
    rows = con.execute(HEAD_R_SQL, {"run": run, "cls": MEMBRANE_CLASS}).fetchall()
    layers = max(r[0] for r in rows) + 1
    heads = max(r[1] for r in rows) + 1
    out = np.full((layers, heads), np.nan)
    for layer, head, mean_r in rows:
        out[layer, head] = np.nan if mean_r is None else mean_r
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    ok = ~(np.isnan(a) | np.isnan(b))
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def rounded(values, digits: int = 4):
    return [None if v is None or np.isnan(v) else round(float(v), digits) for v in np.ravel(values)]


def prepare_store(path: Path):
    """A fresh store with release tmbed_cv4: copied from demo_store when it is there, else ingested."""
    store = open_store(str(path))
    source = ROOT / "demo_store" / "releases" / f"release={DEMO_RELEASE}"
    if source.is_dir():
        shutil.copytree(source, path / "releases" / f"release={DEMO_RELEASE}")
    else:
        from protxai_ray.uniprot.arrow import write_entries
        from protxai_ray.uniprot.collect import collect_entries

        fold = str(DEMO_DATA / HELDOUT_FOLD_FILE)
        write_entries(store, DEMO_RELEASE, collect_entries([fold]), sources=[fold])
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", nargs="?", const="", default=None, help="write JSON (benchmarks/results/)")
    parser.add_argument("--membrane", type=int, default=6, help="membrane proteins (default 6)")
    parser.add_argument("--other", type=int, default=4, help="other proteins (default 4)")
    parser.add_argument("--max-length", type=int, default=100, help="longest protein (default 100 aa)")
    parser.add_argument("--random-label-proteins", type=int, default=16, help="per class, fold 0 (≤ 120 aa)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    timings: dict[str, float] = {}
    report: dict = {
        "benchmark": "sanity",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "torch": torch.__version__,
            "loadavg_start": Path("/proc/loadavg").read_text().strip()
            if Path("/proc/loadavg").exists()
            else None,
        },
    }
    workdir = Path(tempfile.mkdtemp(prefix="protxai_sanity_"))
    store = prepare_store(workdir / "store")
    con = connect(store)
    accessions = select_proteins(con, DEMO_RELEASE, args.membrane, args.other, args.max_length)
    rows = con.execute(
        """SELECT accession, crc64, sequence,
                  EXISTS (SELECT 1 FROM annotations a WHERE a.release = p.release AND a.accession = p.accession
                          AND a.feature_type = 'transmembrane') AS membrane
           FROM proteins p WHERE release = $r AND list_contains($a, accession) ORDER BY accession""",
        {"r": DEMO_RELEASE, "a": accessions},
    ).fetchall()
    proteins = [ProteinInput(a, c, s) for a, c, s, _ in rows]
    targets = [1 if m else 0 for *_, m in rows]
    sequences = [p.sequence for p in proteins]
    names = [p.accession for p in proteins]
    report["proteins"] = {
        "accessions": names,
        "lengths": [len(s) for s in sequences],
        "membrane": int(sum(targets)),
        "other": len(targets) - int(sum(targets)),
        "selection": f"protxai demo's selection (md5 order), ≤ {args.max_length} aa, release {DEMO_RELEASE}",
        "target": "label (GO:0016020 for proteins with a TM segment, other otherwise)",
    }
    settings = AttributionSettings()
    model_dir = DEMO_MODELS / "membrane"
    trained_adapter = load_model(model_dir, device="cpu")

    def write_run(run_id: str, adapter, path, results, extra: dict) -> list:
        write_pseudo_run(
            store,
            run_id,
            release=DEMO_RELEASE,
            adapter=adapter,
            model_path=str(path),
            proteins=proteins,
            results=dict(zip(names, results, strict=True)),
            method={**settings.as_dict(), **extra},
            target="label",
        )
        compute_stats(store, run_id, annotations=["transmembrane"])
        return results

    # 1. cascading randomisation ------------------------------------------------------------------
    t0 = time.monotonic()
    steps = cascading_randomization(
        str(model_dir),
        sequences,
        targets,
        names=names,
        settings=settings,
        log=lambda line: print(line, flush=True),
    )
    timings["cascade_attribution_s"] = time.monotonic() - t0
    con = connect(store)
    cascade = []
    for k, step in enumerate(steps):
        run_id = f"sanity-cascade-{k}"
        write_run(run_id, trained_adapter, model_dir, step.results, {"randomized": step.randomized})
        con = connect(store)
        sets = head_sets(con, run_id)
        entry = {
            "step": step.name,
            "randomized": step.randomized,
            "run_id": run_id,
            "n_steps_median": float(np.median([r.n_steps for r in step.results])),
            "head_error_max": float(max(r.head_error or 0.0 for r in step.results)),
            "significant_tm_heads": len(sets["significant"]),
            "significant_tm_heads_aa": len(sets["aa_significant"]),
            "heads": sets,
        }
        if step.similarity is not None:
            entry["mean_spearman_per_layer"] = rounded(step.means["signed"])
            entry["mean_abs_spearman_per_layer"] = rounded(step.means["absolute"])
            entry["residues_mean_spearman"] = round(float(np.nanmean(step.similarity["residues_signed"])), 4)
            entry["residues_mean_abs_spearman"] = round(
                float(np.nanmean(step.similarity["residues_absolute"])), 4
            )
            trained_sets = cascade[0]["heads"]
            entry["jaccard_significant_vs_trained"] = jaccard(
                trained_sets["significant"], sets["significant"]
            )
        cascade.append(entry)
        print(f"{step.name}: {len(sets['significant'])} significant TM heads", flush=True)
    report["cascade"] = cascade
    trained_results = steps[0].results

    # 2. data randomisation -----------------------------------------------------------------------
    t0 = time.monotonic()
    shuffled_dir = DEMO_MODELS / "membrane_shuffled"
    shuffled = load_model(shuffled_dir, device="cpu")
    fold0 = read_tmbed_fold(DEMO_DATA / "tmbed/cv/cv_00_a.fasta.gz", 0)
    sample = fold0[:300]
    probs = predict_probabilities(shuffled.model, [p.sequence for p in sample], 1024)[:, 1]
    report["shipped_shuffled_control"] = {
        "model_card": "epoch losses 0.6974 → 0.6922 (ln 2 = 0.6931); held-out P(membrane) 0.4698–0.5591",
        "fold0_training_proteins_scored": len(sample),
        "fold0_p_membrane_min": round(float(probs.min()), 4),
        "fold0_p_membrane_max": round(float(probs.max()), 4),
        "fold0_share_predicted_membrane": round(float(np.mean(probs > 0.5)), 4),
        "fits_training_labels": False,
        "note": "near-constant output at the class prior: it has not fitted its permuted labels, so it is a "
        "'nothing learned' control, not Adebayo et al.'s random-label model",
    }
    small = [p for p in fold0 if 50 <= len(p.sequence) <= 120]
    subset = [p for p in small if p.label == 1][: args.random_label_proteins]
    subset += [p for p in small if p.label == 0][: args.random_label_proteins]
    rl_dir = RANDOM_LABEL_CACHE
    if not (rl_dir / "model.safetensors").is_file():
        trained_rl = train_random_label_model(subset, str(rl_dir), MEMBRANE_LABELS, max_epochs=150)
        rl_info = {"epochs": trained_rl.epochs, "train_seconds": round(trained_rl.seconds, 1)}
    else:
        import json

        rl_info = {
            "epochs": json.loads((rl_dir / "label_map.json").read_text()).get("epochs"),
            "cached": True,
        }
    from protxai_ray.training.train import permuted_labels

    rl = load_model(rl_dir, device="cpu")
    rl_probs = predict_probabilities(rl.model, [p.sequence for p in subset], 1024)
    permuted = np.asarray(permuted_labels([p.label for p in subset], 0))
    rl_info.update(
        proteins=len(subset),
        train_accuracy_permuted_labels=round(float(np.mean(rl_probs.argmax(1) == permuted)), 4),
        train_accuracy_true_labels=round(
            float(np.mean(rl_probs.argmax(1) == np.array([p.label for p in subset]))), 4
        ),
        agreement_permuted_vs_true_labels=round(
            float(np.mean(permuted == np.array([p.label for p in subset]))), 4
        ),
    )
    rl_results = attribute_batch(rl, sequences, targets, settings, names=names)
    similarity = head_map_similarity(trained_results, rl_results)
    means = layer_means(similarity)
    write_run("sanity-random-labels", rl, rl_dir, rl_results, {"random_labels": True})
    con = connect(store)
    sets = head_sets(con, "sanity-random-labels")
    rl_info.update(
        n_steps_median=float(np.median([r.n_steps for r in rl_results])),
        mean_spearman_per_layer=rounded(means["signed"]),
        mean_abs_spearman_per_layer=rounded(means["absolute"]),
        residues_mean_spearman=round(float(np.nanmean(similarity["residues_signed"])), 4),
        significant_tm_heads=len(sets["significant"]),
        significant_tm_heads_aa=len(sets["aa_significant"]),
        jaccard_significant_vs_trained=jaccard(cascade[0]["heads"]["significant"], sets["significant"]),
        heads=sets,
    )
    report["random_label_model"] = rl_info
    timings["data_randomisation_s"] = time.monotonic() - t0

    # 3. attention baseline -----------------------------------------------------------------------
    t0 = time.monotonic()
    attention = {}
    trained_r = head_r(con, "sanity-cascade-0")
    for measure in ("received", "confident"):
        run_id = f"sanity-attention-{measure}"
        attention_run(store, "sanity-cascade-0", run_id, model_dir, measure=measure, log=lambda _: None)
        compute_stats(store, run_id, annotations=["transmembrane"])
        con = connect(store)
        sets = head_sets(con, run_id)
        att_r = head_r(con, run_id)
        attention[measure] = {
            "run_id": run_id,
            "significant_tm_heads": len(sets["significant"]),
            "significant_tm_heads_aa": len(sets["aa_significant"]),
            "heads": sets,
            "jaccard_significant_vs_attribution": jaccard(
                cascade[0]["heads"]["significant"], sets["significant"]
            ),
            "mean_tm_r_per_head": rounded(att_r),
            "spearman_over_heads_vs_attribution_mean_r": round(spearman(att_r.ravel(), trained_r.ravel()), 4),
        }
        if measure == "confident":
            vig = con.execute(
                VIG_SQL, {"run": run_id, "cls": MEMBRANE_CLASS, "release": DEMO_RELEASE}
            ).fetchall()
            attention[measure]["vig_proportion_tm_per_head"] = rounded([v[2] for v in vig])
            attention[measure]["tm_background_share"] = round(float(vig[0][3]), 4)
    attention["attribution_mean_tm_r_per_head"] = rounded(trained_r)
    report["attention"] = attention
    timings["attention_s"] = time.monotonic() - t0
    timings["total_s"] = time.monotonic() - started
    report["timings"] = {k: round(v, 1) for k, v in timings.items()}
    report["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().strip()
    report["store"] = str(workdir / "store")
    write_results(report, args.out, f"sanity_{time.strftime('%Y-%m-%d')}.json")


if __name__ == "__main__":
    main()
