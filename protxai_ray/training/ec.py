"""Best-effort EC level-1 demo model on the shipped UniProt entries with an EC number (a few hundred).

Class = the first digit of the entry's first EC number (``EC:1`` … ``EC:7``). Split: seeded, stratified
80/20 by class, deduplicated by accession and sequence. With ~300 training proteins this model is weak;
the card says how weak next to the majority-class baseline.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from protxai_ray.training.data import LabeledProtein, ProteinSplit, disjoint_split, read_uniprot_collection
from protxai_ray.training.metrics import accuracy, auroc, balanced_accuracy
from protxai_ray.training.model import ModelSpec, save_model_dir
from protxai_ray.training.train import TrainConfig, predict_probabilities, train_classifier

EC_LABELS = [f"EC:{k}" for k in range(1, 8)]


def ec_class(ec_numbers: list[str]) -> int | None:
    """Index into ``EC_LABELS`` of the first EC number's first level, or ``None``."""
    for ec in ec_numbers:
        head = ec.removeprefix("EC:").split(".")[0]
        if head.isdigit() and 1 <= int(head) <= 7:
            return int(head) - 1
    return None


def ec_split(uniprot_dir: str | Path, seed: int = 0, heldout_fraction: float = 0.2) -> ProteinSplit:
    """Stratified seeded split of the UniProt entries that have an EC number."""
    proteins = []
    for entry in read_uniprot_collection(uniprot_dir).entries:
        label = ec_class(entry.ec)
        if label is not None:
            proteins.append(LabeledProtein(entry.accession, entry.sequence.upper(), label, "uniprot"))
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for c in range(len(EC_LABELS)):
        members = [p for p in proteins if p.label == c]
        order = rng.permutation(len(members))
        n_out = int(round(heldout_fraction * len(members))) if len(members) >= 2 else 0
        heldout += [members[i] for i in order[:n_out]]
        train += [members[i] for i in order[n_out:]]
    split = disjoint_split(train, heldout, EC_LABELS)
    split.notes.insert(0, f"split: seeded ({seed}) stratified {heldout_fraction:.0%} held out per class")
    return split


def evaluate_ec(model, split: ProteinSplit, max_residues: int) -> dict:
    labels = np.array([p.label for p in split.heldout])
    probs = predict_probabilities(model, [p.sequence for p in split.heldout], max_residues)
    predicted = probs.argmax(axis=1)
    per_class = {
        EC_LABELS[c]: auroc(labels == c, probs[:, c])
        for c in range(len(EC_LABELS))
        if 0 < (labels == c).sum()
    }
    majority = int(np.bincount([p.label for p in split.train], minlength=len(EC_LABELS)).argmax())
    return {
        "model": {
            "accuracy": accuracy(labels, predicted),
            "balanced_accuracy": balanced_accuracy(labels, predicted),
            "macro_auroc_one_vs_rest": float(np.nanmean(list(per_class.values()))),
            "auroc_one_vs_rest": per_class,
            "n": int(len(labels)),
        },
        "majority_class_baseline": {
            "class": EC_LABELS[majority],
            "accuracy": accuracy(labels, np.full_like(labels, majority)),
            "balanced_accuracy": balanced_accuracy(labels, np.full_like(labels, majority)),
        },
    }


def train_ec_demo(
    out_dir: str | Path,
    uniprot_dir: str | Path,
    epochs: int = 10,
    seed: int = 0,
    spec: ModelSpec | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train, evaluate and save the EC level-1 demo model; returns the metrics."""
    spec = spec or ModelSpec(pooling="cls")  # the shipped EC model is a [CLS]-pooled classifier
    config = TrainConfig(epochs=epochs, seed=seed, class_cap_ratio=None)
    split = ec_split(uniprot_dir, seed)
    counts = split.counts()
    log(f"data: {counts}")
    result = train_classifier(split.train, split.label_names, spec, config, log)
    metrics = evaluate_ec(result.model, split, spec.max_residues)
    log(f"held-out: {json.dumps(metrics)}")
    m, b = metrics["model"], metrics["majority_class_baseline"]
    card = "\n".join(
        [
            "# Demo model: ec (EC level 1, best effort)",
            "",
            "Small ProtBert-style BERT trained from scratch by `protxai train-demo --task ec` on the UniProtKB "
            "entries under `DATA/uniprot/` (`train-demo --data-dir DATA`; CC BY 4.0, not shipped) that carry "
            "an EC number.",
            "Classes: " + ", ".join(f"{i} = `{n}`" for i, n in enumerate(EC_LABELS)) + " (first EC number).",
            "",
            "## Data",
            "",
            f"- Train counts: {counts['train']}; held-out counts: {counts['heldout']}.",
            *[f"- {note}" for note in split.notes],
            "",
            "## Model and training",
            "",
            f"- Architecture: {json.dumps(asdict(spec))}; fixed sinusoidal position embeddings.",
            f"- Training: {json.dumps(asdict(config))}",
            f"- Epoch losses: {', '.join(f'{x:.4f}' for x in result.epoch_losses)}; {result.steps} steps, "
            f"{result.seconds:.0f} s on {platform.machine()} CPU (torch {torch.__version__}).",
            f"- Trained: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
            "",
            "## Held-out metrics (weak model: few hundred proteins)",
            "",
            f"- Accuracy {m['accuracy']:.3f}, balanced accuracy {m['balanced_accuracy']:.3f}, macro one-vs-rest "
            f"AUROC {m['macro_auroc_one_vs_rest']:.3f} (n = {m['n']}).",
            f"- Majority-class baseline ({b['class']}): accuracy {b['accuracy']:.3f}, balanced accuracy "
            f"{b['balanced_accuracy']:.3f}.",
            "",
        ]
    )
    extra = {
        "target": "EC level 1 (first EC number)",
        "heldout": {"accessions": sorted(p.accession for p in split.heldout)},
        "metrics": metrics,
        "train_seconds": result.seconds,
    }
    save_model_dir(result.model, out_dir, EC_LABELS, card, extra)
    return {"out": str(out_dir), "metrics": metrics, "train_seconds": result.seconds, "counts": counts}
