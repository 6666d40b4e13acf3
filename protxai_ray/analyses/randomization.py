"""Sanity checks for head relevance (Adebayo et al. 2018, "Sanity checks for saliency maps").

Model randomisation, cascading: starting from the trained model, re-initialise its parameters from the
top, cumulatively — the classifier, then the last encoder layer, then the one below, ..., and last the
word embeddings — and after each step attribute the same proteins with the same targets and settings.
A relevance map that explains the *model* must change as the layers it reads are destroyed; one that
stays similar reflects the input (or the architecture) rather than what was learned. Similarity is the
Spearman rank correlation of each protein's head relevance map (per layer and head: relevance over the
L + 2 positions) with the trained model's, of the signed map and of its absolute value, as in the paper.

Data randomisation is the other test: a model trained on permuted labels until it fits them
(``train_random_label_model``); its maps are compared with the trained model's the same way.

Re-initialisation (``reinitialize``) follows BERT's own: Linear and Embedding weights N(0, std) with std
the config's ``initializer_range`` (0.02), biases 0, LayerNorm weight 1 and bias 0, seeded. Frozen
parameters (the demo models' fixed sinusoidal position table) are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from protxai_ray.errors import RunError


def cascade_steps(adapter, *, embeddings: bool = True) -> list[tuple[str, list]]:
    """The cumulative randomisation order of a BERT-style classifier: (step name, modules re-initialised).

    ``classifier`` (with the pooler of a [CLS] classifier), ``layer N-1`` ... ``layer 0``, then, with
    ``embeddings``, ``embeddings`` (word and token-type embeddings and their LayerNorm).
    """
    model = adapter.model
    encoder = getattr(model, "bert", None)
    if encoder is None or not hasattr(model, "classifier"):
        raise RunError(
            f"model_type {adapter.model_type!r}: cascading randomisation supports BERT classifiers"
        )
    top = [model.classifier]
    if getattr(encoder, "pooler", None) is not None:
        top.append(encoder.pooler)
    steps = [("classifier", top)]
    layers = list(encoder.encoder.layer)
    steps += [(f"layer {i}", [layers[i]]) for i in reversed(range(len(layers)))]
    if embeddings:
        emb = encoder.embeddings
        steps.append(("embeddings", [emb.word_embeddings, emb.token_type_embeddings, emb.LayerNorm]))
    return steps


def reinitialize(module, std: float, generator) -> None:
    """Re-initialise every Linear / Embedding / LayerNorm under ``module`` in place (module docstring)."""
    import torch
    from torch import nn

    with torch.no_grad():
        for sub in module.modules() if hasattr(module, "modules") else [module]:
            if isinstance(sub, nn.Linear):
                sub.weight.copy_(torch.randn(sub.weight.shape, generator=generator) * std)
                if sub.bias is not None:
                    sub.bias.zero_()
            elif isinstance(sub, nn.Embedding) and sub.weight.requires_grad:
                sub.weight.copy_(torch.randn(sub.weight.shape, generator=generator) * std)
                if sub.padding_idx is not None:
                    sub.weight[sub.padding_idx].zero_()
            elif isinstance(sub, nn.LayerNorm):
                if sub.weight is not None:
                    sub.weight.fill_(1.0)
                if sub.bias is not None:
                    sub.bias.zero_()


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either map is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def head_map_similarity(reference: Sequence, other: Sequence) -> dict[str, np.ndarray]:
    """Per protein, layer and head: Spearman of ``other``'s head relevance map with ``reference``'s.

    ``reference`` / ``other``: per-protein results with ``heads`` ``[layers, heads, L + 2]`` and
    ``residues`` ``[L + 2]`` (same proteins, same order). Returns ``signed`` and ``absolute``
    (``float[proteins, layers, heads]``) and ``residues_signed`` / ``residues_absolute``
    (``float[proteins]``, the embedding IG maps).
    """
    if len(reference) != len(other):
        raise ValueError("reference and other must hold the same proteins")
    shape = (len(reference), *np.asarray(reference[0].heads).shape[:2])
    signed, absolute = np.full(shape, np.nan), np.full(shape, np.nan)
    res_signed, res_absolute = np.full(len(reference), np.nan), np.full(len(reference), np.nan)
    for i, (ref, oth) in enumerate(zip(reference, other, strict=True)):
        ref_heads, oth_heads = np.asarray(ref.heads, np.float64), np.asarray(oth.heads, np.float64)
        if ref_heads.shape != oth_heads.shape:
            raise ValueError(f"protein {i}: head maps of shapes {ref_heads.shape} and {oth_heads.shape}")
        for layer in range(shape[1]):
            for head in range(shape[2]):
                a, b = ref_heads[layer, head], oth_heads[layer, head]
                signed[i, layer, head] = _spearman(a, b)
                absolute[i, layer, head] = _spearman(np.abs(a), np.abs(b))
        ra, rb = np.asarray(ref.residues, np.float64), np.asarray(oth.residues, np.float64)
        res_signed[i], res_absolute[i] = _spearman(ra, rb), _spearman(np.abs(ra), np.abs(rb))
    return {
        "signed": signed,
        "absolute": absolute,
        "residues_signed": res_signed,
        "residues_absolute": res_absolute,
    }


def layer_means(similarity: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Mean over proteins and heads, per layer, of the ``signed`` and ``absolute`` similarities (NaN skipped)."""
    return {
        key: [float(np.nanmean(similarity[key][:, layer])) for layer in range(similarity[key].shape[1])]
        for key in ("signed", "absolute")
    }


