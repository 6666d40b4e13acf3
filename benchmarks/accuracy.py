"""Accuracy of every path-integration setting against a dense reference, and the seed's cost at equal accuracy.

For each protein: the dense reference (``dense.dense_reference``: Richardson-extrapolated trapezoid over
4,096 intervals with exact differences of the head outputs; its time is recorded), then every setting of
``SETTINGS`` through ``attribute_batch`` (batch 1): the seed's procedure (``derivative="seed"``: Gauss–Legendre
nodes, ``torch.gradient`` over the alphas) at 50 and 500 steps, captum ``LayerConductance``'s discretisation
(``derivative="finite"``; equal to captum to 1e-5 relative, tests/attribution/test_parity_captum.py) at 50,
exact and spectral at fixed 32/128/512 steps, and ``steps="auto"`` at tolerance 1 % (the default) and
0.25 %. Per setting: true head error vs the reference (max over layers of the relative Frobenius error of
the [heads, tokens] slice, and of the whole tensor), the estimated ``head_error`` (auto), path points used,
completeness delta, wall and CPU seconds of our engine.

The seed's *time*: the reference code pays one captum attribution per layer (LayerConductance) plus one
for the embedding (LayerIntegratedGradients), each at batch size 1. ``protxai_ray.attribution.reference``
runs exactly those; LayerIntegratedGradients and LayerConductance of ``--seed-layers`` layers are timed and
the mean layer time is scaled to all layers, and timings at fewer steps than 500 are scaled linearly
(every cost is linear in the steps); both scalings are recorded in the JSON.

Cases: (i) the shipped membrane model on the demo's proteins (the held-out TMbed fold 4, selected exactly
like ``protxai demo``: ``demo.DEMO_MEMBRANE`` membrane + ``DEMO_OTHER`` other proteins of 30 to
``DEMO_MAX_LENGTH`` residues in md5(accession) order — 30 + 10 of ≤ 250 aa at the time of writing —
target = the true label); (ii) a random-weight BERT, 30 layers × 16 heads, hidden 256, intermediate 1024, initializer
range 0.25 (a rough path), on transmembrane proteins of about 80 residues from the same fold.

    python benchmarks/accuracy.py [--quick] [--out [FILE.json]] [--proteins N] [--random-proteins N]

``--quick`` (< 3 min): the 2 shortest demo proteins, a 2-layer random model, 1,024 reference intervals,
seed timings at 50 steps. ``--out`` without a file writes benchmarks/results/accuracy_<date>.json.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protxai_ray.attribution import attribute_batch  # noqa: E402
from protxai_ray.attribution.dense import dense_reference, layer_errors, relative_error  # noqa: E402
from protxai_ray.attribution.quadrature import node_plan  # noqa: E402
from protxai_ray.attribution.reference import (  # noqa: E402
    reference_embedding_ig,
    reference_head_conductance,
)
from protxai_ray.attribution.settings import SEED_STEPS, AttributionSettings  # noqa: E402
from protxai_ray.demo import (  # noqa: E402
    DEMO_DATA,
    DEMO_MAX_LENGTH,
    DEMO_MEMBRANE,
    DEMO_MODELS,
    DEMO_OTHER,
    HELDOUT_FOLD_FILE,
)
from protxai_ray.models import load_model  # noqa: E402
from protxai_ray.models.random_init import write_random_model  # noqa: E402
from protxai_ray.models.targets import resolve_target  # noqa: E402
from protxai_ray.uniprot.records import ProteinEntry  # noqa: E402
from protxai_ray.uniprot.tmbed import parse_tmbed  # noqa: E402

DEMO_MIN_LENGTH = 30  # demo.select_proteins: length BETWEEN 30 AND DEMO_MAX_LENGTH
RANDOM_SHAPE = {"num_layers": 30, "num_heads": 16, "hidden": 256, "intermediate": 1024}
RANDOM_INIT = {"initializer_range": 0.25, "seed": 0}
RANDOM_LENGTH = 80
RANDOM_TARGET = 1

# name -> AttributionSettings fields. "project" settings are the candidates of the equal-accuracy ratio.
SETTINGS: dict[str, dict] = {
    "seed-50": {"steps": 50, "derivative": "seed"},
    "seed-500": {"steps": SEED_STEPS, "derivative": "seed"},
    "finite-50": {"steps": 50, "derivative": "finite"},
    "exact-32": {"steps": 32, "derivative": "exact"},
    "exact-128": {"steps": 128, "derivative": "exact"},
    "exact-512": {"steps": 512, "derivative": "exact"},
    "spectral-32": {"steps": 32, "derivative": "spectral"},
    "spectral-128": {"steps": 128, "derivative": "spectral"},
    "spectral-512": {"steps": 512, "derivative": "spectral"},
    "auto-1%": {"steps": "auto", "tolerance": 0.01},
    "auto-0.25%": {"steps": "auto", "tolerance": 0.0025},
}
PROJECT_SETTINGS = [n for n in SETTINGS if n.split("-")[0] in ("exact", "spectral", "auto")]
SEED_SETTING, DEFAULT_SETTING = "seed-500", "auto-1%"
CORE_SETTINGS = (SEED_SETTING, DEFAULT_SETTING, "auto-0.25%")  # what the summary and the log line read
NOTES = {
    "finite": "derivative='finite' is captum LayerConductance's discretisation; it equals captum's numbers to "
    "1e-5 max relative difference (tests/attribution/test_parity_captum.py, float64, every layer and head)",
    "seed": "derivative='seed' reproduces the xai-proteins reference code's discretisation (Gauss–Legendre "
    "nodes/weights, dh/dalpha = torch.gradient(h, spacing=alphas, edge_order=1)); checked against an "
    "independent implementation of the formula in tests/attribution/test_seed.py",
    "seed_time": "the seed's wall time is captum's: LayerIntegratedGradients + one LayerConductance per layer, "
    "internal_batch_size=1 (protxai_ray.attribution.reference); see seed_time_scaling for what was measured",
    "errors": "true errors are against the dense reference (Richardson trapezoid with exact differences of h); "
    "max_layer_error = max over layers of ||C_l - R_l||_F / ||R_l||_F, tensor_error the same over the "
    "whole [layers, heads, tokens] tensor",
    "equal_accuracy": "the cheapest project setting (exact/spectral fixed steps, auto) whose true max-layer "
    "error is <= the seed-500 error on every protein of the model; ratio = summed seed time / summed time",
}


# ----------------------------------------------------------------------------------------------- proteins


def _fold_entries() -> list[ProteinEntry]:
    """The held-out fold's entries, read by the parser ``protxai demo`` ingests them with."""
    source = DEMO_DATA / HELDOUT_FOLD_FILE
    with gzip.open(source, "rb") as stream:
        return [e for e in parse_tmbed(stream, str(source)) if isinstance(e, ProteinEntry)]


