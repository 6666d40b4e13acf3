"""``attribute_batch``: embedding IG and every layer's head conductance in one batched pass per node chunk.

For a group of proteins padded to T tokens, the path points ``x(α) = b + α (x − b)`` of all its proteins ×
a chunk of nodes go through the model as one batch (rows = proteins × nodes); one forward + backward
gives ∂F/∂x and ∂F/∂h for every layer (``PathProbe``), and the IG and conductance totals absorb the chunk
before the next one runs. Padding never leaks into a protein: padded tokens are masked out of attention
and x − b is 0 there, so a protein's numbers do not depend on what it is batched with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from protxai_ray.attribution.adaptive import INITIAL_PANELS, SegmentRule, integrate_adaptive
from protxai_ray.attribution.conductance import ExactConductance, FiniteConductance, SpectralConductance
from protxai_ray.attribution.convergence import convergence_delta
from protxai_ray.attribution.embedding_ig import EmbeddingIG
from protxai_ray.attribution.memory import (
    ModelShape,
    default_budget_bytes,
    group_proteins,
    model_shape,
    rows_per_pass,
)
from protxai_ray.attribution.path import PathProbe
from protxai_ray.attribution.quadrature import (
    NodePlan,
    differentiation_matrix,
    node_plan,
    seed_differentiation_matrix,
)
from protxai_ray.attribution.result import Attribution
from protxai_ray.attribution.settings import PRECISIONS, AttributionSettings
from protxai_ray.errors import UnknownTarget
from protxai_ray.models.adapter import ModelAdapter

__all__ = ["PRECISIONS", "attribute_batch"]


def _encode(model: ModelAdapter, sequences: Sequence[str], names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    try:
        return model.encode(list(sequences), names=list(names))  # type: ignore[call-arg]
    except TypeError:  # an adapter without the optional names argument
        return model.encode(list(sequences))


def _check_targets(targets: Sequence[int], classes: int, names: Sequence[str], labels: list[str]) -> None:
    for name, target in zip(names, targets, strict=True):
        if isinstance(target, bool) or not isinstance(target, int | np.integer) or not -1 <= target < classes:
            raise UnknownTarget(
                f"{name}: target {target!r} is not a class index of this model "
                f"(0..{classes - 1}: {', '.join(labels)}; -1 = argmax)"
            )


def _run_group(
    probe: PathProbe,
    plan: NodePlan,
    chunk: int,
    x: torch.Tensor,
    b: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """IG ``float64[P, T]`` and conductance ``float64[P, layers, heads, T]`` of P proteins under ``plan``."""
    proteins, tokens, _ = x.shape
    delta = x - b
    heads = [p.num_heads for p in probe.points]
    ig = EmbeddingIG(delta)
    exact = plan.derivative == "exact"
    spectral = plan.derivative in ("spectral", "seed")
    alphas_all = torch.as_tensor(plan.alphas, dtype=x.dtype, device=x.device)
    ig_w_all = torch.as_tensor(plan.ig_weights, device=x.device)
    cond_w_all = torch.as_tensor(plan.cond_weights, device=x.device)
    if exact:
        conductance = ExactConductance(proteins, heads, tokens, x.device)
    elif spectral:
        build = seed_differentiation_matrix if plan.derivative == "seed" else differentiation_matrix
        matrix = torch.as_tensor(build(plan.alphas))
        conductance = SpectralConductance(proteins, heads, tokens, matrix, cond_w_all, x.device)
    else:
        conductance = FiniteConductance(proteins, heads, tokens, plan.steps, x.device)
    # Finite mode: the conductance nodes must arrive in order and in their own chunks (captum pairs them).
    single = exact or spectral
    spans = [(0, plan.num_nodes)] if single else [(0, plan.cond_start), (plan.cond_start, plan.num_nodes)]
    for span_start, span_end in spans:
        for start in range(span_start, span_end, chunk):
            end = min(start + chunk, span_end)
            k = end - start
            alphas = alphas_all[start:end]
            rows_in = (b[:, None] + alphas[None, :, None, None] * delta[:, None]).flatten(0, 1)
            rows_ids = input_ids.repeat_interleave(k, dim=0)
            rows_mask = attention_mask.repeat_interleave(k, dim=0)
            rows_targets = targets.repeat_interleave(k, dim=0)
            grad_x, grad_h, acts = probe.gradients(rows_in, rows_ids, rows_mask, rows_targets)
            ig.add(grad_x.unflatten(0, (proteins, k)), ig_w_all[start:end])
            grad_h = [g.unflatten(0, (proteins, k)) for g in grad_h]
            if exact:
                direction = delta.repeat_interleave(k, dim=0)
                dh = probe.tangents(rows_in, direction, rows_ids, rows_mask)
                conductance.add(grad_h, [v.unflatten(0, (proteins, k)) for v in dh], cond_w_all[start:end])
            elif spectral or span_start == plan.cond_start:
                conductance.add(grad_h, [h.unflatten(0, (proteins, k)) for h in acts])
            del grad_x, grad_h, acts
    return ig.total, conductance.finish() if spectral else conductance.total


def _fit_plan(
    plan: NodePlan, proteins: int, chunk: int, tokens: int, shape: ModelShape, budget: int
) -> NodePlan:
    """The spectral plan, or the exact plan (same nodes and weights) where holding every node's g and h
    of a group whose nodes run in several chunks would exceed the memory budget (very long proteins).
    The seed's discretisation is never swapped (it is run to reproduce its numbers)."""
    if plan.derivative != "spectral" or chunk >= plan.num_nodes:
        return plan  # all nodes in one pass: the held tensors are the pass's own outputs
    widths = [shape.heads * shape.head_size] * shape.layers
    held = SpectralConductance.held_bytes(proteins, plan.num_nodes, tokens, widths, shape.element_bytes)
    return node_plan(plan.method, plan.steps, "exact") if held > budget else plan