@dataclass
class CascadeStep:
    name: str  # "trained", "classifier", "layer 3", ..., "embeddings"
    randomized: list[str]  # every step re-initialised so far (cumulative)
    results: list  # per protein Attribution
    similarity: dict[str, np.ndarray] | None = None  # vs the trained model (None for "trained")
    means: dict[str, list[float]] = field(default_factory=dict)


def cascading_randomization(
    model_path: str,
    sequences: Sequence[str],
    targets: Sequence[int],
    *,
    names: Sequence[str] | None = None,
    embeddings: bool = True,
    seed: int = 0,
    settings=None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    **options,
) -> list[CascadeStep]:
    """Attribute ``sequences`` (class ``targets``) with the trained model, then after each cumulative
    re-initialisation step of ``cascade_steps``; every step after the first carries its similarity to
    the trained maps (``head_map_similarity``) and its per-layer means (``layer_means``).

    ``settings`` / ``options``: as ``attribute_batch`` (default: its defaults, steps="auto").
    """
    import torch

    from protxai_ray.attribution import attribute_batch
    from protxai_ray.models import load_model

    adapter = load_model(model_path, device=device)
    std = float(getattr(adapter.model.config, "initializer_range", 0.02))
    generator = torch.Generator().manual_seed(seed)
    steps_plan = cascade_steps(adapter, embeddings=embeddings)

    def attribute() -> list:
        return attribute_batch(adapter, list(sequences), list(targets), settings, names=names, **options)

    log(f"cascade: trained model, {len(sequences)} proteins")
    trained = CascadeStep("trained", [], attribute())
    out = [trained]
    done: list[str] = []
    for name, modules in steps_plan:
        for module in modules:
            reinitialize(module, std, generator)
        done.append(name)
        results = attribute()
        similarity = head_map_similarity(trained.results, results)
        step = CascadeStep(name, list(done), results, similarity, layer_means(similarity))
        log(
            f"cascade: + {name}: mean Spearman per layer "
            + " ".join(f"{v:+.3f}" for v in step.means["signed"])
        )
        out.append(step)
    return out


# ---- data randomisation: a model that fits permuted labels -------------------------------------------


@dataclass
class RandomLabelModel:
    path: str
    train_accuracy: float  # on the permuted labels it was trained on (whole sequences, eval mode)
    true_label_accuracy: float  # of the same training proteins against their real labels
    epochs: int
    proteins: int
    seconds: float
    epoch_losses: list[float]


def train_random_label_model(
    proteins: Sequence,
    out_dir: str,
    label_names: Sequence[str],
    *,
    seed: int = 0,
    max_epochs: int = 300,
    check_every: int = 5,
    lr: float = 1e-3,
    batch_size: int = 8,
    log: Callable[[str], None] = print,
) -> RandomLabelModel:
    """Train the demo architecture (``ModelSpec``, no dropout) on ``proteins`` (``LabeledProtein``) with a
    seeded permutation of their labels (``permuted_labels``) until it predicts every permuted training
    label (training accuracy 1.0, checked in eval mode on the whole sequences every ``check_every``
    epochs) or ``max_epochs``.

    Whole sequences (no crop), no class balancing, constant-rate AdamW without weight decay, seeded
    batch order: what memorising a small set needs. Saved with ``save_model_dir`` (MODEL_CARD.md says
    what it is).
    """
    import time

    import torch
    from torch.nn import functional as F

    from protxai_ray.training.model import (
        ModelSpec,
        batch_tensors,
        build_classifier,
        encode_residues,
        save_model_dir,
    )
    from protxai_ray.training.train import permuted_labels, predict_probabilities

    torch.manual_seed(seed)
    labels = permuted_labels([p.label for p in proteins], seed)
    true = np.asarray([p.label for p in proteins])
    rows = [encode_residues(p.sequence, p.accession) for p in proteins]
    spec = ModelSpec(dropout=0.0)
    model = build_classifier(spec, list(label_names), seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    losses: list[float] = []
    accuracy = true_accuracy = 0.0
    epoch = 0
    while epoch < max_epochs and accuracy < 1.0:
        model.train()
        order = rng.permutation(len(rows))
        total = 0.0
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            ids, mask = batch_tensors([rows[i] for i in batch])
            loss = F.cross_entropy(
                model(input_ids=ids, attention_mask=mask).logits, torch.tensor([labels[i] for i in batch])
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(rows))
        epoch += 1
        if epoch % check_every == 0 or epoch == max_epochs:
            predicted = predict_probabilities(
                model, [p.sequence for p in proteins], spec.max_residues
            ).argmax(1)
            accuracy = float(np.mean(predicted == np.asarray(labels)))
            true_accuracy = float(np.mean(predicted == true))
            log(f"random labels: epoch {epoch}, loss {losses[-1]:.4f}, training accuracy {accuracy:.3f}")
    model.eval()
    card = (
        "# Random-label model (sanity check)\n\n"
        f"Demo architecture trained on {len(proteins)} proteins with a seeded permutation (seed {seed}) of "
        f"their labels for {epoch} epochs: accuracy on the permuted training labels {accuracy:.3f}, on the "
        f"true labels {true_accuracy:.3f}. For Adebayo et al.'s data randomisation test only.\n"
    )
    save_model_dir(
        model, out_dir, list(label_names), card, {"random_labels": True, "seed": seed, "epochs": epoch}
    )
    return RandomLabelModel(
        str(out_dir), accuracy, true_accuracy, epoch, len(proteins), time.monotonic() - started, losses
    )
