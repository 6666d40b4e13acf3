"""Attribution engine vs the seed's reference method (captum per layer + embedding, batch 1).

On the SAME random-weight model, protein(s) and steps in one run: the reference (L + 1 captum runs,
``internal_batch_size=1``), our captum-compatible mode (``derivative="finite"``: identical numbers,
checked to ≤ 1e-4 max relative difference) and our default (Gauss–Legendre, exact ∂h/∂α). Reports
proteins/s, the ratio, FLOPs, MFU against a measured CPU matmul peak (or the card's datasheet peak),
peak RSS of our engine alone at N = 1,000 (a fresh process), and bf16/tf32 error against fp32.

    python benchmarks/attribution.py [--quick] [--out FILE.json]

The reference is slow (L + 1 captum runs × n nodes at batch 1): it attributes ``--reference-proteins``
proteins (1 by default) — proteins/s is the figure compared, ours runs on more proteins.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protxai_ray.attribution import attribute_batch  # noqa: E402
from protxai_ray.attribution.flops import attribution_flops, gpu_peak, measure_cpu_peak, reference_flops  # noqa: E402
from protxai_ray.attribution.memory import model_shape  # noqa: E402
from protxai_ray.attribution.reference import (  # noqa: E402
    reference_embedding_ig,
    reference_head_conductance,
)
from protxai_ray.models import load_model  # noqa: E402
from protxai_ray.models.random_init import write_random_model  # noqa: E402

AMINO_ACIDS = list("ACDEFGHIKLMNPQRSTVWY")
# The 2-core CPU is shared with other work, so the full run keeps to what finishes in ~25 min: the
# reference times LIG + ``ref_layers`` LayerConductance runs (each is the same full forward+backward at
# batch 1) and scales to all layers; N = 400 runs 6 steps (every cost here is linear in the steps).
FULL_CASES = [
    # name, model_type, layers, heads, hidden, intermediate, residues, our proteins, steps, ref layers, precision
    ("bert-30x16-h256", "bert", 30, 16, 256, 1024, 128, 1, 50, 1, False),
    ("esm2-8M-shape", "esm", 6, 20, 320, 1280, 128, 1, 50, 2, True),
    ("bert-30x16-h256", "bert", 30, 16, 256, 1024, 400, 1, 6, 1, False),
]
QUICK_CASES = [("bert-2x4-h32", "bert", 2, 4, 32, 64, 32, 2, 8, 2, True)]
MEMORY_PROBE = {"full": (1000, 2), "quick": (200, 2)}  # residues, steps: one node per pass at N = 1,000


def random_proteins(count: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(AMINO_ACIDS, length)) for _ in range(count)]


def max_relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_dir(cache: dict, root: Path, model_type: str, layers: int, heads: int, hidden: int, inter: int):
    key = (model_type, layers, heads, hidden, inter)
    if key not in cache:
        path = write_random_model(
            root / "_".join(map(str, key)),
            model_type=model_type,
            num_layers=layers,
            num_heads=heads,
            hidden=hidden,
            intermediate=inter,
            seed=0,
        )
        cache[key] = str(path)
    return cache[key]


CPU_SECONDS: list[float] = []  # process CPU seconds of the last timed() call
CPU_PEAK: list[float] = []  # FLOPs per process CPU-second of a big matmul (set in main on CPU runs)


def timed(function, *args, **kwargs):
    """(value, wall seconds); the call's process CPU seconds go to CPU_SECONDS[-1]. With one torch thread
    CPU seconds are the work itself, unaffected by neighbours on a shared machine."""
    start, cpu = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    CPU_SECONDS.append(time.process_time() - cpu)
    return value, time.perf_counter() - start


def reference_layers(layers: int, count: int | None) -> list[int]:
    """All layers, or ``count`` spread evenly (first and last included)."""
    if count is None or count >= layers:
        return list(range(layers))
    return sorted({round(i * (layers - 1) / (count - 1)) for i in range(count)}) if count > 1 else [0]


def run_case(case, path: str, reference_proteins: int, peak: float, device: str) -> dict:
    name, model_type, layers, heads, hidden, inter, residues, ours_count, steps, layer_count, precision = case
    adapter = load_model(path, device=device) if device != "cpu" else load_model(path)
    shape = model_shape(adapter)
    proteins = random_proteins(ours_count, residues, seed=residues)
    targets = [1] * len(proteins)
    measured = reference_layers(layers, layer_count)
    for derivative in (
        "finite",
        "exact",
        "spectral",
    ):  # warm-up: first forward-mode/autograd calls pay one-off setup
        attribute_batch(adapter, ["MKTAYIAK"], [1], steps=2, derivative=derivative)
    reference, ig_seconds, layer_seconds, ig_cpu, layer_cpu = [], 0.0, [], 0.0, []
    for sequence in proteins[:reference_proteins]:
        ig, seconds = timed(reference_embedding_ig, adapter, sequence, 1, steps)
        ig_seconds += seconds
        ig_cpu += CPU_SECONDS[-1]
        per_layer = []
        for layer in measured:
            conductance, seconds = timed(reference_head_conductance, adapter, sequence, 1, layer, steps)
            per_layer.append(conductance)
            layer_seconds.append(seconds)
            layer_cpu.append(CPU_SECONDS[-1])
        reference.append((ig, np.stack(per_layer)))
    # Every layer's captum run is the same full forward+backward at batch 1; unmeasured layers cost the mean.
    reference_s = ig_seconds + float(np.mean(layer_seconds)) * layers * reference_proteins
    reference_cpu = ig_cpu + float(np.mean(layer_cpu)) * layers * reference_proteins
    compatible, compatible_s = timed(
        attribute_batch, adapter, proteins, targets, steps=steps, derivative="finite"
    )
    compatible_cpu = CPU_SECONDS[-1]
    default, default_s = timed(attribute_batch, adapter, proteins, targets, steps=steps)
    default_cpu = CPU_SECONDS[-1]
    spectral, spectral_s = timed(
        attribute_batch, adapter, proteins, targets, steps=steps, derivative="spectral"
    )
    spectral_cpu = CPU_SECONDS[-1]
    diff_residues = max(
        max_relative(r.residues, ref[0]) for r, ref in zip(compatible, reference, strict=False)
    )
    diff_heads = max(
        max_relative(r.heads[measured], ref[1]) for r, ref in zip(compatible, reference, strict=False)
    )
    ref_pps = reference_proteins / reference_s
    flops_finite = attribution_flops(shape, residues, steps, "finite") * len(proteins)
    flops_exact = attribution_flops(shape, residues, steps, "exact") * len(proteins)
    flops_spectral = attribution_flops(shape, residues, steps, "spectral") * len(proteins)
    flops_reference = reference_flops(shape, residues, steps) * reference_proteins
    row = {
        "case": name,
        "residues": residues,
        "steps": steps,
        "layers": layers,
        "heads": heads,
        "reference_proteins": reference_proteins,
        "reference_layers_measured": measured,
        "reference_ig_s": ig_seconds,
        "reference_layer_s": layer_seconds,
        "reference_s": reference_s,
        "reference_proteins_per_s": ref_pps,
        "ours_proteins": len(proteins),
        "compatible_s": compatible_s,
        "compatible_proteins_per_s": len(proteins) / compatible_s,
        "default_s": default_s,
        "default_proteins_per_s": len(proteins) / default_s,
        "reference_cpu_s": reference_cpu,
        "compatible_cpu_s": compatible_cpu,
        "default_cpu_s": default_cpu,
        "ratio_compatible_cpu": reference_cpu / reference_proteins / (compatible_cpu / len(proteins)),
        "ratio_default_cpu": reference_cpu / reference_proteins / (default_cpu / len(proteins)),
        "reference_mfu_cpu_time": flops_reference / reference_cpu / CPU_PEAK[0] if CPU_PEAK else None,
        "compatible_mfu_cpu_time": flops_finite / compatible_cpu / CPU_PEAK[0] if CPU_PEAK else None,
        "default_mfu_cpu_time": flops_exact / default_cpu / CPU_PEAK[0] if CPU_PEAK else None,
        "ratio_compatible": len(proteins) / compatible_s / ref_pps,
        "ratio_default": len(proteins) / default_s / ref_pps,
        "max_rel_diff_residues": diff_residues,
        "max_rel_diff_heads": diff_heads,
        "agree_1e-4": diff_residues <= 1e-4 and diff_heads <= 1e-4,
        "reference_gflop": flops_reference / 1e9,
        "compatible_gflop": flops_finite / 1e9,
        "default_gflop": flops_exact / 1e9,
        "reference_mfu": flops_reference / reference_s / peak,
        "compatible_mfu": flops_finite / compatible_s / peak,
        "default_mfu": flops_exact / default_s / peak,
        "default_max_convergence_delta": max(r.convergence_delta for r in default),
        "spectral_s": spectral_s,
        "spectral_cpu_s": spectral_cpu,
        "spectral_proteins_per_s": len(proteins) / spectral_s,
        "ratio_spectral": len(proteins) / spectral_s / ref_pps,
        "ratio_spectral_cpu": reference_cpu / reference_proteins / (spectral_cpu / len(proteins)),
        "spectral_gflop": flops_spectral / 1e9,
        "spectral_mfu": flops_spectral / spectral_s / peak,
        "spectral_mfu_cpu_time": flops_spectral / spectral_cpu / CPU_PEAK[0] if CPU_PEAK else None,
        # Both exact and spectral converge exponentially in the steps; the captum scheme only at first
        # order: their distance from the exact result at the same nodes shows which error is larger.
        "max_rel_diff_heads_spectral_vs_exact": max(
            max_relative(a.heads, b.heads) for a, b in zip(spectral, default, strict=True)
        ),
        "max_rel_diff_heads_finite_vs_exact": max(
            max_relative(a.heads, b.heads) for a, b in zip(compatible, default, strict=True)
        ),
        "compatible_max_convergence_delta": max(r.convergence_delta for r in compatible),
    }
    if precision:
        row["precision"] = precision_errors(
            adapter, proteins[:1], steps, default[0], default_s / len(proteins)
        )
    return row


def precision_errors(adapter, proteins: list[str], steps: int, fp32, fp32_s: float) -> dict:
    """Max relative error of head relevance (and of a head-vs-mask correlation r) against fp32."""
    base, base_s = [fp32], fp32_s
    mask = np.zeros(base[0].heads.shape[-1])
    mask[10:30] = 1  # a fixed synthetic "annotation" for the r comparison
    out = {"fp32_s": base_s}
    for precision in ("tf32", "bf16"):
        other, seconds = timed(
            attribute_batch, adapter, proteins, [1] * len(proteins), steps=steps, precision=precision
        )
        r_base = np.array([[np.corrcoef(h, mask)[0, 1] for h in layer] for layer in base[0].heads])
        r_other = np.array([[np.corrcoef(h, mask)[0, 1] for h in layer] for layer in other[0].heads])
        out[precision] = {
            "seconds": seconds,
            "max_rel_error_heads": max(
                max_relative(o.heads, b.heads) for o, b in zip(other, base, strict=True)
            ),
            "max_abs_error_r": float(np.nanmax(np.abs(r_other - r_base))),
        }
    return out


def memory_probe(path: str, residues: int, steps: int) -> None:
    """Child process: attribute one protein of ``residues`` residues and print time and peak RSS as JSON."""
    adapter = load_model(path)
    sequence = random_proteins(1, residues, seed=residues)[0]
    result, seconds = timed(attribute_batch, adapter, [sequence], [1], steps=steps)
    print(
        json.dumps(
            {
                "residues": residues,
                "steps": steps,
                "seconds": seconds,
                "peak_rss_mb": peak_rss_mb(),
                "convergence_delta": result[0].convergence_delta,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model and steps (< 2 min)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "attribution.json"))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--reference-proteins", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--reference-layers",
        type=int,
        default=None,
        help="time captum LayerConductance on this many layers and scale to all (default: per case)",
    )
    parser.add_argument("--memory-residues", type=int, default=None, help="N for the bounded-memory probe")
    parser.add_argument(
        "--cases", type=int, nargs="+", default=None, help="run only these case indices (0-based, FULL_CASES)"
    )
    parser.add_argument("--probe", nargs=3, metavar=("PATH", "RESIDUES", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe:
        memory_probe(args.probe[0], int(args.probe[1]), int(args.probe[2]))
        return
    cases = QUICK_CASES if args.quick else FULL_CASES
    if args.cases is not None:
        cases = [cases[i] for i in args.cases]
    memory_residues, memory_steps = MEMORY_PROBE["quick" if args.quick else "full"]
    memory_residues = args.memory_residues or memory_residues
    if args.device == "cpu":
        peak, peak_source = measure_cpu_peak(), "measured 2048x2048 fp32 matmul (wall)"
        CPU_PEAK.append(measure_cpu_peak(cpu_time=True))
    else:
        name = torch.cuda.get_device_name(args.device)
        peak, peak_source = gpu_peak(name, "fp32") or float("nan"), f"datasheet TF32 dense, {name}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache: dict = {}
        for case in cases:
            if args.steps:
                case = (*case[:8], args.steps, *case[9:])
            if args.reference_layers:
                case = (*case[:9], args.reference_layers, case[10])
            path = model_dir(cache, Path(tmp), *case[1:6])
            rows.append(run_case(case, path, args.reference_proteins, peak, args.device))
            print(json.dumps(rows[-1]), flush=True)
        probe_case = cases[0]
        path = model_dir(cache, Path(tmp), *probe_case[1:6])
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--threads",
                str(torch.get_num_threads()),
                "--probe",
                path,
                str(memory_residues),
                str(memory_steps),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        memory = json.loads(child.stdout.strip().splitlines()[-1]) | {"case": probe_case[0]}
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
        if args.device == "cpu"
        else name,
        "torch": torch.__version__,
        "quick": args.quick,
        "peak_flops": peak,
        "peak_source": peak_source,
        "peak_flops_per_cpu_second": CPU_PEAK[0] if CPU_PEAK else None,
        "cases": rows,
        "memory_probe": memory,
        "benchmark_peak_rss_mb": peak_rss_mb(),
    }
    print_table(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


def print_table(report: dict) -> None:
    print(f"\npeak {report['peak_flops'] / 1e9:.1f} GFLOP/s ({report['peak_source']})")
    header = (
        "case",
        "N",
        "steps",
        "ref p/s",
        "compat p/s",
        "ratio",
        "ratio CPU-s",
        "default p/s",
        "ratio",
        "ratio CPU-s",
        "spectral p/s",
        "ratio",
        "ratio CPU-s",
        "max rel diff",
        "spectral/finite vs exact",
        "MFU compat (CPU-s)",
        "MFU default (CPU-s)",
        "MFU spectral (CPU-s)",
    )
    print(" | ".join(header))
    for r in report["cases"]:
        print(
            " | ".join(
                [
                    r["case"],
                    str(r["residues"]),
                    str(r["steps"]),
                    f"{r['reference_proteins_per_s']:.4f}",
                    f"{r['compatible_proteins_per_s']:.4f}",
                    f"{r['ratio_compatible']:.1f}x",
                    f"{r['ratio_compatible_cpu']:.1f}x",
                    f"{r['default_proteins_per_s']:.4f}",
                    f"{r['ratio_default']:.1f}x",
                    f"{r['ratio_default_cpu']:.1f}x",
                    f"{r['spectral_proteins_per_s']:.4f}",
                    f"{r['ratio_spectral']:.1f}x",
                    f"{r['ratio_spectral_cpu']:.1f}x",
                    f"{max(r['max_rel_diff_residues'], r['max_rel_diff_heads']):.1e}",
                    f"{r['max_rel_diff_heads_spectral_vs_exact']:.1e} / {r['max_rel_diff_heads_finite_vs_exact']:.1e}",
                    f"{100 * (r.get('compatible_mfu_cpu_time') or r['compatible_mfu']):.1f}%",
                    f"{100 * (r.get('default_mfu_cpu_time') or r['default_mfu']):.1f}%",
                    f"{100 * (r.get('spectral_mfu_cpu_time') or r['spectral_mfu']):.1f}%",
                ]
            )
        )
    m = report["memory_probe"]
    print(
        f"memory: N={m['residues']} {m['case']} ours peak RSS {m['peak_rss_mb']:.0f} MB in {m['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
