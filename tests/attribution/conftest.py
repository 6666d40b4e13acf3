"""Random-weight classifiers (real transformers models written by ``write_random_model``) for the engine tests."""

from __future__ import annotations

import pytest

from protxai_ray.models import load_model
from protxai_ray.models.random_init import write_random_model

# Real protein fragments (UniProt P69905 HBA_HUMAN, P01308 INS_HUMAN, P62988 ubiquitin starts).
PROTEINS = [
    "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMF",
    "MALWMRLLPLLALLALWGPDPAAA",
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQ",
    "MKTAYIAKQR",
]


def random_adapter(tmp_path_factory, model_type: str, double: bool = True, **shape):
    """Load a seeded random model of ``model_type``; float64 for parity checks that must not see fp32 noise."""
    directory = tmp_path_factory.mktemp(f"{model_type}_model")
    path = write_random_model(directory, model_type=model_type, **shape)
    adapter = load_model(str(path))
    if double:
        adapter.model.double()
    return adapter


@pytest.fixture(scope="session")
def rough_bert(tmp_path_factory):
    """3 layers × 5 heads, hidden 60: initializer range 0.3 makes the path curved enough that quadrature
    error is visible at 16–64 steps, yet Gauss–Legendre still converges (measured: delta 4e-4 at 32)."""
    return random_adapter(
        tmp_path_factory,
        "bert",
        num_layers=3,
        num_heads=5,
        hidden=60,
        intermediate=80,
        seed=2,
        initializer_range=0.3,
    )