def _is_membrane(entry: ProteinEntry) -> bool:
    return any(f.feature_type == "transmembrane" for f in entry.features)


def _md5(accession: str) -> str:
    return hashlib.md5(accession.encode()).hexdigest()  # DuckDB md5(): lowercase hex of the UTF-8 bytes


def demo_proteins(entries: list[ProteinEntry], count: int | None, quick: bool) -> list[ProteinEntry]:
    """demo.SELECTION_SQL + select_proteins without a store (the same set, checked against an ingested
    store): length in [30, DEMO_MAX_LENGTH], md5(accession) order, the first DEMO_MEMBRANE membrane +
    DEMO_OTHER other proteins, sorted by accession. ``count`` keeps the demo's membrane:other proportion
    (the first of each list); ``quick``: the 2 shortest."""
    rows = sorted((e for e in entries if DEMO_MIN_LENGTH <= len(e.sequence) <= DEMO_MAX_LENGTH),
                  key=lambda e: _md5(e.accession))  # fmt: skip
    membrane = [e for e in rows if _is_membrane(e)][:DEMO_MEMBRANE]
    other = [e for e in rows if not _is_membrane(e)][:DEMO_OTHER]
    if count is not None:
        take = min(len(membrane), math.ceil(count * DEMO_MEMBRANE / (DEMO_MEMBRANE + DEMO_OTHER)))
        membrane, other = membrane[:take], other[: max(0, count - take)]
    chosen = sorted(membrane + other, key=lambda e: e.accession)
    if quick:
        chosen = sorted(chosen, key=lambda e: (len(e.sequence), e.accession))[:2]
    return chosen


