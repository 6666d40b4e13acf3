"""Benchmark: all stats of a run in DuckDB (``compute_stats``) vs a straightforward pandas + scipy loop.

    python benchmarks/stats.py [--quick] [--out FILE.json] [--proteins N] [--workdir DIR]

Writes a synthetic store (realistic lengths: lognormal around 350, capped at 1,000; 30 layers × 16
heads = 480 heads; four classes; active sites, binding sites, transmembrane ranges; one planted head),
then runs each side in its own subprocess (so peak RSS is per side): DuckDB with memory_limit and a
spill directory; the baseline per shard file: pandas groupby per protein × head, scipy.stats.
pointbiserialr per annotation, numpy RRA, then scipy.stats.wilcoxon / ttest_1samp /
false_discovery_control per head × class × annotation. Same numbers are asserted (max differences
reported). --quick = 100 proteins; default 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protxai_ray.store.fs import open_store  # noqa: E402
from protxai_ray.store.parquet import write_parquet_atomic  # noqa: E402
from protxai_ray.store.schemas import ANNOTATIONS, HEADS, PREDICTIONS, PROTEINS, RESIDUES  # noqa: E402

LAYERS, HEADS_PER_LAYER = 30, 16
CLASSES = ("EC 1", "EC 2", "EC 3", "EC 4")
ANNOTATION_TYPES = ["active_site", "binding_site", "hydrophobic"]
RUN_ID, RELEASE = "bench", "2024_01"
PROTEINS_PER_SHARD = 25
AMINO = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
HYDROPHOBIC = np.isin(AMINO, list("FMWIVLPA"))


def _strings(values: list[str], counts: np.ndarray) -> pa.Array:
    indices = pa.array(np.repeat(np.arange(len(values), dtype=np.int32), counts))
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())


def write_store(path: Path, n_proteins: int, seed: int = 0) -> dict:
    """The synthetic store; returns its sizes."""
    store = open_store(str(path))
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(350), 0.5, n_proteins), 30, 1000).astype(np.int32)
    accessions = [f"B{i:06d}" for i in range(n_proteins)]
    crcs = [f"{i:016X}" for i in range(n_proteins)]
    classes = [CLASSES[i % len(CLASSES)] for i in range(n_proteins)]
    sequences = ["".join(rng.choice(AMINO, n)) for n in lengths]
    proteins = pa.table(
        {
            "release": [RELEASE] * n_proteins,
            "accession": accessions,
            "entry_name": accessions,
            "reviewed": [True] * n_proteins,
            "entry_version": [1] * n_proteins,
            "sequence_version": [1] * n_proteins,
            "crc64": crcs,
            "length": lengths,
            "sequence": sequences,
            "organism": ["synthetic"] * n_proteins,
            "ec": [[c] for c in classes],
            "go": [[] for _ in classes],
        }
    )
    rows, active = [], []
    for i, n in enumerate(lengths):
        mask = np.zeros(n + 2, dtype=bool)
        for _ in range(int(rng.integers(1, 4))):
            start = int(rng.integers(1, n - 3))
            rows.append((accessions[i], "active_site", start, start + int(rng.integers(0, 3))))
            mask[rows[-1][2] : rows[-1][3] + 1] = True
        if i % 2 == 0:
            start = int(rng.integers(1, n - 12))
            rows.append((accessions[i], "binding_site", start, start + 10))
        active.append(mask)
    annotations = pa.table(
        {
            "release": [RELEASE] * len(rows),
            "accession": [r[0] for r in rows],
            "feature_type": [r[1] for r in rows],
            "start": [r[2] for r in rows],
            "end": [r[3] for r in rows],
            "description": [None] * len(rows),
            "ligand": [None] * len(rows),
        }
    )
    base = f"releases/release={RELEASE}"
    write_parquet_atomic(store, f"{base}/proteins/part-0.parquet", proteins, PROTEINS)
    write_parquet_atomic(store, f"{base}/annotations/part-0.parquet", annotations, ANNOTATIONS)
    store.write_json_atomic(
        f"{base}/_release.json",
        {
            "release": RELEASE,
            "files": {"proteins": ["proteins/part-0.parquet"], "annotations": ["annotations/part-0.parquet"]},
        },
    )
    predictions = pa.table(
        {
            "run_id": [RUN_ID] * n_proteins,
            "accession": accessions,
            "crc64": crcs,
            "target_index": [CLASSES.index(c) for c in classes],
            "target_name": classes,
            "logit": np.ones(n_proteins),
            "baseline_logit": np.zeros(n_proteins),
            "probability": np.ones(n_proteins),
            "ig_sum": np.ones(n_proteins),
            "convergence_delta": np.zeros(n_proteins),
            "n_steps": [32] * n_proteins,
            "head_error": [None] * n_proteins,
        }
    )
    run_base = f"runs/run_id={RUN_ID}"
    shards, head_rows = [], 0
    for shard, first in enumerate(range(0, n_proteins, PROTEINS_PER_SHARD)):
        ids = range(first, min(first + PROTEINS_PER_SHARD, n_proteins))
        n_pos = lengths[list(ids)] + 2
        files = {
            "predictions": f"predictions/shard-{shard:05d}.parquet",
            "residues": f"residues/shard-{shard:05d}.parquet",
            "heads": f"heads/shard-{shard:05d}.parquet",
        }
        write_parquet_atomic(
            store, f"{run_base}/{files['predictions']}", predictions.slice(first, len(ids)), PREDICTIONS
        )
        positions = np.concatenate([np.arange(n, dtype=np.int32) for n in n_pos])
        embedding = rng.normal(size=positions.size).astype(np.float32)
        embedding += np.concatenate([active[i] for i in ids]).astype(np.float32)
        residues = pa.table(
            {
                "run_id": _strings([RUN_ID], np.array([positions.size])),
                "accession": _strings([accessions[i] for i in ids], n_pos),
                "crc64": _strings([crcs[i] for i in ids], n_pos),
                "position": positions,
                "residue": pa.array(np.concatenate([["^", *sequences[i], "$"] for i in ids])),
                "relevance": embedding,
            }
        )
        write_parquet_atomic(store, f"{run_base}/{files['residues']}", residues, RESIDUES)
        per_protein = n_pos * LAYERS * HEADS_PER_LAYER
        layer_head = [np.repeat(np.arange(LAYERS * HEADS_PER_LAYER, dtype=np.int32), n) for n in n_pos]
        relevance = rng.normal(size=int(per_protein.sum())).astype(np.float32)
        planted = np.concatenate(
            [
                np.tile(active[i], LAYERS * HEADS_PER_LAYER) & (lh == 5 * HEADS_PER_LAYER + 3)
                for i, lh in zip(ids, layer_head, strict=True)
            ]
        )
        relevance[planted] += 1.0
        lh = np.concatenate(layer_head)
        heads = pa.table(
            {
                "run_id": _strings([RUN_ID], np.array([relevance.size])),
                "accession": _strings([accessions[i] for i in ids], per_protein),
                "crc64": _strings([crcs[i] for i in ids], per_protein),
                "layer": (lh // HEADS_PER_LAYER).astype(np.int16),
                "head": (lh % HEADS_PER_LAYER).astype(np.int16),
                "position": np.concatenate(
                    [np.tile(np.arange(n, dtype=np.int32), LAYERS * HEADS_PER_LAYER) for n in n_pos]
                ),
                "relevance": relevance,
            }
        )
        write_parquet_atomic(store, f"{run_base}/{files['heads']}", heads, HEADS)
        head_rows += heads.num_rows
        shards.append({"shard": f"{shard:05d}", "proteins": len(ids), "files": files})
    store.write_json_atomic(
        f"{run_base}/manifest.json",
        {"schema_version": "1", "run_id": RUN_ID, "release": RELEASE, "shards": shards},
    )
    return {"proteins": n_proteins, "head_rows": head_rows, "mean_length": float(lengths.mean())}


def run_duckdb(store_path: Path, out: Path, memory_limit: str) -> dict:
    from protxai_ray.stats import compute_stats
    from protxai_ray.store.duck import connect

    store = open_store(str(store_path))
    con = connect(store)
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{out / 'duckdb_spill'}'")
    start = time.perf_counter()
    summary = compute_stats(con, RUN_ID, annotations=ANNOTATION_TYPES, store=store)
    seconds = time.perf_counter() - start
    for name in ("protein_head_scores", "head_enrichment", "residue_enrichment", "head_positivity"):
        pa.parquet.write_table(summary.tables[name], out / f"duckdb_{name}.parquet")
    return {"seconds": seconds, "cells_tested": summary.cells_tested}


def _masks(proteins, annotations) -> dict[str, dict[str, np.ndarray]]:
    masks: dict[str, dict[str, np.ndarray]] = {}
    for accession, sequence in zip(proteins.accession, proteins.sequence, strict=True):
        mine = masks.setdefault(accession, {})
        residue = np.array(["", *sequence, ""])
        hydrophobic = np.isin(residue, list("FMWIVLPA"))
        if hydrophobic.any():
            mine["hydrophobic"] = hydrophobic.astype(float)
    for row in annotations.itertuples():
        if row.feature_type in ANNOTATION_TYPES:
            length = int(proteins.loc[row.accession, "length"])
            mask = masks[row.accession].setdefault(row.feature_type, np.zeros(length + 2))
            mask[row.start : row.end + 1] = 1.0
    return masks


def _rra(relevance: np.ndarray, mask: np.ndarray) -> float:
    residues = np.arange(1, len(relevance) - 1)
    order = residues[np.lexsort((residues, -relevance[residues]))]
    k = int(mask.sum())
    return float(mask[order[:k]].sum() / k)


def run_pandas(store_path: Path, out: Path) -> dict:
    import pandas as pd
    from scipy import stats

    warnings.simplefilter("ignore")
    store = open_store(str(store_path))
    start = time.perf_counter()
    base = Path(store.base)
    proteins = pd.read_parquet(base / f"releases/release={RELEASE}/proteins").set_index(
        "accession", drop=False
    )
    annotations = pd.read_parquet(base / f"releases/release={RELEASE}/annotations")
    predictions = pd.read_parquet(base / f"runs/run_id={RUN_ID}/predictions").set_index("accession")
    masks = _masks(proteins, annotations)
    scores, totals = [], []
    for level in ("residues", "heads"):
        for path in sorted((base / f"runs/run_id={RUN_ID}/{level}").glob("*.parquet")):
            frame = pd.read_parquet(path)
            if level == "residues":
                frame["layer"], frame["head"] = -1, -1
            for (accession, layer, head), group in frame.groupby(["accession", "layer", "head"], sort=False):
                relevance = group.sort_values("position")["relevance"].to_numpy(np.float64)
                if level == "heads":
                    totals.append((accession, layer, head, relevance.sum()))
                for annotation, mask in masks[accession].items():
                    r = stats.pointbiserialr(mask, relevance).statistic
                    scores.append((accession, layer, head, annotation, r, _rra(relevance, mask)))
    scores = pd.DataFrame(scores, columns=["accession", "layer", "head", "annotation", "r", "rra"])
    scores["class"] = predictions.loc[scores.accession, "target_name"].to_numpy()
    totals = pd.DataFrame(totals, columns=["accession", "layer", "head", "relevance_sum"])
    totals["class"] = predictions.loc[totals.accession, "target_name"].to_numpy()
    enrichment = []
    for (cls, annotation, layer, head), group in scores.groupby(["class", "annotation", "layer", "head"]):
        test = stats.wilcoxon(group.r, alternative="greater")
        t = stats.ttest_1samp(group.r, 0.0, alternative="greater")
        enrichment.append(
            (cls, annotation, layer, head, len(group), test.statistic, test.pvalue, t.statistic, t.pvalue)
        )
    enrichment = pd.DataFrame(
        enrichment,
        columns=["class", "annotation", "layer", "head", "n", "statistic", "p", "t_statistic", "t_p"],
    )
    family = np.where(enrichment.layer < 0, "residue", "head")
    for column in ("p", "t_p"):
        enrichment[column + "_adj" if column == "p" else "t_p_adj"] = enrichment.groupby(
            [family, enrichment["class"], np.where(family == "head", enrichment.annotation, "")]
        )[column].transform(lambda p: stats.false_discovery_control(p, method="bh"))
    positivity = []
    for (cls, layer, head), group in totals.groupby(["class", "layer", "head"]):
        test = stats.wilcoxon(group.relevance_sum, alternative="greater")
        positivity.append((cls, layer, head, len(group), test.statistic, test.pvalue))
    positivity = pd.DataFrame(positivity, columns=["class", "layer", "head", "n", "statistic", "p"])
    positivity["p_adj"] = positivity.groupby("class").p.transform(lambda p: stats.false_discovery_control(p))
    seconds = time.perf_counter() - start
    scores.to_parquet(out / "pandas_scores.parquet")
    enrichment.to_parquet(out / "pandas_enrichment.parquet")
    positivity.to_parquet(out / "pandas_positivity.parquet")
    return {"seconds": seconds}


def _child(phase: str, args: argparse.Namespace) -> dict:
    """Run one side in a subprocess; its JSON result plus its peak RSS (MiB)."""
    command = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--workdir",
        str(args.workdir),
        "--memory-limit",
        args.memory_limit,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{phase} failed with status {status}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    # CPU seconds of the whole subprocess (all threads, imports included): fairer than wall time on a
    # machine shared with other jobs
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def compare(out: Path) -> dict:
    import pandas as pd

    keys = ["accession", "layer", "head", "annotation"]
    duck_scores = pd.concat([pd.read_parquet(out / "duckdb_protein_head_scores.parquet")])
    pandas_scores = pd.read_parquet(out / "pandas_scores.parquet")
    heads = pandas_scores[pandas_scores.layer >= 0].merge(duck_scores, on=keys, suffixes=("_pd", "_duck"))
    assert len(heads) == (pandas_scores.layer >= 0).sum() == len(duck_scores), "score rows differ"
    enrichment = pd.read_parquet(out / "pandas_enrichment.parquet")
    duck_enrichment = pd.read_parquet(out / "duckdb_head_enrichment.parquet")
    duck_enrichment = duck_enrichment[duck_enrichment.testable]  # the grid also lists cells without proteins
    merged = enrichment[enrichment.layer >= 0].merge(
        duck_enrichment, on=["class", "annotation", "layer", "head"], suffixes=("_pd", "_duck")
    )
    assert len(merged) == len(duck_enrichment)
    residue = enrichment[enrichment.layer < 0].merge(
        pd.read_parquet(out / "duckdb_residue_enrichment.parquet"),
        on=["class", "annotation"],
        suffixes=("_pd", "_duck"),
    )
    positivity = pd.read_parquet(out / "pandas_positivity.parquet").merge(
        pd.read_parquet(out / "duckdb_head_positivity.parquet"),
        on=["class", "layer", "head"],
        suffixes=("_pd", "_duck"),
    )

    def rel(a, b) -> float:
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if len(a) else 0.0

    diffs = {
        "r_max_abs": float(np.max(np.abs(heads.r_pd - heads.r_duck))),
        "rra_max_abs": float(np.max(np.abs(heads.rra_pd - heads.rra_duck))),
        "wilcoxon_statistic_max_rel": rel(merged.statistic_duck, merged.statistic_pd),
        "wilcoxon_p_max_rel": rel(merged.p_duck, merged.p_pd),
        "p_adj_max_rel": rel(merged.p_adj_duck, merged.p_adj_pd),
        "t_p_max_rel": rel(merged.t_p_duck, merged.t_p_pd),
        "residue_p_max_rel": rel(residue.p_duck, residue.p_pd),
        "positivity_p_max_rel": rel(positivity.p_duck, positivity.p_pd),
        "positivity_p_adj_max_rel": rel(positivity.p_adj_duck, positivity.p_adj_pd),
    }
    assert diffs["r_max_abs"] <= 1e-9 and diffs["rra_max_abs"] <= 1e-12, diffs
    assert all(v <= 1e-6 for k, v in diffs.items() if k.endswith("_rel")), diffs
    diffs["significant_cells"] = int(merged.significant.sum())
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 proteins instead of 1,000")
    parser.add_argument("--proteins", type=int, help="number of proteins (overrides --quick)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/protxai_stats_bench"))
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit")
    parser.add_argument("--duckdb-only", action="store_true", help="skip the pandas baseline (scaling runs)")
    parser.add_argument("--phase", choices=["duckdb", "pandas"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    store_path = args.workdir / "store"
    if args.phase:
        runner = run_duckdb(store_path, args.workdir, args.memory_limit) if args.phase == "duckdb" else None
        print(json.dumps(runner or run_pandas(store_path, args.workdir)))
        return
    n = args.proteins or (100 if args.quick else 1000)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    start = time.perf_counter()
    sizes = write_store(store_path, n)
    sizes["generate_seconds"] = time.perf_counter() - start
    sizes["store_mib"] = sum(f.stat().st_size for f in store_path.rglob("*") if f.is_file()) / 2**20
    load_before = os.getloadavg()[0]
    duck = _child("duckdb", args)
    if args.duckdb_only:
        baseline, diffs = (
            {"seconds": float("nan"), "peak_rss_mib": float("nan"), "cpu_seconds": float("nan")},
            {},
        )
    else:
        baseline = _child("pandas", args)
        diffs = compare(args.workdir)
    result = {
        "benchmark": "stats",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {os.cpu_count()} CPUs",
        **sizes,
        "heads": LAYERS * HEADS_PER_LAYER,
        "annotations": ANNOTATION_TYPES,
        "memory_limit": args.memory_limit,
        # the machine is shared: the 1-minute load average says how contended the timings were
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "duckdb": duck,
        "pandas_scipy": baseline,
        "speedup": baseline["seconds"] / duck["seconds"],
        "speedup_cpu": baseline["cpu_seconds"] / duck["cpu_seconds"],
        "max_diffs": diffs,
    }
    print(f"{'side':<14}{'wall s':>10}{'CPU s':>10}{'peak RSS MiB':>14}")
    for name, side in (("duckdb", duck), ("pandas+scipy", baseline)):
        print(f"{name:<14}{side['seconds']:>10.1f}{side['cpu_seconds']:>10.1f}{side['peak_rss_mib']:>14.0f}")
    print(
        f"proteins={n} head rows={sizes['head_rows']:,} speedup wall={result['speedup']:.1f}x "
        f"CPU={result['speedup_cpu']:.1f}x"
    )
    print("max diffs:", json.dumps(diffs))
    print(f"load average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
