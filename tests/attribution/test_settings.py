"""``AttributionSettings``: validation on construction, the effective derivative, the JSON form, and how
``attribute_batch`` takes settings and keyword overrides."""

from __future__ import annotations

import json

import numpy as np
import pytest

from protxai_ray.attribution import attribute_batch
from protxai_ray.attribution.settings import (
    ADAPTIVE_SCHEME,
    DEFAULT_MAX_NODES,
    DEFAULT_TOLERANCE,
    DERIVATIVES,
    METHODS,
    AttributionSettings,
)
from tests.attribution.conftest import PROTEINS


def test_defaults_are_error_controlled_spectral_fp32():
    settings = AttributionSettings()
    assert settings.steps == "auto" and settings.adaptive
    assert settings.tolerance == DEFAULT_TOLERANCE == 0.01
    assert settings.max_nodes == DEFAULT_MAX_NODES
    assert (settings.method, settings.derivative, settings.precision) == ("gausslegendre", "spectral", "fp32")
    assert settings.effective_derivative == "spectral"


@pytest.mark.parametrize("steps", [0, -3, 2.5, 8.0, True, False, "32", "Auto", None, [8]])
def test_bad_steps_are_refused(steps):
    with pytest.raises(ValueError, match="steps"):
        AttributionSettings(steps=steps)


@pytest.mark.parametrize("steps", [1, 8, 500, np.int64(64), np.int32(3)])
def test_integer_steps_are_accepted(steps):
    settings = AttributionSettings(steps=steps, derivative="exact")
    assert not settings.adaptive
    assert settings.as_dict()["steps"] == int(steps) and type(settings.as_dict()["steps"]) is int


@pytest.mark.parametrize(
    "field,value",
    [
        ("method", "simpson"),
        ("method", "GaussLegendre"),
        ("method", "riemann"),
        ("derivative", "central"),
        ("derivative", "Seed"),
        ("derivative", None),
        ("precision", "fp16"),
        ("precision", "float32"),
        ("precision", "BF16"),
    ],
)
def test_unknown_choices_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=f"unknown .*{value!r}" if value else "unknown"):
        AttributionSettings(steps=8, **{field: value})


@pytest.mark.parametrize("tolerance", [0, 0.0, 1, 1.0, -0.01, 1.5, "0.01", None, True, float("nan")])
def test_tolerance_must_be_a_relative_error_in_open_unit_interval(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        AttributionSettings(tolerance=tolerance)


@pytest.mark.parametrize("tolerance", [1e-6, 0.0025, 0.5, np.float64(0.05)])
def test_good_tolerances_are_accepted(tolerance):
    assert AttributionSettings(tolerance=tolerance).tolerance == tolerance


@pytest.mark.parametrize("method", [m for m in METHODS if m != "gausslegendre"])
def test_auto_refuses_riemann_rules(method):
    with pytest.raises(ValueError, match="gausslegendre"):
        AttributionSettings(steps="auto", method=method, derivative="exact")
    AttributionSettings(steps=16, method=method, derivative="exact")  # fixed steps: fine


@pytest.mark.parametrize("derivative", ["finite", "seed"])
def test_auto_refuses_fixed_step_discretisations(derivative):
    with pytest.raises(ValueError, match=derivative):
        AttributionSettings(steps="auto", derivative=derivative)
    assert AttributionSettings(steps=50, derivative=derivative).derivative == derivative


@pytest.mark.parametrize("derivative", ["spectral", "exact"])
def test_auto_accepts_spectral_and_exact(derivative):
    assert AttributionSettings(steps="auto", derivative=derivative).adaptive


@pytest.mark.parametrize("derivative", ["spectral", "seed"])
@pytest.mark.parametrize("method", [m for m in METHODS if m != "gausslegendre"])
def test_spectral_and_seed_need_gauss_legendre_nodes(derivative, method):
    with pytest.raises(ValueError, match="gausslegendre"):
        AttributionSettings(steps=32, method=method, derivative=derivative)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "gausslegendre"])
@pytest.mark.parametrize("derivative", ["exact", "finite"])
def test_exact_and_finite_take_any_rule(method, derivative):
    assert AttributionSettings(steps=32, method=method, derivative=derivative).method == method


def test_auto_node_budget_must_cover_the_first_pass():
    with pytest.raises(ValueError, match="max_nodes"):
        AttributionSettings(steps="auto", max_nodes=47)
    assert AttributionSettings(steps="auto", max_nodes=48).max_nodes == 48


