"""Head conductance of every layer, accumulated node chunk by node chunk (streaming, bounded memory).

``C_{l,k,t} = ∫ Σ_{d ∈ head k} ∂F/∂h_{l,t,d}(x(α)) · ∂h_{l,t,d}/∂α dα`` per layer l, head k, token t.

* ``ExactConductance``: ``Σ_i w_i g_i · ḣ_i`` with ḣ from forward mode at the same nodes as the IG.
* ``SpectralConductance``: ``Σ_i w_i g_i · (D h)_i`` at the same nodes, D the polynomial differentiation
  matrix of the nodes; it holds g and h of every node of its proteins until ``finish``.
* ``FiniteConductance``: captum ``LayerConductance``'s discretization ``Σ_{i<n} g_i · (h_{i+1} − h_i)`` over
  n + 1 consecutive nodes; only the last node's gradient is carried from one chunk to the next.

Each keeps one ``float64[P, layers, heads, T]`` total; a chunk's per-layer tensors are reduced over the
head dimension (reshape to ``[..., heads, head_size]`` and sum) as soon as they arrive.
"""

from __future__ import annotations

import torch


def _per_head(a: torch.Tensor, b: torch.Tensor, heads: int) -> torch.Tensor:
    """``Σ_{d ∈ head} a·b``: ``[..., T, H*Dh] × [..., T, H*Dh] -> float64[..., T, H]``."""
    product = (a.float() * b.float()) if a.dtype != b.dtype or a.dtype == torch.bfloat16 else a * b
    return product.unflatten(-1, (heads, -1)).sum(-1).double()


class ExactConductance:
    """Running conductance from gradients and exact path derivatives at weighted nodes."""

    def __init__(self, proteins: int, heads: list[int], tokens: int, device: torch.device) -> None:
        self.heads = heads
        self.total = torch.zeros(
            (proteins, len(heads), max(heads), tokens), dtype=torch.float64, device=device
        )

    def add(self, grad_h: list[torch.Tensor], dh_dalpha: list[torch.Tensor], weights: torch.Tensor) -> None:
        """``grad_h``/``dh_dalpha``: per layer ``[P, k, T, HD]`` at k nodes with weights ``[k]``."""
        w = weights.double()
        for layer, (g, v) in enumerate(zip(grad_h, dh_dalpha, strict=True)):
            h = self.heads[layer]
            self.total[:, layer, :h] += torch.einsum("pkth,k->pht", _per_head(g, v, h), w)


class SpectralConductance:
    """Conductance with ḣ(α_i) from the interpolating polynomial through h at all nodes (no forward mode).

    Nodes arrive in chunks, in plan order; ``finish`` applies the differentiation matrix once all are in.
    Holds ``2 × nodes`` tensors ``[P, T, HD]`` per layer meanwhile (``held_bytes``).
    """

    def __init__(
        self,
        proteins: int,
        heads: list[int],
        tokens: int,
        differentiation: torch.Tensor,
        weights: torch.Tensor,
        device: torch.device,
    ) -> None:
        self.heads = heads
        self.differentiation = differentiation.to(device=device, dtype=torch.float64)  # [n, n]
        self.weights = weights.to(device=device, dtype=torch.float64)  # [n]
        self.total = torch.zeros(
            (proteins, len(heads), max(heads), tokens), dtype=torch.float64, device=device
        )
        self._grads: list[list[torch.Tensor]] = [[] for _ in heads]
        self._acts: list[list[torch.Tensor]] = [[] for _ in heads]

    @staticmethod
    def held_bytes(proteins: int, nodes: int, tokens: int, head_widths: list[int], element_bytes: int) -> int:
        """Bytes of the g and h this accumulator holds for ``proteins`` × ``nodes`` before ``finish``."""
        return 2 * proteins * nodes * tokens * sum(head_widths) * element_bytes

    def add(self, grad_h: list[torch.Tensor], acts: list[torch.Tensor]) -> None:
        """Next k nodes: per layer gradients and activations ``[P, k, T, HD]``."""
        for layer, (g, h) in enumerate(zip(grad_h, acts, strict=True)):
            self._grads[layer].append(g)
            self._acts[layer].append(h)

    def finish(self) -> torch.Tensor:
        """``float64[P, layers, heads, T]``: the conductance, once every node has been added."""
        for layer, heads in enumerate(self.heads):
            g = torch.cat(self._grads[layer], dim=1)  # [P, n, T, HD]
            h = torch.cat(self._acts[layer], dim=1)
            self._grads[layer] = self._acts[layer] = []
            if g.shape[1] != self.weights.shape[0]:
                raise RuntimeError(
                    f"spectral conductance got {g.shape[1]} nodes, expected {self.weights.shape[0]}"
                )
            dh = torch.einsum("ij,pjtd->pitd", self.differentiation.to(h.dtype), h)  # ḣ at every node
            del h
            self.total[:, layer, :heads] = torch.einsum("pkth,k->pht", _per_head(g, dh, heads), self.weights)
            del g, dh
        return self.total


class FiniteConductance:
    """Running captum-style conductance over nodes ``0..n`` delivered in order, in chunks."""

    def __init__(
        self, proteins: int, heads: list[int], tokens: int, steps: int, device: torch.device
    ) -> None:
        self.heads = heads
        self.steps = steps  # n: nodes 0..n, gradients used at nodes 0..n-1
        self.total = torch.zeros(
            (proteins, len(heads), max(heads), tokens), dtype=torch.float64, device=device
        )
        self._carry: list[torch.Tensor] | None = None  # per layer g at the last node seen, [P, T, HD]
        self._seen = 0

    def add(self, grad_h: list[torch.Tensor], acts: list[torch.Tensor]) -> None:
        """Next k consecutive nodes: per layer gradients and activations ``[P, k, T, HD]``."""
        k = acts[0].shape[1]
        first = self._seen
        # Nodes first..first+k-1; a gradient counts only at nodes < n (the last node only closes a step).
        use = max(0, min(k, self.steps - first))
        for layer, (g, h) in enumerate(zip(grad_h, acts, strict=True)):
            heads = self.heads[layer]
            step = torch.zeros_like(self.total[:, layer, :heads]).transpose(1, 2)  # [P, T, H]
            if self._carry is not None:
                step += _per_head(self._carry[layer], h[:, 0], heads)
            if k > 1:
                pairs = min(k - 1, use)
                if pairs > 0:
                    step += _per_head(g[:, :pairs], h[:, 1 : pairs + 1], heads).sum(1)
            if use > 0:
                step -= _per_head(g[:, :use], h[:, :use], heads).sum(1)
            self.total[:, layer, :heads] += step.transpose(1, 2)
        last = first + k - 1
        self._carry = [g[:, -1] for g in grad_h] if last < self.steps else None
        self._seen += k