def random_model_proteins(entries: list[ProteinEntry], count: int) -> list[ProteinEntry]:
    """Transmembrane proteins of the fold closest to 80 residues (ties: md5 order)."""
    membrane = [e for e in entries if _is_membrane(e)]
    return sorted(membrane, key=lambda e: (abs(len(e.sequence) - RANDOM_LENGTH), _md5(e.accession)))[:count]


# ----------------------------------------------------------------------------------------------- timing


def timed(function, *args, **kwargs):
    """(value, wall seconds, process CPU seconds)."""
    start, cpu = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start, time.process_time() - cpu


def measured_layers(layers: int, count: int) -> list[int]:
    """``count`` layers spread evenly, first and last included (count 1: the middle layer). LayerConductance
    of layer l back-propagates only through the layers above l, so first + last average to the mean."""
    if count >= layers:
        return list(range(layers))
    if count == 1:
        return [layers // 2]
    return sorted({round(i * (layers - 1) / (count - 1)) for i in range(count)})


def seed_time(adapter, sequence: str, target: int, steps: int, layers: list[int]) -> dict:
    """The seed's cost for one protein at ``SEED_STEPS`` steps, from captum runs at ``steps`` steps."""
    _, ig_s, ig_cpu = timed(reference_embedding_ig, adapter, sequence, target, steps)
    layer_s, layer_cpu = [], []
    for layer in layers:
        _, seconds, cpu = timed(reference_head_conductance, adapter, sequence, target, layer, steps)
        layer_s.append(seconds)
        layer_cpu.append(cpu)
    scale = SEED_STEPS / steps
    total = adapter.num_layers
    return {
        "measured_steps": steps,
        "step_scale": scale,
        "measured_layers": layers,
        "layer_scale": total / len(layers),
        "ig_s": ig_s,
        "layer_s": layer_s,
        "seconds": (ig_s + float(np.mean(layer_s)) * total) * scale,
        "cpu_seconds": (ig_cpu + float(np.mean(layer_cpu)) * total) * scale,
    }


# ----------------------------------------------------------------------------------------------- one protein


def nodes_of(settings: AttributionSettings, result) -> int:
    """Path points the engine evaluated (finite: n IG nodes + n + 1 conductance nodes; exact adds one
    forward-mode pass per node, not counted here)."""
    if settings.adaptive:
        return int(result.n_steps)
    return node_plan(settings.method, int(settings.steps), settings.effective_derivative).num_nodes


def run_protein(adapter, name: str, sequence: str, target: int, args, seed_layers: list[int]) -> dict:
    (ref_ig, reference), dense_s, dense_cpu = timed(
        dense_reference, adapter, sequence, target, args.intervals
    )
    row = {
        "accession": name,
        "length": len(sequence),
        "target": target,
        "dense": {
            "intervals": args.intervals,
            "seconds": dense_s,
            "cpu_seconds": dense_cpu,
            "ig_sum": float(ref_ig.sum()),
        },
        "settings": {},
    }
    for setting in args.settings:
        settings = AttributionSettings(**SETTINGS[setting])
        (result,), seconds, cpu = timed(attribute_batch, adapter, [sequence], [target], settings)
        per_layer = layer_errors(result.heads.astype(np.float64), reference)
        row["settings"][setting] = {
            "max_layer_error": float(per_layer.max()),
            "tensor_error": relative_error(result.heads.astype(np.float64), reference),
            "layer_errors": [float(e) for e in per_layer],
            "residue_error": relative_error(result.residues.astype(np.float64), ref_ig),
            "head_error_estimate": result.head_error,
            "nodes": nodes_of(settings, result),
            "derivative": result.derivative,
            "convergence_delta": result.convergence_delta,
            "seconds": seconds,
            "cpu_seconds": cpu,
        }
        row.setdefault("logit", result.logit)
        row.setdefault("baseline_logit", result.baseline_logit)
    row["seed_time"] = (
        seed_time(adapter, sequence, target, args.seed_steps, seed_layers) if args.seed_time else None
    )
    return row


def warm_up(adapter) -> None:
    """First forward-mode / autograd / captum calls pay one-off setup: not in any timed row."""
    for derivative in ("seed", "finite", "exact", "spectral"):
        attribute_batch(adapter, ["MKTAYIAK"], [0], steps=2, derivative=derivative)
    attribute_batch(adapter, ["MKTAYIAK"], [0], steps="auto", max_nodes=48)
    reference_embedding_ig(adapter, "MKTAYIAK", 0, 2)
    reference_head_conductance(adapter, "MKTAYIAK", 0, 0, 2)
    dense_reference(adapter, "MKTAYIAK", 0, intervals=4)


# ----------------------------------------------------------------------------------------------- summaries


def summarise(rows: list[dict], settings: list[str]) -> dict:
    def values(setting: str, key: str) -> np.ndarray:
        return np.array([r["settings"][setting][key] for r in rows], dtype=np.float64)

    per_setting = {}
    for setting in settings:
        err = values(setting, "max_layer_error")
        per_setting[setting] = {
            "mean_max_layer_error": float(err.mean()),
            "median_max_layer_error": float(np.median(err)),
            "worst_max_layer_error": float(err.max()),
            "mean_tensor_error": float(values(setting, "tensor_error").mean()),
            "mean_nodes": float(values(setting, "nodes").mean()),
            "total_seconds": float(values(setting, "seconds").sum()),
            "total_cpu_seconds": float(values(setting, "cpu_seconds").sum()),
            "max_convergence_delta": float(values(setting, "convergence_delta").max()),
        }
    auto = {}
    for setting in ("auto-1%", "auto-0.25%"):
        tolerance = SETTINGS[setting]["tolerance"]
        true, estimate = values(setting, "max_layer_error"), values(setting, "head_error_estimate")
        auto[setting] = {
            "tolerance": tolerance,
            "fraction_true_error_within_tolerance": float(np.mean(true <= tolerance)),
            "fraction_estimate_conservative": float(np.mean(estimate >= true)),
            "median_estimate_over_true": float(np.median(estimate / np.maximum(true, 1e-300))),
            "fraction_estimate_within_tolerance": float(np.mean(estimate <= tolerance)),
            "mean_nodes": float(values(setting, "nodes").mean()),
            "max_nodes": float(values(setting, "nodes").max()),
        }
    seed_error = values(SEED_SETTING, "max_layer_error")
    timed_seed = all(r["seed_time"] is not None for r in rows)
    seed_s = float(sum(r["seed_time"]["seconds"] for r in rows)) if timed_seed else float("nan")
    seed_cpu = float(sum(r["seed_time"]["cpu_seconds"] for r in rows)) if timed_seed else float("nan")
    candidates = [s for s in PROJECT_SETTINGS if s in settings]
    qualifying = [s for s in candidates if np.all(values(s, "max_layer_error") <= seed_error)]
    equal = {
        "seed_setting": SEED_SETTING,
        "seed_mean_max_layer_error": float(seed_error.mean()),
        "seed_seconds_captum": seed_s,
        "seed_cpu_seconds_captum": seed_cpu,
        "seed_seconds_our_engine": per_setting[SEED_SETTING]["total_seconds"],
        "qualifying_settings": qualifying,
        "cheapest": None,
    }
    if qualifying and timed_seed:
        cheapest = min(qualifying, key=lambda s: per_setting[s]["total_seconds"])
        cheapest_cpu = min(qualifying, key=lambda s: per_setting[s]["total_cpu_seconds"])
        equal |= {
            "cheapest": cheapest,
            "cheapest_seconds": per_setting[cheapest]["total_seconds"],
            "cheapest_mean_max_layer_error": per_setting[cheapest]["mean_max_layer_error"],
            "ratio_wall": seed_s / per_setting[cheapest]["total_seconds"],
            "cheapest_by_cpu": cheapest_cpu,
            "ratio_cpu": seed_cpu / per_setting[cheapest_cpu]["total_cpu_seconds"],
        }
    return {
        "proteins": len(rows),
        "residues": int(sum(r["length"] for r in rows)),
        "dense_seconds": float(sum(r["dense"]["seconds"] for r in rows)),
        "settings": per_setting,
        "auto": auto,
        "equal_accuracy": equal,
    }


def run_case(name: str, adapter, proteins: list[tuple[str, str, int]], args, seed_layers: list[int]) -> dict:
    warm_up(adapter)
    rows = []
    for i, (accession, sequence, target) in enumerate(proteins, start=1):
        row = run_protein(adapter, accession, sequence, target, args, seed_layers)
        rows.append(row)
        print(
            f"  [{name} {i}/{len(proteins)}] {accession} ({len(sequence)} aa): dense {row['dense']['seconds']:.1f} s, "
            f"auto-1% err {row['settings']['auto-1%']['max_layer_error']:.2e} "
            f"(est {row['settings']['auto-1%']['head_error_estimate']:.2e}, "
            f"{row['settings']['auto-1%']['nodes']} nodes), seed-500 err "
            f"{row['settings']['seed-500']['max_layer_error']:.2e}"
            + (f", seed time {row['seed_time']['seconds']:.1f} s" if row["seed_time"] else ""),
            flush=True,
        )
    shape = {
        "layers": adapter.num_layers,
        "heads": adapter.num_heads,
        "dtype": str(next(adapter.model.parameters()).dtype),
    }
    scaling = {
        "measured_steps": args.seed_steps,
        "target_steps": SEED_STEPS,
        "measured_layers": seed_layers,
        "layers": adapter.num_layers,
        "formula": "seconds = (t_LayerIntegratedGradients + mean(t_LayerConductance over measured_layers) "
        "* layers) * target_steps / measured_steps",
    }
    return {
        "case": name,
        "model": shape,
        "seed_time_scaling": scaling,
        "proteins": rows,
        "summary": summarise(rows, args.settings),
    }


# ----------------------------------------------------------------------------------------------- output


def print_table(report: dict) -> None:
    print(
        f"\n{report['date']}  {report['machine']['description']}, torch {report['torch']} "
        f"({report['torch_threads']} threads), load (1 min) {report['load_average_before']:.1f} -> "
        f"{report['load_average_after']:.1f}"
    )
    for case in report["cases"]:
        summary = case["summary"]
        print(
            f"\n{case['case']}: {case['model']['layers']} layers x {case['model']['heads']} heads, "
            f"{summary['proteins']} proteins ({summary['residues']} residues); dense reference "
            f"({report['intervals']} intervals) {summary['dense_seconds']:.1f} s"
        )
        header = (
            "setting",
            "mean max-layer err",
            "worst",
            "mean tensor err",
            "mean nodes",
            "wall s",
            "CPU s",
        )
        print(" | ".join(header))
        for setting, s in summary["settings"].items():
            print(
                " | ".join(
                    [
                        setting,
                        f"{s['mean_max_layer_error']:.2e}",
                        f"{s['worst_max_layer_error']:.2e}",
                        f"{s['mean_tensor_error']:.2e}",
                        f"{s['mean_nodes']:.0f}",
                        f"{s['total_seconds']:.2f}",
                        f"{s['total_cpu_seconds']:.2f}",
                    ]
                )
            )
        for setting, a in summary["auto"].items():
            print(
                f"{setting}: true max-layer error <= {a['tolerance']:.2%} in {a['fraction_true_error_within_tolerance']:.0%}"
                f" of proteins; estimate >= true in {a['fraction_estimate_conservative']:.0%}"
                f" (median estimate/true {a['median_estimate_over_true']:.1f}); mean nodes {a['mean_nodes']:.0f}"
            )
        e = summary["equal_accuracy"]
        line = (
            f"seed-500 (captum, batch 1): {e['seed_seconds_captum']:.1f} s, mean error "
            f"{e['seed_mean_max_layer_error']:.2e}; "
        )
        if not math.isfinite(e["seed_seconds_captum"]):
            line += "seed not timed (--no-seed-time)"
        elif e["cheapest"]:
            line += (
                f"cheapest project setting at <= its error on every protein: {e['cheapest']} "
                f"{e['cheapest_seconds']:.2f} s -> {e['ratio_wall']:.1f}x (CPU: {e['cheapest_by_cpu']} "
                f"{e['ratio_cpu']:.1f}x)"
            )
        else:
            line += "no project setting reaches its error on every protein"
        print(line)


def write_results(report: dict, out: str | None, default_name: str) -> None:
    """``--out``: None = no file, "" = benchmarks/results/<default_name>, else that path."""
    if out is None:
        return
    path = Path(out) if out else ROOT / "benchmarks" / "results" / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 short proteins, 2-layer random model (< 3 min)"
    )
    parser.add_argument(
        "--out",
        nargs="?",
        const="",
        default=None,
        help="write JSON (default file: benchmarks/results/accuracy_<date>.json)",
    )
    parser.add_argument("--proteins", type=int, default=None, help="membrane model: first N demo proteins")
    parser.add_argument(
        "--random-proteins", type=int, default=None, help="random model: N proteins of ~80 aa"
    )
    parser.add_argument(
        "--intervals", type=int, default=None, help="dense reference intervals (4096; quick 1024)"
    )
    parser.add_argument("--seed-layers", type=int, default=None, help="captum layers timed (2; quick 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared 2-core machine 2 threads spin-wait and run 10-20x "
        "slower; with 1 thread CPU seconds are the work itself; 0 = torch's default)",
    )
    parser.add_argument(
        "--settings",
        default=",".join(SETTINGS),
        help=f"comma-separated subset of the settings (always with {', '.join(CORE_SETTINGS)}); default all",
    )
    parser.add_argument(
        "--no-seed-time",
        dest="seed_time",
        action="store_false",
        help="skip timing the seed's captum procedure (errors only; no equal-accuracy time ratio)",
    )
    parser.add_argument("--cases", nargs="+", choices=("membrane", "random"), default=("membrane", "random"))
    args = parser.parse_args()
    asked = {name.strip() for name in args.settings.split(",") if name.strip()}
    if asked - set(SETTINGS):
        parser.error(
            f"unknown setting(s) {', '.join(sorted(asked - set(SETTINGS)))}; choose from {', '.join(SETTINGS)}"
        )
    args.settings = [name for name in SETTINGS if name in asked | set(CORE_SETTINGS)]
    if args.threads:
        torch.set_num_threads(args.threads)
    args.intervals = args.intervals or (1024 if args.quick else 4096)
    load_before = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    entries = _fold_entries()
    seed_layer_count = args.seed_layers or (1 if args.quick else 2)
    cases = []
    if "membrane" in args.cases:
        adapter = load_model(str(DEMO_MODELS / "membrane"))
        chosen = demo_proteins(entries, args.proteins, args.quick)
        proteins = []
        for e in chosen:
            features = {f.feature_type for f in e.features}
            target = resolve_target(adapter, "label", [], [], feature_types=features, accession=e.accession)
            proteins.append((e.accession, e.sequence, target))
        args.seed_steps = 50 if args.quick else SEED_STEPS
        layers = measured_layers(adapter.num_layers, seed_layer_count)
        print(
            f"membrane model: {len(proteins)} proteins, seed timed at {args.seed_steps} steps on layers {layers}"
        )
        cases.append(run_case("membrane", adapter, proteins, args, layers))
    if "random" in args.cases:
        shape = RANDOM_SHAPE | ({"num_layers": 2} if args.quick else {})
        chosen = random_model_proteins(entries, args.random_proteins or 1)
        proteins = [(e.accession, e.sequence, RANDOM_TARGET) for e in chosen]
        args.seed_steps = 50  # 30 layers x 500 steps at batch 1 is hours: scaled linearly (recorded)
        name = f"random-bert-{shape['num_layers']}x{shape['num_heads']}-h{shape['hidden']}"
        with tempfile.TemporaryDirectory() as tmp:
            adapter = load_model(
                str(write_random_model(Path(tmp), model_type="bert", **shape, **RANDOM_INIT))
            )
            layers = measured_layers(adapter.num_layers, seed_layer_count)
            print(
                f"{name}: {len(proteins)} proteins, seed timed at {args.seed_steps} steps on layers {layers}"
            )
            case = run_case(name, adapter, proteins, args, layers)
        case["model"] |= shape | RANDOM_INIT
        cases.append(case)
    report = {
        "benchmark": "accuracy",
        "date": time.strftime("%Y-%m-%d"),
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "command": " ".join(sys.argv),
        "machine": {
            "description": f"{platform.machine()} CPU, {os.cpu_count()} cores",
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "intervals": args.intervals,
        "settings": {name: SETTINGS[name] for name in args.settings},
        "seed_timed": args.seed_time,
        "project_settings": PROJECT_SETTINGS,
        "notes": NOTES,
        "cases": cases,
    }
    print_table(report)
    write_results(report, args.out, f"accuracy_{report['date']}.json")


if __name__ == "__main__":
    main()