@pytest.mark.parametrize("derivative", DERIVATIVES)
def test_bf16_uses_the_exact_derivative(derivative):
    steps = "auto" if derivative in ("spectral", "exact") else 32
    assert (
        AttributionSettings(steps=steps, derivative=derivative, precision="bf16").effective_derivative
        == "exact"
    )
    for precision in ("fp32", "tf32"):  # differencing full-precision head outputs is kept
        settings = AttributionSettings(steps=steps, derivative=derivative, precision=precision)
        assert settings.effective_derivative == derivative


@pytest.mark.parametrize(
    "settings",
    [
        AttributionSettings(),
        AttributionSettings(tolerance=0.0025, max_nodes=4096, derivative="exact", precision="tf32"),
        AttributionSettings(steps=32),
        AttributionSettings(steps=500, derivative="seed"),
        AttributionSettings(steps=50, derivative="finite", method="riemann_trapezoid", precision="bf16"),
    ],
    ids=["default", "auto-tight", "fixed", "seed", "finite-riemann-bf16"],
)
def test_as_dict_round_trips_through_json(settings):
    data = json.loads(json.dumps(settings.as_dict()))
    assert AttributionSettings.from_dict(data) == settings
    assert AttributionSettings.from_dict(data).as_dict() == settings.as_dict()


def test_fixed_steps_as_dict_drops_tolerance_and_node_budget():
    fixed = AttributionSettings(steps=64, tolerance=0.003, max_nodes=100)
    data = fixed.as_dict()
    assert data == {"steps": 64, "method": "gausslegendre", "derivative": "spectral", "precision": "fp32"}
    # tolerance and node budget do not change fixed-step numbers: settings differing only there are one key
    assert data == AttributionSettings(steps=64).as_dict()
    auto = AttributionSettings(tolerance=0.003, max_nodes=100).as_dict()
    assert auto["steps"] == "auto" and auto["tolerance"] == 0.003 and auto["max_nodes"] == 100
    assert auto["scheme"] == ADAPTIVE_SCHEME and "scheme" not in data  # auto's numbers depend on its revision


def test_from_dict_ignores_unknown_keys_and_validates():
    data = {"steps": 16, "derivative": "exact", "note": "from an older manifest", "chunk": 4}
    assert AttributionSettings.from_dict(data) == AttributionSettings(steps=16, derivative="exact")
    with pytest.raises(ValueError, match="steps"):
        AttributionSettings.from_dict({"steps": 0})


def test_replace_revalidates():
    fixed = AttributionSettings(steps=50, derivative="seed")
    with pytest.raises(ValueError, match="seed"):
        fixed.replace(steps="auto")
    assert fixed.replace(steps=8).steps == 8


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        AttributionSettings().steps = 8  # type: ignore[misc]


@pytest.mark.parametrize("option", [{"stepz": 8}, {"n_steps": 8}, {"internal_batch_size": 1}, {"names_": []}])
def test_attribute_batch_rejects_unknown_options(rough_bert, option):
    with pytest.raises(TypeError, match="unknown attribute_batch option.*" + next(iter(option))):
        attribute_batch(rough_bert, PROTEINS[:1], [0], **option)
    with pytest.raises(TypeError, match="unknown attribute_batch option"):  # even with nothing to attribute
        attribute_batch(rough_bert, [], [], **option)


def test_attribute_batch_keyword_options_override_settings(rough_bert):
    base = AttributionSettings(steps=4, derivative="spectral")
    result = attribute_batch(rough_bert, PROTEINS[3:], [0], base, derivative="exact")[0]
    assert result.n_steps == 4 and result.derivative == "exact" and result.head_error is None
    same = attribute_batch(rough_bert, PROTEINS[3:], [0], steps=4, derivative="exact")[0]
    assert np.array_equal(result.heads, same.heads)
    with pytest.raises(ValueError, match="steps"):
        attribute_batch(rough_bert, PROTEINS[3:], [0], base, steps=0)
    with pytest.raises(ValueError, match="seed"):  # the override is validated together with the base
        attribute_batch(
            rough_bert, PROTEINS[3:], [0], AttributionSettings(steps=8, derivative="seed"), steps="auto"
        )


def test_attribute_batch_default_is_auto(rough_bert):
    result = attribute_batch(rough_bert, PROTEINS[3:], [0])[0]
    assert result.head_error is not None and result.head_error <= DEFAULT_TOLERANCE
    assert result.n_steps >= 48 and result.derivative == "spectral"
