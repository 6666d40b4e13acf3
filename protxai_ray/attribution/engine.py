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

from protxai_ray.attribution.conductance import ExactConductance, FiniteConductance, SpectralConductance
from protxai_ray.attribution.convergence import convergence_delta, step_schedule
from protxai_ray.attribution.embedding_ig import EmbeddingIG
from protxai_ray.attribution.memory import ModelShape, default_budget_bytes, group_proteins, model_shape
from protxai_ray.attribution.path import PathProbe
from protxai_ray.attribution.quadrature import METHODS, NodePlan, differentiation_matrix, node_plan
from protxai_ray.attribution.result import Attribution
from protxai_ray.errors import UnknownTarget
from protxai_ray.models.adapter import ModelAdapter

PRECISIONS = ("fp32", "tf32", "bf16")


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
    spectral = plan.derivative == "spectral"
    alphas_all = torch.as_tensor(plan.alphas, dtype=x.dtype, device=x.device)
    ig_w_all = torch.as_tensor(plan.ig_weights, device=x.device)
    cond_w_all = torch.as_tensor(plan.cond_weights, device=x.device)
    if exact:
        conductance = ExactConductance(proteins, heads, tokens, x.device)
    elif spectral:
        matrix = torch.as_tensor(differentiation_matrix(plan.alphas))
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
    of a group whose nodes run in several chunks would exceed the memory budget (very long proteins)."""
    if plan.derivative != "spectral" or chunk >= plan.num_nodes:
        return plan  # all nodes in one pass: the held tensors are the pass's own outputs
    widths = [shape.heads * shape.head_size] * shape.layers
    held = SpectralConductance.held_bytes(proteins, plan.num_nodes, tokens, widths, shape.element_bytes)
    return node_plan(plan.method, plan.steps, "exact") if held > budget else plan


def attribute_batch(
    model: ModelAdapter,
    sequences: Sequence[str],
    targets: Sequence[int],
    steps: int | str = 32,
    method: str = "gausslegendre",
    derivative: str = "exact",
    tolerance: float = 0.01,
    max_steps: int = 512,
    memory_budget_mb: int | None = None,
    precision: str = "fp32",
    names: Sequence[str] | None = None,
) -> list[Attribution]:
    """Attribute each protein's target logit to its tokens (embedding IG) and to every head of every layer.

    ``sequences``: protein sequences (upper/lower case; U Z O B → X). ``targets``: class index per protein,
    −1 = the argmax class at x. ``steps``: quadrature steps, or ``"auto"`` (16, 32, … ≤ ``max_steps``
    until ``convergence_delta < tolerance``, per protein). ``method``: ``gausslegendre`` or
    ``riemann_{left,right,middle,trapezoid}``. ``derivative``: ``finite`` (captum LayerConductance's
    scheme; identical numbers to captum), ``exact`` (forward-mode ∂h/∂α at the IG nodes) or ``spectral``
    (Gauss–Legendre only: ∂h/∂α from the polynomial through h at all nodes; no forward-mode pass).
    ``memory_budget_mb``: bound on activation memory per pass (default: a share of free RAM/GPU memory).
    ``precision``: ``fp32`` | ``tf32`` | ``bf16`` (autocast forward; accumulation always float64).
    ``names``: labels (accessions) used in error messages.

    Raises ``InvalidSequence`` / ``UnknownTarget`` (naming the protein) before any computation.

    >>> results = attribute_batch(adapter, ["MKTAYIAK"], [0], steps=32)  # doctest: +SKIP
    >>> results[0].heads.shape  # (layers, heads, 8 + 2)  # doctest: +SKIP
    """
    if len(sequences) != len(targets):
        raise ValueError("sequences and targets must have the same length")
    if method not in METHODS:
        raise ValueError(f"unknown quadrature method {method!r}; choose one of {', '.join(METHODS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if not sequences:
        return []
    names = list(names) if names is not None else [f"sequence[{i}]" for i in range(len(sequences))]
    schedule = step_schedule(steps, max_steps)
    node_plan(method, schedule[0], derivative)  # validates method/derivative/steps early
    device = model.device
    # Validate every protein before spending compute on any of them.
    for i, seq in enumerate(sequences):
        _encode(model, [seq], [names[i]])
    classes = len(model.label_names)
    _check_targets(targets, classes, names, model.label_names)

    shape = model_shape(model)
    budget = memory_budget_mb * (1 << 20) if memory_budget_mb is not None else default_budget_bytes(device)
    lengths = [len(_encode(model, [s], [n])[1][0]) - 2 for s, n in zip(sequences, names, strict=True)]
    results: list[Attribution | None] = [None] * len(sequences)
    with PathProbe(model, precision=precision) as probe:
        pending = list(range(len(sequences)))
        for round_index, n in enumerate(schedule):
            plan = node_plan(method, n, derivative)
            groups = group_proteins([lengths[i] for i in pending], plan.num_nodes, shape, budget, device)
            still_pending = []
            for local, chunk in groups:
                members = [pending[i] for i in local]
                input_ids, mask = _encode(model, [sequences[i] for i in members], [names[i] for i in members])
                base_ids = model.baseline_ids(input_ids, mask)
                both, logits = probe.endpoints(torch.cat([input_ids, base_ids]), torch.cat([mask, mask]))
                x, b = both[: len(members)], both[len(members) :]
                logit_x, logit_b = logits[: len(members)], logits[len(members) :]
                chosen = torch.tensor([targets[i] for i in members], device=device)
                chosen = torch.where(chosen < 0, logit_x.argmax(dim=1), chosen)
                fitted = _fit_plan(plan, len(members), chunk, x.shape[1], shape, budget)
                ig, cond = _run_group(
                    probe,
                    fitted,
                    chunk,
                    x,
                    b,
                    input_ids,
                    mask,
                    chosen,
                )
                probs = torch.softmax(logit_x.double(), dim=1)
                for row, index in enumerate(members):
                    t = int(chosen[row])
                    tokens = lengths[index] + 2
                    residues = ig[row, :tokens].cpu().numpy()
                    fx, fb = float(logit_x[row, t]), float(logit_b[row, t])
                    delta = float(convergence_delta(residues.sum(), fx, fb))
                    last = round_index == len(schedule) - 1
                    if steps == "auto" and delta >= tolerance and not last:
                        still_pending.append(index)
                        continue
                    results[index] = Attribution(
                        residues=residues.astype(np.float32),
                        heads=cond[row, :, :, :tokens].cpu().numpy().astype(np.float32),
                        logit=fx,
                        baseline_logit=fb,
                        probability=float(probs[row, t]),
                        convergence_delta=delta,
                        n_steps=n,
                        target=t,
                        derivative=fitted.derivative,
                    )
            pending = sorted(still_pending)
            if not pending:
                break
    return [r for r in results if r is not None]