def _settings(settings: AttributionSettings | None, options: dict) -> AttributionSettings:
    base = settings or AttributionSettings()
    unknown = set(options) - set(AttributionSettings.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown attribute_batch option(s): {', '.join(sorted(unknown))}")
    return base.replace(**options) if options else base


def attribute_batch(
    model: ModelAdapter,
    sequences: Sequence[str],
    targets: Sequence[int],
    settings: AttributionSettings | None = None,
    *,
    names: Sequence[str] | None = None,
    memory_budget_mb: int | None = None,
    **options,
) -> list[Attribution]:
    """Attribute each protein's target logit to its tokens (embedding IG) and to every head of every layer.

    ``sequences``: protein sequences (upper/lower case; U Z O B → X). ``targets``: class index per protein,
    −1 = the argmax class at x. ``settings``: an ``AttributionSettings`` (default: ``steps="auto"``, head
    error ≤ 1 %); keyword ``options`` override its fields (``steps=64``, ``tolerance=0.0025``,
    ``derivative="exact"``, ``precision="bf16"`` …). With ``steps="auto"`` every protein records the
    path points used (``n_steps``) and its estimated head error (``head_error``, max over layers).
    ``memory_budget_mb``: bound on activation memory per pass (default: a share of free RAM/GPU memory).
    ``names``: labels (accessions) used in error messages.

    Raises ``InvalidSequence`` / ``UnknownTarget`` (naming the protein) before any computation.

    >>> results = attribute_batch(adapter, ["MKTAYIAK"], [0])  # doctest: +SKIP
    >>> results[0].heads.shape, results[0].head_error  # (layers, heads, 8 + 2), ≤ 0.01  # doctest: +SKIP
    """
    if len(sequences) != len(targets):
        raise ValueError("sequences and targets must have the same length")
    settings = _settings(settings, options)
    if not sequences:
        return []
    names = list(names) if names is not None else [f"sequence[{i}]" for i in range(len(sequences))]
    derivative = settings.effective_derivative
    # Validate every protein before spending compute on any of them.
    for i, seq in enumerate(sequences):
        _encode(model, [seq], [names[i]])
    _check_targets(targets, len(model.label_names), names, model.label_names)

    device = model.device
    shape = model_shape(model)
    budget = memory_budget_mb * (1 << 20) if memory_budget_mb is not None else default_budget_bytes(device)
    lengths = [len(_encode(model, [s], [n])[1][0]) - 2 for s, n in zip(sequences, names, strict=True)]
    segment_rule = SegmentRule.gauss_legendre()
    if settings.adaptive:
        first_pass = 3 * INITIAL_PANELS * segment_rule.size
        plan = None
    else:
        plan = node_plan(settings.method, int(settings.steps), derivative)
        first_pass = plan.num_nodes
    results: list[Attribution | None] = [None] * len(sequences)
    with PathProbe(model, precision=settings.precision) as probe:
        for local, chunk in group_proteins(lengths, first_pass, shape, budget, device):
            members = [int(i) for i in local]
            input_ids, mask = _encode(model, [sequences[i] for i in members], [names[i] for i in members])
            x, b, logit_x, logit_b = probe.path_ends(input_ids, mask)
            chosen = torch.tensor([targets[i] for i in members], device=device)
            chosen = torch.where(chosen < 0, logit_x.argmax(dim=1), chosen)
            if plan is None:
                capacity = rows_per_pass(shape, x.shape[1], budget, device)
                states = integrate_adaptive(
                    probe, x, b, input_ids, mask, chosen, derivative,
                    settings.tolerance, settings.max_nodes, capacity, segment_rule,
                )  # fmt: skip
                totals = [state.total() for state in states]
                ig = torch.stack([t.ig for t in totals])
                cond = torch.stack([t.heads for t in totals])
                used = [(state.nodes, state.head_error, derivative) for state in states]
            else:
                fitted = _fit_plan(plan, len(members), chunk, x.shape[1], shape, budget)
                ig, cond = _run_group(probe, fitted, chunk, x, b, input_ids, mask, chosen)
                used = [(int(settings.steps), None, fitted.derivative)] * len(members)
            probs = torch.softmax(logit_x.double(), dim=1)
            for row, index in enumerate(members):
                t = int(chosen[row])
                tokens = lengths[index] + 2
                residues = ig[row, :tokens].cpu().numpy()
                fx, fb = float(logit_x[row, t]), float(logit_b[row, t])
                n_steps, head_error, used_derivative = used[row]
                results[index] = Attribution(
                    residues=residues.astype(np.float32),
                    heads=cond[row, :, :, :tokens].cpu().numpy().astype(np.float32),
                    logit=fx,
                    baseline_logit=fb,
                    probability=float(probs[row, t]),
                    convergence_delta=float(convergence_delta(residues.sum(), fx, fb)),
                    n_steps=n_steps,
                    target=t,
                    derivative=used_derivative,
                    head_error=head_error,
                )
    return [r for r in results if r is not None]
