"""`protxai analyze --store S --run ID [--model DIR]`: the analyses that run the model, as run tables.

`--attention-run NEW_ID` instead writes the attention baseline of run ID's proteins as the pseudo-run NEW_ID
(protxai_ray/analyses/attention.py), which `protxai stats --run NEW_ID` tests like an attribution run.
"""

from __future__ import annotations

import argparse

from protxai_ray.analyses.attention import MEASURES, THRESHOLD
from protxai_ray.analyses.faithfulness import DRAWS

HELP = "run the model-based analyses of a run (faithfulness by residue flipping) into the store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store: local directory or s3://bucket/prefix")
    parser.add_argument("--run", required=True, help="run id (printed by `protxai attribute`)")
    parser.add_argument("--model", help="model directory (default: the run manifest's model path)")
    parser.add_argument("--proteins", type=int, default=24, help="proteins to flip (default 24)")
    parser.add_argument(
        "--draws",
        type=int,
        default=DRAWS,
        help=f"random draws per protein, n and kind (≥ 10; default {DRAWS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draws (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device for the forward passes (default cpu)")
    parser.add_argument(
        "--attention-run",
        metavar="NEW_RUN_ID",
        help="instead of the flips: write the attention each token receives (per layer and head) for the "
        "run's proteins as the pseudo-run NEW_RUN_ID (method 'attention'; test it with protxai stats)",
    )
    parser.add_argument(
        "--attention-measure",
        choices=MEASURES,
        default="received",
        help="received: mean attention over query tokens (default); confident: share of query tokens "
        "attending with weight > --attention-threshold (Vig et al. 2021)",
    )
    parser.add_argument(
        "--attention-threshold",
        type=float,
        default=THRESHOLD,
        help=f"high-confidence attention threshold of --attention-measure confident (default {THRESHOLD})",
    )


def _attention(args: argparse.Namespace) -> int:
    from protxai_ray.analyses.attention import attention_run

    summary = attention_run(
        args.store,
        args.run,
        args.attention_run,
        args.model,
        measure=args.attention_measure,
        threshold=args.attention_threshold,
        device=args.device,
    )
    for note in summary.notes:
        print(f"note: {note}")
    print(
        f"wrote attention pseudo-run {summary.run_id} ({summary.measure}, {summary.proteins} proteins of run "
        f"{summary.source_run}); test it with: protxai stats --store {args.store} --run {summary.run_id}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from protxai_ray.analyses.run import analyze_run
    from protxai_ray.errors import check_run_id

    check_run_id(args.run, "--run")
    if args.attention_run:
        return _attention(args)
    summary = analyze_run(
        args.store,
        args.run,
        args.model,
        proteins=args.proteins,
        draws=args.draws,
        seed=args.seed,
        device=args.device,
    )
    for note in summary.notes:
        print(f"note: {note}")
    print(
        "faithfulness: mean target-logit drop, top-n relevant vs n random residues (95 % t CI over proteins)"
    )
    print(f"  {'n':>3} {'proteins':>8} {'top':>24} {'random':>24} {'top - random':>24}")
    for row in summary.faithfulness.itertuples():
        cells = [
            f"{getattr(row, k + '_mean'):.3g} [{getattr(row, k + '_ci_low'):.3g}, {getattr(row, k + '_ci_high'):.3g}]"
            for k in ("top", "random", "diff")
        ]
        print(f"  {row.n:>3} {row.proteins:>8} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24}")
    for rel in summary.written:
        print(f"wrote {rel}")
    return 0
