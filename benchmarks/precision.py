"""Head-relevance error per numeric precision, against the fp32 dense reference (the membrane demo model).

bf16 autocast rounds the head outputs to 8 mantissa bits: differencing them (spectral, seed, finite) would
turn rounding into derivative error, so under bf16 the engine uses the exact forward-mode derivative
(``AttributionSettings.effective_derivative``). This measures what that costs: for each protein, the fp32
dense reference (``dense.dense_reference``), then fp32 / bf16 (and tf32, a no-op on most CPUs) at
``steps="auto"`` (1 %) and at 512 fixed nodes, and — to show why the switch exists — a bf16 forward with
the spectral derivative forced (``_force_derivative``). Reports the true max-layer head error, the
estimated error, path points and wall seconds.

    python benchmarks/precision.py [--proteins N] [--intervals 2048] [--out [FILE.json]]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import _fold_entries, demo_proteins, write_results  # noqa: E402
from protxai_ray.attribution import attribute_batch  # noqa: E402
from protxai_ray.attribution import settings as settings_module  # noqa: E402
from protxai_ray.attribution.dense import dense_reference, layer_errors  # noqa: E402
from protxai_ray.demo import DEMO_MODELS  # noqa: E402
from protxai_ray.models import load_model  # noqa: E402
from protxai_ray.models.targets import resolve_target  # noqa: E402

CASES = {
    "fp32 auto-1%": {"steps": "auto", "precision": "fp32"},
    "bf16 auto-1% (exact derivative)": {"steps": "auto", "precision": "bf16"},
    "fp32 spectral-512": {"steps": 512, "precision": "fp32"},
    "bf16 exact-512": {"steps": 512, "precision": "bf16", "derivative": "exact"},
    "bf16 spectral-512 (forced: differencing bf16 h)": {
        "steps": 512,
        "precision": "bf16",
        "force": "spectral",
    },
    "tf32 auto-1%": {"steps": "auto", "precision": "tf32"},
}


def _force_derivative(derivative: str | None):
    """Patch ``effective_derivative`` so a bf16 run differences its activations (measurement only)."""
    original = settings_module.AttributionSettings.effective_derivative
    if derivative is None:
        return original
    settings_module.AttributionSettings.effective_derivative = property(lambda self: derivative)
    return original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, default=4)
    parser.add_argument("--intervals", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", nargs="?", const="", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    model = load_model(str(DEMO_MODELS / "membrane"))
    chosen = demo_proteins(_fold_entries(), args.proteins, quick=False)
    rows = []
    for entry in chosen:
        features = {f.feature_type for f in entry.features}
        target = resolve_target(model, "label", [], [], feature_types=features, accession=entry.accession)
        reference = dense_reference(model, entry.sequence, target, intervals=args.intervals)[1]
        for name, case in CASES.items():
            fields = {k: v for k, v in case.items() if k != "force"}
            original = _force_derivative(case.get("force"))
            try:
                started = time.perf_counter()
                result = attribute_batch(model, [entry.sequence], [target], **fields)[0]
                seconds = time.perf_counter() - started
            finally:
                settings_module.AttributionSettings.effective_derivative = original
            error = float(layer_errors(result.heads.astype(np.float64), reference).max())
            rows.append(
                {
                    "accession": entry.accession,
                    "length": len(entry.sequence),
                    "case": name,
                    "derivative": result.derivative,
                    "true_max_layer_error": error,
                    "estimated_error": result.head_error,
                    "nodes": int(result.n_steps),
                    "seconds": seconds,
                }
            )
            print(f"{entry.accession:<12} {len(entry.sequence):>4} {name:<48} error {error:.2e} "
                  f"estimate {result.head_error if result.head_error is None else f'{result.head_error:.2e}'} "
                  f"nodes {result.n_steps:>5} {seconds:6.1f} s", flush=True)  # fmt: skip
    summary = {}
    for name in CASES:
        mine = [r for r in rows if r["case"] == name]
        errors = np.array([r["true_max_layer_error"] for r in mine])
        summary[name] = {
            "median_error": float(np.median(errors)),
            "max_error": float(errors.max()),
            "mean_nodes": float(np.mean([r["nodes"] for r in mine])),
            "mean_seconds": float(np.mean([r["seconds"] for r in mine])),
        }
    print("\n| case | median error | max error | mean nodes | mean s |\n|---|---:|---:|---:|---:|")
    for name, s in summary.items():
        print(f"| {name} | {s['median_error']:.2e} | {s['max_error']:.2e} | {s['mean_nodes']:.0f} | "
              f"{s['mean_seconds']:.1f} |")  # fmt: skip
    report = {
        "benchmark": "precision",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "threads": args.threads,
        "intervals": args.intervals,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "rows": rows,
        "summary": summary,
    }
    write_results(report, args.out, f"precision_{time.strftime('%Y-%m-%d')}.json")


if __name__ == "__main__":
    main()
