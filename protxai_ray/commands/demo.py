"""`protxai demo [--store S]`: ingest → attribute (trained + shuffled control) → stats → analyze (faithfulness,
attention baseline) → report."""

from __future__ import annotations

import argparse
import math

from protxai_ray.commands.attribute import _steps
from protxai_ray.demo import DEMO_MAX_LENGTH, DEMO_MEMBRANE, DEMO_OTHER, DEMO_TOLERANCE

HELP = "run the whole pipeline on shipped real data with the shipped demo models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default="demo_store", help="local directory or s3://bucket/prefix")
    parser.add_argument("--report", help="report directory (default: STORE/report, or ./demo_report for S3)")
    parser.add_argument(
        "--membrane", type=int, default=DEMO_MEMBRANE, help=f"membrane proteins (default {DEMO_MEMBRANE})"
    )
    parser.add_argument(
        "--other", type=int, default=DEMO_OTHER, help=f"non-membrane proteins (default {DEMO_OTHER})"
    )
    parser.add_argument(
        "--max-length", type=int, default=DEMO_MAX_LENGTH, help=f"longest protein (default {DEMO_MAX_LENGTH})"
    )
    parser.add_argument(
        "--steps", type=_steps, default="auto", help="'auto' (default, error-controlled) or fixed steps"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEMO_TOLERANCE,
        help=f"head error goal per protein of --steps auto (default {DEMO_TOLERANCE})",
    )
    parser.add_argument("--actors", type=int, default=2, help="local Ray actors")


def run(args: argparse.Namespace) -> int:
    from protxai_ray.demo import run_demo

    result = run_demo(
        store=args.store,
        report_dir=args.report,
        membrane=args.membrane,
        other=args.other,
        max_length=args.max_length,
        steps=args.steps,
        tolerance=args.tolerance,
        actors=args.actors,
    )
    print()
    print("Top heads for transmembrane (class GO:0016020, Wilcoxon r > 0, BH over all heads):")
    print(f"  {'layer':>5} {'head':>4} {'n':>4} {'p_adj':>10} {'median r':>9}")
    for layer, head, n, p_adj, median_r in result.top_heads:
        print(f"  {layer:>5} {head:>4} {n:>4} {p_adj:>10.3g} {median_r:>9.3f}")

    def fmt(p: float | None) -> str:
        return "n/a" if p is None else f"{p:.3g}"

    for name, count in result.significant.items():
        print(
            f"{name}: {count} BH-significant transmembrane heads (composition-adjusted: "
            f"{result.significant_aa[name]}, seed overlay: {result.significant_overlay[name]}); "
            f"embedding-level p_adj {fmt(result.embedding.get(name))} "
            f"(composition-adjusted {fmt(result.embedding_aa.get(name))})"
        )
    above = [row for row in result.comparison if row[4] is not None and row[4] > 0]
    print(
        "Trained vs shuffled-label control (transmembrane, GO:0016020; paired per-protein Δr, 95 % bootstrap "
        f"CI): {len(above)} of {len(result.comparison)} heads with CI above 0"
    )
    for layer, head, n, diff, low, high in result.comparison[:5]:
        ci = "n/a" if low is None else f"[{low:.3f}, {high:.3f}]"
        print(f"  layer {layer} head {head}: n={n} Δr={diff:.3f} {ci}")
    cell = result.attention
    if cell:
        rho = "n/a" if math.isnan(cell["spearman_rho"]) else f"{cell['spearman_rho']:.2f}"
        print(
            "Attribution vs attention received (transmembrane, GO:0016020; paired Δr = r(attribution) − "
            f"r(attention), 95 % bootstrap CI): {cell['above_zero']} of {cell['heads']} heads with CI above 0, "
            f"{cell['below_zero']} below; significant heads {cell['significant']} vs "
            f"{cell['attention_significant']} ({cell['both']} in both); Spearman ρ of mean r across heads {rho}"
        )
    for name, run_id in result.runs.items():
        print(f"run_id={run_id} ({name})")
    if result.attention_run:
        print(f"run_id={result.attention_run} (attention baseline of the membrane run)")
    print(f"report={result.report}")
    return 0
