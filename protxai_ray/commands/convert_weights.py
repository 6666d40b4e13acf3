"""`protxai convert-weights SRC OUT_DIR`: a pickle checkpoint → a safetensors classifier directory.

Reads SRC with ``torch.load(weights_only=True)`` (never a full unpickle) and writes OUT_DIR with
``model.safetensors``, ``config.json`` (label map), ``vocab.txt`` and ``conversion.json``; see
``protxai_ray.models.convert``. ``--antiberty`` converts the installed ``antiberty==0.1.3`` checkpoint.
"""

from __future__ import annotations

import argparse

from protxai_ray.errors import ModelLoadError

HELP = "convert a pytorch_model.bin / .pt checkpoint into a safetensors classifier directory (no unpickling)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", help="checkpoint file (pytorch_model.bin, *.pt)")
    parser.add_argument("out_dir", help="directory to write (model.safetensors, config.json, vocab.txt)")
    parser.add_argument("--config", help="config.json describing the model (default: beside SRC)")
    parser.add_argument("--vocab", help="vocab.txt (default: beside SRC or in its parent directory)")
    parser.add_argument("--num-labels", type=int, default=2, help="classes of the classification head")
    parser.add_argument("--label-names", help="comma-separated class names (sets --num-labels)")
    parser.add_argument(
        "--head-from",
        help="checkpoint prefix whose .weight/.bias become the classification head (e.g. cls.chain)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of any newly initialised head")
    parser.add_argument(
        "--antiberty",
        choices=("chain", "random"),
        help="convert the installed antiberty==0.1.3 weights (chain: its heavy/light head) instead of SRC",
    )


def run(args: argparse.Namespace) -> int:
    if args.antiberty:
        from protxai_ray.models.antiberty import write_antiberty_classifier

        try:
            out = write_antiberty_classifier(args.out_dir, head=args.antiberty, seed=args.seed)
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from exc
    else:
        if not args.source:
            raise ModelLoadError("convert-weights needs SRC (a checkpoint file) or --antiberty")
        from protxai_ray.models.convert import convert_weights

        label_names = [n.strip() for n in args.label_names.split(",")] if args.label_names else None
        out = convert_weights(
            args.source,
            args.out_dir,
            config_path=args.config,
            vocab_path=args.vocab,
            num_labels=args.num_labels,
            label_names=label_names,
            head_prefix=args.head_from,
            seed=args.seed,
        )
    print(f"wrote {out}/model.safetensors")
    return 0
