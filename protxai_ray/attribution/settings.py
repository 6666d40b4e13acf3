"""``AttributionSettings``: every setting that decides an attribution's numbers, in one frozen object.

``attribute_batch``, the run manifest, the run fingerprint and the re-run cache key all take their
quadrature settings from here, so a default lives in exactly one place.

* ``steps="auto"`` (default): error-controlled adaptive composite Gauss–Legendre (``adaptive.py``) until
  the estimated relative error of every layer's head tensor (and of the embedding IG) is at most
  ``tolerance``, or ``max_nodes`` path points per protein are spent.
* ``steps=N``: one fixed N-node rule of ``method`` with the ``derivative`` scheme (``quadrature.py``).

``derivative``: ``spectral`` (∂h/∂α from the polynomial through h at a rule's nodes; one forward +
backward per node), ``exact`` (forward-mode JVP; one more forward-mode pass per node), ``finite``
(captum ``LayerConductance``'s scheme, fixed steps only), ``seed`` (the xai-proteins discretisation:
Gauss–Legendre nodes, ``torch.gradient`` over the alphas; fixed steps only).
``precision``: ``fp32`` | ``tf32`` | ``bf16``. Differencing schemes (spectral, finite, seed) need fp32 head
outputs: under ``bf16`` the engine uses the exact derivative (``effective_derivative``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
DERIVATIVES = ("spectral", "exact", "finite", "seed")
PRECISIONS = ("fp32", "tf32", "bf16")
DEFAULT_TOLERANCE = 0.01
DEFAULT_MAX_NODES = 2048
SEED_STEPS = 500  # the reference code's step count
# The revision of ``steps="auto"``'s refinement rule and error estimate (``adaptive.py``): the same settings
# give other numbers when it changes, so it is part of ``as_dict`` (run fingerprint, run ids of the demo,
# re-run cache key) and a run attributed by an older revision is not resumed or reused as if it were this one.
# 1: equidistribution refinement; 2: greedy refinement + TOTAL_SAFETY (2026-11-30).
ADAPTIVE_SCHEME = 2


@dataclass(frozen=True)
class AttributionSettings:
    """How a protein's path integrals are computed (validated on construction)."""

    steps: int | str = "auto"
    tolerance: float = DEFAULT_TOLERANCE
    max_nodes: int = DEFAULT_MAX_NODES
    method: str = "gausslegendre"
    derivative: str = "spectral"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        steps = self.steps
        if steps != "auto" and (
            isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1
        ):
            raise ValueError(f"steps must be a positive integer or 'auto', got {steps!r}")
        if self.method not in METHODS:
            raise ValueError(f"unknown quadrature method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.derivative not in DERIVATIVES:
            raise ValueError(
                f"unknown derivative {self.derivative!r}; choose one of {', '.join(DERIVATIVES)}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if isinstance(self.tolerance, bool) or not (
            isinstance(self.tolerance, int | float | np.floating) and 0 < self.tolerance < 1
        ):
            raise ValueError(f"tolerance must be a relative error in (0, 1), got {self.tolerance!r}")
        if steps == "auto":
            if self.method != "gausslegendre":
                raise ValueError(
                    "steps='auto' integrates with composite Gauss–Legendre; use method 'gausslegendre'"
                )
            if self.derivative not in ("spectral", "exact"):
                raise ValueError(
                    f"steps='auto' supports the 'spectral' and 'exact' derivatives, not {self.derivative!r} "
                    "(finite and seed are fixed-step discretisations)"
                )
            if isinstance(self.max_nodes, bool) or not isinstance(self.max_nodes, int | np.integer):
                raise ValueError(f"max_nodes must be an integer, got {self.max_nodes!r}")
            if self.max_nodes < 48:
                raise ValueError("max_nodes must be at least 48 (the first adaptive pass)")
        if self.derivative in ("spectral", "seed") and self.method != "gausslegendre":
            raise ValueError(
                f"derivative {self.derivative!r} needs gausslegendre nodes; use 'exact' or 'finite' with {self.method}"
            )

    @property
    def adaptive(self) -> bool:
        return self.steps == "auto"

    @property
    def effective_derivative(self) -> str:
        """The derivative actually used: differencing bf16 head outputs loses the signal (h rounded to 8
        mantissa bits, differences of nearby nodes cancel), so bf16 uses the exact forward-mode derivative."""
        if self.precision == "bf16" and self.derivative in ("spectral", "seed", "finite"):
            return "exact"
        return self.derivative

    def as_dict(self) -> dict:
        """JSON-ready form (run manifests, fingerprints, re-run cache keys)."""
        data = dataclasses.asdict(self)
        data["steps"] = self.steps if self.steps == "auto" else int(self.steps)
        if not self.adaptive:  # tolerance and node budget do not affect fixed-step numbers
            data.pop("tolerance")
            data.pop("max_nodes")
        else:
            data["scheme"] = ADAPTIVE_SCHEME
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AttributionSettings:
        """Inverse of ``as_dict`` (unknown keys ignored, so older manifests still load)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})

    def replace(self, **changes) -> AttributionSettings:
        return dataclasses.replace(self, **changes)
