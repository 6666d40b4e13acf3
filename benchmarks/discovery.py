"""Head discovery against known ground truth: power and false discoveries of the head tests vs proteins.

The task (``protxai_ray/validate/planted.py``): windows of real TMbed proteins (fold 0, no transmembrane
residue) with six common residues written over a random position: the motif ``LAGVSE`` (positives) or an
anagram of it that shares no adjacent pair with it (negatives). Both classes have identical composition,
so only the order of the residues decides the label and the model has to move information between tokens.
Every protein also carries a ``decoy`` annotation: a span of the same length at a uniformly random start,
independent of the insert and wrapping past the end, so every residue is covered with the same probability
and the decoy's r has expectation 0 for any relevance track (negative control).

A small mean-pooled BERT (``TaskConfig``: 2 layers x 4 heads, hidden 32) is trained on the task
(``protxai_ray/training``). Ground truth: each head's output is mean-ablated (its context vector replaced by
its mean over all attended held-out tokens) and the drop of the motif logit on held-out positives
measured; the heads whose drop is at least half the largest drop are the ground-truth heads.

Then ``--attribute`` held-out positives go through the pipeline's shard code and the engine
(``steps="auto"``) into a local store with ``motif`` and ``decoy`` annotations, and for n in ``--sizes``
random subsets of n of them (``--draws`` each; the largest size is the whole set, one draw) are tested with
the real statistics statements (``compute_stats``'s masks → scores → Wilcoxon / t-test / BH). Per test —
``wilcoxon_r`` (Wilcoxon of r > 0, BH over heads), ``aa_adjusted`` (the same on the composition-adjusted r)
and ``t_overlay`` (one-sample t-test of r > 0, BH) — and per n: power (share of ground-truth heads found,
mean over draws; and share of draws with all of them found), motif heads found that are not ground truth
(mean count), and for the decoy: the share of draws with any significant head (family-wise) and the share of
significant head cells.

    python benchmarks/discovery.py [--quick] [--out [FILE.json]] [--tmbed DIR] [--seed N] [--draws N]

``--quick``: fewer draws and 40 attributed proteins. ``--out`` without a file writes
benchmarks/results/discovery_<date>.json. Default data: the TMbed folds next to the checkout
(``../shared/data/tmbed``) when present, else the shipped demo copy.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import write_results  # noqa: E402
from protxai_ray.demo import DEMO_DATA  # noqa: E402
from protxai_ray.store.duck import connect  # noqa: E402
from protxai_ray.validate.check import _residue_auroc  # noqa: E402
from protxai_ray.validate.discovery import (  # noqa: E402
    DECOY_FEATURE,
    MOTIF_FEATURE,
    TESTS,
    TaskConfig,
    ablation_drops,
    ablation_truth,
    attribute_run,
    head_calls,
    reference_problems,
    run_accessions,
    subset_tables,
    train_task,
    truth_heads,
    write_task_store,
)
from protxai_ray.validate.planted import MOTIF, anagrams  # noqa: E402

SHARED_TMBED = ROOT.parent / "shared" / "data" / "tmbed"
SIZES = (5, 10, 20, 40, 80, 160)
DIAGNOSTIC_TESTS = ("residues_only", "fresh_decoy")


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ----------------------------------------------------------------------------------- decoy diagnostics


def _pearson(x: np.ndarray, mask: np.ndarray) -> float | None:
    return float(np.corrcoef(x, mask)[0, 1]) if x.std() > 0 else None


def decoy_diagnostics(con, run_id: str, proteins) -> dict:
    """Per protein x head, from the stored tracks: the contract's r (all L + 2 tokens, [CLS]/[SEP] outside
    every mask) with the decoy and its *exact* expectation over the decoy's placement (the mean of r over
    all L circular starts), and r over the residues only (positions 1..L) with the decoy and the motif.
    Returns ``{"residue_r": {(accession, layer, head, annotation): r}, "by_placement": {(accession,
    layer, head): [contract r of the decoy at start 1..L]}, "expected": {(layer, head): mean expected decoy
    r}, "observed": {(layer, head): mean decoy r}}``."""
    by_accession = {p.accession: p for p in proteins}
    tracks: dict[tuple[str, int, int], list[float]] = {}
    for accession, layer, head, _position, relevance in con.execute(
        "SELECT accession, layer, head, position, relevance FROM heads WHERE run_id = ? "
        "ORDER BY accession, layer, head, position",
        [run_id],
    ).fetchall():
        tracks.setdefault((accession, layer, head), []).append(relevance)
    residue_r: dict = {}
    by_placement: dict = {}
    expected: dict = {}
    observed: dict = {}
    for (accession, layer, head), values in tracks.items():
        protein = by_accession[accession]
        x = np.asarray(values, dtype=np.float64)
        length = len(protein.sequence)
        decoy = protein.decoy_mask()
        placements = [replace(protein, decoy_start=start).decoy_mask() for start in range(1, length + 1)]
        full = [_pearson(x, np.concatenate([[False], m, [False]])) for m in placements]
        by_placement[(accession, layer, head)] = full
        if full[0] is not None:
            expected.setdefault((layer, head), []).append(float(np.mean(full)))
            observed.setdefault((layer, head), []).append(
                _pearson(x, np.concatenate([[False], decoy, [False]]))
            )
        residues = x[1 : length + 1]
        residue_r[(accession, layer, head, DECOY_FEATURE)] = _pearson(residues, decoy)
        residue_r[(accession, layer, head, MOTIF_FEATURE)] = _pearson(residues, protein.mask())
    return {
        "residue_r": residue_r,
        "by_placement": by_placement,
        "expected": {k: float(np.mean(v)) for k, v in expected.items()},
        "observed": {k: float(np.mean(v)) for k, v in observed.items()},
    }


def _wilcoxon_bh_calls(cells: dict[tuple[int, int], list[float]]) -> set[tuple[int, int]]:
    """Heads significant: one-sided Wilcoxon of r > 0 per head, BH over the heads, p_adj < 0.05."""
    from scipy.stats import false_discovery_control, wilcoxon

    heads = sorted(cells)
    p = np.array([wilcoxon(cells[h], alternative="greater").pvalue for h in heads])
    adjusted = false_discovery_control(p, method="bh")
    return {h for h, q in zip(heads, adjusted, strict=True) if q < 0.05}


def residue_only_calls(residue_r: dict, keep: set[str], annotation: str) -> set[tuple[int, int]]:
    """Heads significant for ``annotation`` by the Wilcoxon of residue-only r (BH over heads)."""
    cells: dict[tuple[int, int], list[float]] = {}
    for (accession, layer, head, name), r in residue_r.items():
        if name == annotation and accession in keep and r is not None:
            cells.setdefault((layer, head), []).append(r)
    return _wilcoxon_bh_calls(cells)


def fresh_decoy_calls(by_placement: dict, keep: set[str], rng: np.random.Generator) -> set[tuple[int, int]]:
    """Heads significant for a decoy placed anew (uniform circular start) in every protein of this draw,
    scored with the contract's r (all L + 2 tokens), Wilcoxon and BH over heads: draws independent of the
    one placement stored per protein."""
    starts = {a: None for a in sorted(keep)}
    cells: dict[tuple[int, int], list[float]] = {}
    for (accession, layer, head), values in sorted(by_placement.items()):
        if accession not in starts:
            continue
        if starts[accession] is None:
            starts[accession] = int(rng.integers(len(values)))  # one placement per protein, all heads
        r = values[starts[accession]]
        if r is not None:
            cells.setdefault((layer, head), []).append(r)
    return _wilcoxon_bh_calls(cells)


def evaluate(
    con, run_id: str, truths: dict[str, list], sizes, draws: int, seed: int, diagnostics: dict, log=print
) -> dict:
    """Per size n and test: power against each ground truth, non-truth motif heads, decoy false discoveries
    over ``draws`` random subsets of n attributed proteins (the whole set: one draw). Besides the store's
    tests (``TESTS``), two diagnostics (not statistics of the product): ``residues_only``, the Wilcoxon of r
    computed over the residues only (the contract's r counts [CLS]/[SEP] as outside every annotation), and
    ``fresh_decoy``: the store's Wilcoxon of r, but the decoy placed anew in every protein of every draw
    (motif calls as ``wilcoxon_r``)."""
    accessions = run_accessions(con, run_id)
    rng = np.random.default_rng(seed)
    placement_rng = np.random.default_rng([seed, 1])  # fresh decoy placements, apart from the subsets
    out: dict = {}
    for n in sizes:
        n = min(n, len(accessions))
        count = 1 if n == len(accessions) else draws
        keys = ["significant", "decoy_any", "decoy_cells"]
        for name in truths:
            keys += [f"power_{name}", f"all_found_{name}", f"not_truth_{name}"]
        per_test = {t: {k: [] for k in keys} for t in (*TESTS, *DIAGNOSTIC_TESTS)}
        heads_tested = 0
        for _ in range(count):
            keep = set(rng.choice(accessions, size=n, replace=False).tolist())
            tables = subset_tables(con, run_id, keep, [MOTIF_FEATURE, DECOY_FEATURE])
            heads_tested = sum(
                1
                for r in tables["head_enrichment"].to_pylist()
                if r["annotation"] == DECOY_FEATURE and r["class"] == MOTIF_FEATURE and r["testable"]
            )
            motif, decoy = head_calls(tables, MOTIF_FEATURE), head_calls(tables, DECOY_FEATURE)
            motif["residues_only"] = residue_only_calls(diagnostics["residue_r"], keep, MOTIF_FEATURE)
            decoy["residues_only"] = residue_only_calls(diagnostics["residue_r"], keep, DECOY_FEATURE)
            motif["fresh_decoy"] = motif["wilcoxon_r"]
            decoy["fresh_decoy"] = fresh_decoy_calls(diagnostics["by_placement"], keep, placement_rng)
            for test in per_test:
                row = per_test[test]
                row["significant"].append(len(motif[test]))
                row["decoy_any"].append(bool(decoy[test]))
                row["decoy_cells"].append(len(decoy[test]) / max(1, heads_tested))
                for name, truth in truths.items():
                    truth_set = set(map(tuple, truth))
                    found = motif[test] & truth_set
                    row[f"power_{name}"].append(len(found) / len(truth_set) if truth_set else float("nan"))
                    row[f"all_found_{name}"].append(found == truth_set)
                    row[f"not_truth_{name}"].append(len(motif[test] - truth_set))
        out[str(n)] = {"draws": count, "heads_tested": heads_tested}
        for test, values in per_test.items():
            out[str(n)][test] = {k: float(np.mean(v)) for k, v in values.items()}
        first = next(iter(truths))
        log(
            f"n={n:>4} ({count} draws): "
            + "; ".join(
                f"{t} power {out[str(n)][t]['power_' + first]:.2f} sig {out[str(n)][t]['significant']:.2f} "
                f"decoy-any {out[str(n)][t]['decoy_any']:.2f}"
                for t in per_test
            ),
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 attributed proteins, 5 draws")
    parser.add_argument("--out", nargs="?", const="", default=None, help="write JSON (default name by date)")
    parser.add_argument("--tmbed", default=None, help="TMbed directory (cv/cv_00_a.fasta[.gz])")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=20, help="random subsets per size (the full set: 1)")
    parser.add_argument("--attribute", type=int, default=160, help="held-out positives attributed")
    parser.add_argument("--steps", default="auto", help="attribution steps (auto or an integer)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: TaskConfig's)")
    parser.add_argument("--workdir", default=None, help="keep the model and the store here")
    args = parser.parse_args()
    if args.quick:
        args.draws, args.attribute = 5, 40
    torch.set_num_threads(args.threads)
    steps = args.steps if args.steps == "auto" else int(args.steps)
    tmbed = (
        Path(args.tmbed) if args.tmbed else (SHARED_TMBED if SHARED_TMBED.is_dir() else DEMO_DATA / "tmbed")
    )
    config = TaskConfig(seed=args.seed, n_test=2 * args.attribute + 80, threads=args.threads)
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    load_before = _loadavg()
    print(f"load average: {load_before}")
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="protxai-discovery-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        started = time.monotonic()
        print(
            f"training on the anagram task ({config.n_train} proteins x {config.epochs} epochs, {tmbed}) ..."
        )
        trained = train_task(config, tmbed, root / "model", log=lambda line: print("  " + line, flush=True))
        seconds["train"] = time.monotonic() - started
        print(f"held-out accuracy {trained.accuracy:.3f} ({len(trained.test)} proteins)")

        started = time.monotonic()
        drops, truth = ablation_truth(trained.model, trained.test, config.truth_fraction)
        motif_drops = ablation_drops(trained.model, trained.test, "motif")
        decoy_drops = ablation_drops(trained.model, trained.test, "decoy")
        # at the motif: heads whose ablation on the motif residues only hurts (>= half the largest such
        # drop) and hurts more than on the decoy span
        local = [
            t for t in truth_heads(motif_drops, config.truth_fraction) if motif_drops[t] > decoy_drops[t]
        ]
        truths = {"ablation": truth, "at_motif": local}
        seconds["ablation"] = time.monotonic() - started
        for name, values in (
            ("whole head", drops),
            ("motif residues", motif_drops),
            ("decoy span", decoy_drops),
        ):
            print(f"ablation ({name}) drop of the motif logit:\n" + np.array2string(values, precision=3))
        for name, heads_ in truths.items():
            print(f"ground truth {name}: " + ", ".join(f"L{layer}H{head}" for layer, head in heads_))

        started = time.monotonic()
        positives = trained.positives[: args.attribute]
        store_uri = str(root / "store")
        write_task_store(store_uri, trained.test)
        print(f"attributing {len(positives)} held-out positives (steps={steps}) ...", flush=True)
        run_id = attribute_run(store_uri, trained.model_dir, positives, steps=steps, run_id="discovery")
        seconds["attribute"] = time.monotonic() - started

        started = time.monotonic()
        con = connect(store_uri)
        full = subset_tables(con, run_id, run_accessions(con, run_id), [MOTIF_FEATURE, DECOY_FEATURE])
        reference = reference_problems(con, run_id, full, positives)
        residue_auroc = _residue_auroc(con, run_id, positives)
        steps_used = con.execute(
            "SELECT avg(n_steps), max(head_error) FROM predictions WHERE run_id = ?", [run_id]
        ).fetchone()
        sizes = [n for n in SIZES if n < len(positives)] + [len(positives)]
        diagnostics = decoy_diagnostics(con, run_id, positives)
        curves = evaluate(con, run_id, truths, sizes, args.draws, args.seed, diagnostics)
        seconds["stats"] = time.monotonic() - started
        sums = {
            (layer, head): value
            for layer, head, value in con.execute(
                "SELECT layer, head, sum(relevance) / count(DISTINCT accession) FROM heads WHERE run_id = ? "
                "GROUP BY ALL",
                [run_id],
            ).fetchall()
        }
        scores = full["protein_head_scores"].to_pylist()
        m_r, d_r = ({
            (layer, head): float(np.mean([r["r"] for r in scores if (r["layer"], r["head"], r["annotation"]) ==
                                        (layer, head, annotation) and r["r"] is not None]))
            for layer in range(drops.shape[0]) for head in range(drops.shape[1])
        } for annotation in (MOTIF_FEATURE, DECOY_FEATURE))  # fmt: skip
        cells = {
            (r["layer"], r["head"], r["annotation"]): r
            for r in full["head_enrichment"].to_pylist()
            if r["class"] == MOTIF_FEATURE
        }
    heads = []
    for layer in range(drops.shape[0]):
        for head in range(drops.shape[1]):
            m, d = cells.get((layer, head, MOTIF_FEATURE), {}), cells.get((layer, head, DECOY_FEATURE), {})
            heads.append(
                {
                    "layer": layer, "head": head, "ablation_drop": float(drops[layer, head]),
                    "ablation_drop_motif_residues": float(motif_drops[layer, head]),
                    "ablation_drop_decoy_span": float(decoy_drops[layer, head]),
                    "truth": (layer, head) in set(truth), "truth_at_motif": (layer, head) in set(local),
                    "relevance_sum_mean": sums.get((layer, head)),
                    "motif_r_mean": m_r.get((layer, head)), "decoy_r_mean": d_r.get((layer, head)),
                    "motif_p_adj": m.get("p_adj"), "motif_aa_p_adj": m.get("aa_p_adj"),
                    "motif_t_p_adj": m.get("t_p_adj"), "decoy_p_adj": d.get("p_adj"),
                    "decoy_aa_p_adj": d.get("aa_p_adj"), "decoy_t_p_adj": d.get("t_p_adj"),
                    "decoy_r_expected_by_placement": diagnostics["expected"].get((layer, head)),
                    "decoy_r_mean_recomputed": diagnostics["observed"].get((layer, head)),
                }
            )  # fmt: skip
    print(
        "\n| n | test | power (ablation truth) | power (at-motif truth) | significant | decoy: any significant |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for n, row in curves.items():
        for test in (*TESTS, *DIAGNOSTIC_TESTS):
            s = row[test]
            print(
                f"| {n} | {test} | {s['power_ablation']:.2f} | {s['power_at_motif']:.2f} | "
                f"{s['significant']:.2f} | {s['decoy_any']:.2f} |"
            )
    targets = {}
    for test in (*TESTS, *DIAGNOSTIC_TESTS):
        targets[test] = {"max_decoy_any_significant": max(row[test]["decoy_any"] for row in curves.values())}
        targets[test]["decoy_fdr_at_most_5pct"] = targets[test]["max_decoy_any_significant"] <= 0.05
        for name in truths:
            ok = [int(n) for n, row in curves.items() if row[test][f"power_{name}"] >= 0.8]
            targets[test][f"smallest_n_power_0.8_{name}"] = min(ok) if ok else None
            targets[test][f"power_0.8_at_40_or_fewer_{name}"] = bool(ok and min(ok) <= 40)
    print("targets: " + str(targets))
    if reference:
        print("REFERENCE MISMATCH: " + "; ".join(reference))
    report = {
        "benchmark": "discovery",
        "date": time.strftime("%Y-%m-%d"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "threads": args.threads,
        "load_average_before": load_before,
        "load_average_after": _loadavg(),
        "data": str(tmbed.relative_to(ROOT.parent)) if tmbed.is_relative_to(ROOT.parent) else str(tmbed),
        "task": {
            "motif": MOTIF,
            "anagrams_possible": len(anagrams()),
            "config": {k: v for k, v in asdict(config).items() if k != "spec"},
            "spec": asdict(config.spec),
            "train_proteins": len(trained.train),
            "heldout_proteins": len(trained.test),
            "heldout_accuracy": trained.accuracy,
            "training_attempts": trained.attempts,
            "final_train_loss": trained.losses[-1] if trained.losses else None,
        },
        "ground_truth": {
            "ablation": {
                "rule": f"whole-head mean-ablation drop >= {config.truth_fraction} x the largest drop",
                "heads": [list(t) for t in truth],
                "drops": drops.round(5).tolist(),
            },
            "at_motif": {
                "rule": f"mean-ablation on the motif residues only: drop >= {config.truth_fraction} x the largest "
                "such drop, and larger than the drop when ablated on the decoy span only",
                "heads": [list(t) for t in local],
                "drops_motif_residues": motif_drops.round(5).tolist(),
                "drops_decoy_span": decoy_drops.round(5).tolist(),
            },
        },
        "attribution": {
            "proteins": len(positives),
            "steps": steps,
            "mean_path_points": float(steps_used[0]) if steps_used[0] is not None else None,
            "max_head_error": steps_used[1],
            "residue_auroc_vs_motif": residue_auroc,
            "reference_check_problems": reference,
        },
        "draws_per_size": args.draws,
        "curves": curves,
        "heads_full_set": heads,
        "targets": targets,
        "seconds": seconds,
    }
    write_results(report, args.out, f"discovery_{report['date']}.json")


if __name__ == "__main__":
    main()
