"""Forward/backward passes of a model along the interpolation path, with every hook the engine needs.

``PathProbe`` installs, for the duration of a ``with`` block, one forward hook on the adapter's embedding
module (it records the module's output, or replaces it with the interpolated input x(α)) and one hook per
layer on the head context activation h_l (``HeadHookPoint``). One ``gradients`` call is one forward and
one backward for a whole batch of path points and returns ∂F/∂x and ∂F/∂h_l for every layer at once;
``tangents`` is one forward-mode pass returning ∂h_l/∂α along the direction x − b for every layer.

Shapes: R = rows (proteins × nodes), T = tokens, D = embedding width, HD = heads × head size.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch
from torch.autograd import forward_ad

from protxai_ray.models.adapter import ModelAdapter


def _first(value: object) -> torch.Tensor:
    return value[0] if isinstance(value, tuple | list) else value  # type: ignore[index,return-value]


@contextmanager
def autocast_for(precision: str, device: torch.device):
    """Numeric mode of the model's forward: ``fp32`` (reference), ``tf32`` matmuls, or ``bf16`` autocast."""
    if precision == "fp32":
        yield
    elif precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    elif precision == "tf32":
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high")  # TF32 tensor cores on CUDA; no-op on most CPUs
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(previous)
    else:
        raise ValueError(f"unknown precision {precision!r}; choose fp32, tf32 or bf16")


class PathProbe:
    """Hooks on one adapter's model; use as ``with PathProbe(model) as probe: ...``."""

    def __init__(self, model: ModelAdapter, precision: str = "fp32") -> None:
        self.adapter = model
        self.precision = precision
        self.points = model.head_hook_points()
        self._replacement: torch.Tensor | None = None
        self._embedding: torch.Tensor | None = None
        self._heads: list[torch.Tensor | None] = [None] * len(self.points)
        self._stack = ExitStack()

    def __enter__(self) -> PathProbe:
        module = self.adapter.embedding_module()
        self._stack.callback(module.register_forward_hook(self._on_embedding).remove)
        for layer, point in enumerate(self.points):
            if point.use_input:
                handle = point.module.register_forward_pre_hook(self._input_hook(layer))
            else:
                handle = point.module.register_forward_hook(self._output_hook(layer))
            self._stack.callback(handle.remove)
        # Parameters never need gradients here; turning them off keeps autograd to the input path only.
        params = [p for p in self.adapter.model.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        self._stack.callback(lambda: [p.requires_grad_(True) for p in params])
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _on_embedding(self, module: torch.nn.Module, args: object, output: object) -> torch.Tensor | None:
        if self._replacement is not None:
            return self._replacement
        self._embedding = _first(output)
        return None

    def _output_hook(self, layer: int):
        def hook(module: torch.nn.Module, args: object, output: object) -> None:
            self._heads[layer] = _first(output)

        return hook

    def _input_hook(self, layer: int):
        def hook(module: torch.nn.Module, args: tuple) -> None:
            self._heads[layer] = args[0]

        return hook

    def endpoints(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Plain forward: embedding output ``[B, T, D]`` and logits ``[B, C]`` (no hooks alter anything)."""
        self._replacement = None
        with torch.no_grad(), autocast_for(self.precision, self.adapter.device):
            logits = self.adapter.logits(input_ids, attention_mask)
        embedding = self._embedding
        self._embedding = None
        assert embedding is not None, "embedding module did not run"
        return embedding.float() if embedding.dtype == torch.bfloat16 else embedding, logits.float()

    def forward_at(
        self, path_input: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[R, C]`` with the embedding output replaced by ``path_input [R, T, D]`` (no gradients)."""
        self._replacement = path_input
        try:
            with torch.no_grad(), autocast_for(self.precision, self.adapter.device):
                logits = self.adapter.logits(input_ids, attention_mask)
        finally:
            self._replacement = None
            self._heads = [None] * len(self.points)
        return logits.float()

    def path_ends(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The path's ends for a batch: x and b ``[B, T, D]`` and the logits F(x), F(b) ``[B, C]``.

        b is the embedding output for the adapter's ``baseline_ids``, corrected by its
        ``baseline_embeddings`` (ESM-2's token dropout); F(b) is evaluated at the corrected b."""
        base_ids = self.adapter.baseline_ids(input_ids, attention_mask)
        both, logits = self.endpoints(torch.cat([input_ids, base_ids]), torch.cat([attention_mask] * 2))
        count = input_ids.shape[0]
        x, b = both[:count], both[count:]
        logit_x, logit_b = logits[:count], logits[count:]
        corrected = self.adapter.baseline_embeddings(x, b, attention_mask)
        if corrected is not b:
            b, logit_b = corrected, self.forward_at(corrected, input_ids, attention_mask)
        return x, b, logit_x, logit_b

    def gradients(
        self,
        path_input: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        targets: torch.Tensor,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """One forward + backward at the path points ``path_input [R, T, D]``.

        Returns ``∂F/∂x [R, T, D]``, ``∂F/∂h_l [R, T, HD]`` per layer and ``h_l [R, T, HD]`` per layer
        (detached), F = Σ_rows logit[row, targets[row]].
        """
        x = path_input.detach().requires_grad_(True)
        self._replacement = x
        try:
            with torch.enable_grad(), autocast_for(self.precision, self.adapter.device):
                logits = self.adapter.logits(input_ids, attention_mask)
                heads = list(self._heads)
                objective = logits.float().gather(1, targets[:, None]).sum()
            grads = torch.autograd.grad(objective, [x, *heads])
        finally:
            self._replacement = None
            self._heads = [None] * len(self.points)
        return grads[0], list(grads[1:]), [h.detach() for h in heads]

    def tangents(
        self,
        path_input: torch.Tensor,
        direction: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> list[torch.Tensor]:
        """Exact ``∂h_l/∂α [R, T, HD]`` per layer at ``path_input`` along ``direction`` (= x − b), forward mode."""
        try:
            with torch.no_grad(), forward_ad.dual_level(), autocast_for(self.precision, self.adapter.device):
                self._replacement = forward_ad.make_dual(path_input, direction)
                self.adapter.logits(input_ids, attention_mask)
                tangents = [forward_ad.unpack_dual(h).tangent for h in self._heads]
        finally:
            self._replacement = None
            self._heads = [None] * len(self.points)
        if any(t is None for t in tangents):
            raise RuntimeError("forward-mode pass did not reach every head hook point")
        return tangents  # type: ignore[return-value]
