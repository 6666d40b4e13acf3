"""Seeded, deterministic training and scoring of the demo classifier on ``LabeledProtein`` lists.

Each epoch: classes are balanced by sampling (every class capped at ``class_cap_ratio`` × the smallest
class, a fresh seeded draw each epoch), long proteins are cropped to a seeded window (one that covers a
transmembrane region when the protein has one), windows are bucketed by length into batches of about
``batch_tokens`` tokens, and batches are visited in a seeded order. AdamW with linear warm-up and decay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from protxai_ray.training.data import LabeledProtein
from protxai_ray.training.model import PAD_ID, ModelSpec, batch_tensors, build_classifier, encode_residues


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (together with the data and the ``ModelSpec``)."""

    epochs: int = 5
    seed: int = 0
    crop: int = 96
    batch_tokens: int = 1600
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    class_cap_ratio: float | None = 1.0
    threads: int = 1
    shuffled_labels: bool = False  # the control: a seeded permutation of the training labels
    # Share of extra training rows that are the attribution baseline itself ([CLS] + [PAD]·L + [SEP], all
    # attended, L drawn from the epoch's windows), labelled ``baseline_label``: the model then scores the
    # baseline as "no evidence", so F(x) − F(b) measures evidence in the sequence (otherwise F(b) is
    # whatever the network does on an input it never saw, and can exceed F(x)).
    baseline_fraction: float = 0.0
    baseline_label: int = 0


@dataclass
class TrainResult:
    model: BertPreTrainedModel
    epoch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    windows_seen: int = 0
    labels_used: list[int] = field(default_factory=list)


def permuted_labels(labels: list[int], seed: int) -> list[int]:
    """The same labels in a seeded random order (class counts kept): the shuffled-label control."""
    order = np.random.default_rng(seed + 7919).permutation(len(labels))
    return [labels[i] for i in order]


def crop_window(protein: LabeledProtein, crop: int, rng: np.random.Generator) -> tuple[int, int]:
    """A ``crop``-residue window ``[start, end)``; covers one of the protein's TM regions when it has any."""
    length = len(protein.sequence)
    if length <= crop:
        return 0, length
    lo, hi = 0, length - crop
    if protein.tm_regions:
        start, end = protein.tm_regions[int(rng.integers(len(protein.tm_regions)))]
        start, end = min(start, length - 1), min(end, length)
        if end - start >= crop:  # region longer than the crop: a window inside it
            lo, hi = start, end - crop
        else:  # a window that contains the whole region
            lo, hi = max(0, end - crop), min(start, length - crop)
    begin = int(rng.integers(lo, hi + 1))
    return begin, begin + crop


def epoch_sample(labels: list[int], ratio: float | None, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn for one epoch: each class at most ``ratio`` × the smallest class (all if ``None``)."""
    labels_arr = np.asarray(labels)
    classes, counts = np.unique(labels_arr, return_counts=True)
    cap = None if ratio is None else int(math.ceil(ratio * counts.min()))
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels_arr == c)
        members = rng.permutation(members)
        chosen.append(members if cap is None else members[:cap])
    return np.sort(np.concatenate(chosen))


def plan_epoch(
    proteins: list[LabeledProtein], labels: list[int], config: TrainConfig, epoch: int
) -> list[tuple[list[list[int]], list[int]]]:
    """Batches (residue-id rows, labels) of one epoch, bucketed by window length, seeded order."""
    rng = np.random.default_rng([config.seed, epoch])
    windows = []
    for i in epoch_sample(labels, config.class_cap_ratio, rng):
        begin, end = crop_window(proteins[i], config.crop, rng)
        windows.append((end - begin, int(i), begin, end))
    n_baseline = int(round(config.baseline_fraction * len(windows)))
    for length in rng.choice([w[0] for w in windows], n_baseline) if n_baseline else []:
        windows.append((int(length), -1, 0, int(length)))  # i = -1: a baseline row of that length
    windows.sort()
    batches, current, width = [], [], 0
    for length, i, begin, end in windows:
        if current and max(width, length + 2) * (len(current) + 1) > config.batch_tokens:
            batches.append(current)
            current, width = [], 0
        current.append((i, begin, end))
        width = max(width, length + 2)
    if current:
        batches.append(current)
    out = []
    for b in rng.permutation(len(batches)):
        rows = [
            [PAD_ID] * e if i < 0 else encode_residues(proteins[i].sequence[s:e], proteins[i].accession)
            for i, s, e in batches[b]
        ]
        out.append((rows, [config.baseline_label if i < 0 else labels[i] for i, _, _ in batches[b]]))
    return out


def train_classifier(
    proteins: list[LabeledProtein],
    label_names: list[str],
    spec: ModelSpec,
    config: TrainConfig,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train a fresh classifier on ``proteins`` (labels from ``protein.label``, permuted if the control)."""
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    labels = [p.label for p in proteins]
    if config.shuffled_labels:
        labels = permuted_labels(labels, config.seed)
    model = build_classifier(spec, label_names, config.seed)
    plans = [plan_epoch(proteins, labels, config, epoch) for epoch in range(config.epochs)]
    total_steps = sum(len(p) for p in plans)
    warmup = max(1, int(config.warmup_fraction * total_steps))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    )
    result = TrainResult(model=model, labels_used=labels)
    started = time.monotonic()
    model.train()
    for epoch, plan in enumerate(plans):
        losses, weights = [], []
        for rows, batch_labels in plan:
            ids, mask = batch_tensors(rows)
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = F.cross_entropy(logits, torch.tensor(batch_labels))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            weights.append(len(rows))
            result.steps += 1
            result.windows_seen += len(rows)
        result.epoch_losses.append(float(np.average(losses, weights=weights)))
        log(
            f"epoch {epoch + 1}/{config.epochs}: loss {result.epoch_losses[-1]:.4f} "
            f"({len(plan)} batches, {time.monotonic() - started:.0f} s)"
        )
    result.seconds = time.monotonic() - started
    model.eval()
    return result


@torch.no_grad()
def predict_probabilities(
    model: BertPreTrainedModel,
    sequences: list[str],
    max_residues: int,
    batch_tokens: int = 16384,
) -> np.ndarray:
    """``float32[N, C]`` class probabilities; sequences longer than ``max_residues`` keep their first part."""
    model.eval()
    rows = [encode_residues(s[:max_residues]) for s in sequences]
    order = np.argsort([len(r) for r in rows], kind="stable")
    probs = np.zeros((len(rows), model.config.num_labels), dtype=np.float32)
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (len(rows[order[end]]) + 2) * (end - start + 1) <= batch_tokens:
            end += 1
        idx = order[start:end]
        ids, mask = batch_tensors([rows[i] for i in idx])
        logits = model(input_ids=ids, attention_mask=mask).logits
        probs[idx] = torch.softmax(logits.float(), dim=-1).numpy()
        start = end
    return probs


@torch.no_grad()
def mean_loss(model: BertPreTrainedModel, proteins: list[LabeledProtein], max_residues: int) -> float:
    """Mean cross-entropy of ``model`` on ``proteins`` (eval mode, first ``max_residues`` residues)."""
    probs = predict_probabilities(model, [p.sequence for p in proteins], max_residues)
    picked = probs[np.arange(len(proteins)), [p.label for p in proteins]]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, None))))
