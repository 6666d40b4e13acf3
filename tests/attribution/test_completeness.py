"""Completeness of the default settings, exact vs finite convergence, and closed forms of a linear model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from protxai_ray.attribution import attribute_batch
from protxai_ray.models.adapter import HeadHookPoint
from protxai_ray.models.base import ResidueVocabAdapter, read_vocab_file
from protxai_ray.models.bert import PROTBERT_VOCAB
from tests.attribution.conftest import PROTEINS


def test_default_settings_complete_within_one_percent(rough_bert):
    results = attribute_batch(rough_bert, PROTEINS, [0, 1, 0, 1])  # steps="auto", head error ≤ 1 %
    for result in results:
        assert result.head_error is not None and result.head_error <= 0.01
        assert abs(result.logit - result.baseline_logit) > 0.05  # a path with something to explain
        assert result.convergence_delta <= 0.01
        gap = result.logit - result.baseline_logit
        assert abs(result.ig_sum - gap) <= 0.01 * abs(gap) + 1e-6


def test_exact_derivative_converges_faster_than_finite(rough_bert):
    sequence = [PROTEINS[3]]
    reference = attribute_batch(rough_bert, sequence, [0], steps=2048, derivative="exact")[0].heads
    scale = np.abs(reference).max()
    errors = {}
    for steps in (16, 32, 64):
        for derivative in ("exact", "finite"):
            heads = attribute_batch(rough_bert, sequence, [0], steps=steps, derivative=derivative)[0].heads
            errors[derivative, steps] = np.abs(heads - reference).max() / scale
    for steps in (16, 32, 64):
        assert errors["exact", steps] < errors["finite", steps], errors
    # Gauss–Legendre with exact ḣ converges spectrally; finite differences only at first order.
    assert errors["exact", 64] < 1e-3 * errors["finite", 64] + 1e-6
    assert errors["finite", 32] / errors["finite", 64] < 3


class LinearClassifier(nn.Module):
    """logits = W_out · Σ_t mask_t (W_ctx x_t + c): output linear in the embeddings x."""

    def __init__(self, vocab: int, width: int, heads: int, head_size: int, classes: int) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(vocab, width)
        self.context = nn.Linear(width, heads * head_size)
        self.out = nn.Linear(heads * head_size, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.context(self.embeddings(input_ids))
        return self.out((h * attention_mask[..., None].to(h.dtype)).sum(1))


class LinearAdapter(ResidueVocabAdapter):
    model_type = "linear"

    def __init__(self) -> None:
        torch.manual_seed(7)
        vocab = read_vocab_file(PROTBERT_VOCAB)
        self.model = LinearClassifier(len(vocab), 12, 3, 4, 2).double().eval()
        self.label_names, self.weights_sha256, self.path = ["a", "b"], "", ""
        self.residue_ids = {t: i for t, i in vocab.items() if len(t) == 1}
        self.unk_id, self.start_id, self.end_id = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]
        self.pad_id = self.baseline_fill_id = vocab["[PAD]"]
        self._max_residues = 100

    def embedding_module(self) -> nn.Module:
        return self.model.embeddings

    def head_hook_points(self) -> list[HeadHookPoint]:
        return [HeadHookPoint(self.model.context, use_input=False, num_heads=3, head_size=4)]

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask)


@pytest.mark.parametrize(
    "method,derivative",
    [
        ("gausslegendre", "exact"),
        ("gausslegendre", "spectral"),
        ("riemann_middle", "exact"),
        ("riemann_right", "finite"),
    ],
)
def test_linear_model_closed_form(method, derivative):
    adapter = LinearAdapter()
    sequence, target = PROTEINS[1], 1
    result = attribute_batch(adapter, [sequence], [target], steps=4, method=method, derivative=derivative)[0]
    ids, mask = adapter.encode([sequence])
    with torch.no_grad():
        x = adapter.model.embeddings(ids)[0]
        b = adapter.model.embeddings(adapter.baseline_ids(ids, mask))[0]
        w_out = adapter.model.out.weight[target]  # [HD]
        w_ctx = adapter.model.context.weight  # [HD, D]
        expected_ig = ((x - b) @ (w_ctx.T @ w_out)).numpy()  # IG_t = (x − b)_t · ∂F/∂x_t, constant gradient
        expected_heads = ((x - b) @ w_ctx.T * w_out).unflatten(-1, (3, 4)).sum(-1).T.numpy()
    if method == "riemann_right":
        # captum's conductance nodes for riemann_right run from 1/(n+1) to 1: a path of length n/(n+1)
        expected_heads = expected_heads * 4 / 5
    np.testing.assert_allclose(result.residues, expected_ig, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.heads[0], expected_heads, rtol=1e-5, atol=1e-6)
    assert result.convergence_delta < 1e-5  # IG weights sum to 1 in all three rules
