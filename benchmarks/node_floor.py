"""How few path points can reach the seed's accuracy on the shipped membrane model? A floor, not a method.

The issue behind ``steps="auto"`` asked for the seed's head accuracy (Gauss–Legendre 500 with
``torch.gradient``, ~1.5 % max-layer error here) with at most 100 path points per protein. This benchmark
asks whether *any* fixed composite Gauss–Legendre rule of about that size can, given knowledge no adaptive
method has up front: the panels are spread uniformly over only the part of [0, 1] where the integrand lives
(α ≥ ``--start``; below it a single panel), at several panel counts × nodes per panel, with the exact and
the spectral derivative. Errors are against the dense reference (``attribution/dense.py``), max over layers
of the relative Frobenius error, like ``benchmarks/accuracy.py``. Same proteins as that benchmark (the
demo's, first N).

    python benchmarks/node_floor.py [--proteins N] [--intervals 2048] [--out [FILE.json]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import _fold_entries, demo_proteins, write_results  # noqa: E402
from protxai_ray.attribution import attribute_batch  # noqa: E402
from protxai_ray.attribution.adaptive import SegmentRule, evaluate_segments  # noqa: E402
from protxai_ray.attribution.dense import dense_reference, layer_errors  # noqa: E402
from protxai_ray.attribution.path import PathProbe  # noqa: E402
from protxai_ray.attribution.settings import SEED_STEPS, AttributionSettings  # noqa: E402
from protxai_ray.demo import DEMO_MODELS  # noqa: E402
from protxai_ray.models import load_model  # noqa: E402
from protxai_ray.models.targets import resolve_target  # noqa: E402

# (panels over [start, 1], nodes per panel, derivative); one more panel of the same rule covers [0, start]
RULES = [
    (24, 4, "exact"),
    (24, 4, "spectral"),
    (32, 3, "spectral"),
    (16, 6, "spectral"),
    (12, 8, "spectral"),
    (48, 4, "spectral"),
    (64, 4, "spectral"),
]


def composite_heads(
    adapter, sequence: str, target: int, start: float, panels: int, nodes: int, derivative: str
):
    """Head conductance ``float64[layers, heads, L + 2]`` of the composite rule; returns (heads, points)."""
    input_ids, mask = adapter.encode([sequence])
    edges = np.linspace(start, 1.0, panels + 1)
    jobs = [(0, float(edges[i]), float(edges[i + 1])) for i in range(panels)]
    if start > 0:
        jobs.append((0, 0.0, float(start)))
    with PathProbe(adapter) as probe:
        x, b, _, _ = probe.path_ends(input_ids, mask)
        values = evaluate_segments(
            probe, SegmentRule.gauss_legendre(nodes), derivative, jobs, x, b, input_ids, mask,
            torch.tensor([target]), rows_per_pass=256,
        )  # fmt: skip
    heads = sum(v.heads for v in values).numpy()
    return heads[:, :, : int(mask.sum())], len(jobs) * nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, default=6)
    parser.add_argument("--intervals", type=int, default=2048)
    parser.add_argument("--start", type=float, default=0.3, help="the panels cover [start, 1]")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", nargs="?", const="", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    started = time.time()
    adapter = load_model(str(DEMO_MODELS / "membrane"))
    rows = []
    for entry in demo_proteins(_fold_entries(), None, False)[: args.proteins]:
        features = {f.feature_type for f in entry.features}
        target = resolve_target(adapter, "label", [], [], feature_types=features, accession=entry.accession)
        _, reference = dense_reference(adapter, entry.sequence, target, args.intervals)
        (seed,) = attribute_batch(
            adapter, [entry.sequence], [target], AttributionSettings(steps=SEED_STEPS, derivative="seed")
        )
        row = {
            "accession": entry.accession,
            "length": len(entry.sequence),
            "seed-500": float(layer_errors(seed.heads.astype(np.float64), reference).max()),
            "rules": {},
        }
        for panels, nodes, derivative in RULES:
            heads, points = composite_heads(
                adapter, entry.sequence, target, args.start, panels, nodes, derivative
            )
            name = f"{panels}x{nodes} {derivative}"
            row["rules"][name] = {"points": points, "error": float(layer_errors(heads, reference).max())}
        rows.append(row)
        print(
            f"{entry.accession} ({len(entry.sequence)} aa): seed-500 {row['seed-500']:.2%}; "
            + ", ".join(f"{k} ({v['points']}) {v['error']:.1%}" for k, v in row["rules"].items()),
            flush=True,
        )
    summary = {
        name: {
            "points": rows[0]["rules"][name]["points"],
            "median_error": float(np.median([r["rules"][name]["error"] for r in rows])),
            "proteins_at_or_below_seed": int(sum(r["rules"][name]["error"] <= r["seed-500"] for r in rows)),
        }
        for name in rows[0]["rules"]
    }
    report = {
        "benchmark": "node_floor",
        "date": time.strftime("%Y-%m-%d"),
        "command": "benchmarks/node_floor.py " + " ".join(sys.argv[1:]),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "seconds": time.time() - started,
        "start": args.start,
        "intervals": args.intervals,
        "seed_500_median_error": float(np.median([r["seed-500"] for r in rows])),
        "summary": summary,
        "proteins": rows,
    }
    print(f"\nseed-500 median max-layer error {report['seed_500_median_error']:.2%}")
    for name, s in summary.items():
        print(
            f"{name:>14}: {s['points']:4d} points, median error {s['median_error']:.2%}, "
            f"<= seed on {s['proteins_at_or_below_seed']}/{len(rows)}"
        )
    write_results(report, args.out, f"node_floor_{report['date']}.json")


if __name__ == "__main__":
    main()
