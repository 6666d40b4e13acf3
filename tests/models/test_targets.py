"""resolve_target: argmax, names, indices and the 'label' conventions for EC and GO label maps."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protxai_ray.errors import UnknownTarget
from protxai_ray.models.targets import resolve_target


@dataclass
class Labels:
    label_names: list[str]


MEMBRANE = Labels(["other", "GO:0016020"])
MEMBRANE_WORDS = Labels(["not_membrane", "membrane"])
EC_COLON = Labels([f"EC:{k}" for k in range(1, 8)])
EC_DIGITS = Labels([str(k) for k in range(1, 8)])
EC_MIXED = Labels(["EC3", "EC 3.4", "EC:2.7.11.1"])


def test_argmax_names_and_indices():
    assert resolve_target(MEMBRANE, "argmax", [], []) == -1
    assert resolve_target(MEMBRANE, "GO:0016020", [], []) == 1
    assert resolve_target(MEMBRANE, "other", [], []) == 0
    assert resolve_target(MEMBRANE, "1", [], []) == 1
    # exact names win over indices: class named "1" is index 0
    assert resolve_target(EC_DIGITS, "1", [], []) == 0
    assert resolve_target(EC_DIGITS, "7", [], []) == 6


@pytest.mark.parametrize(
    ("labels", "ec", "expected"),
    [
        (EC_COLON, ["2.7.11.1"], 1),
        (EC_COLON, ["EC:3.4.21.4"], 2),
        (EC_DIGITS, ["7.1.1.2"], 6),
        (EC_COLON, ["1.1.1.1", "2.7.1.1"], 0),  # first EC number decides
        (EC_COLON, ["1.-.-.-"], 0),
        (EC_MIXED, ["3.4.21.4"], 1),  # most specific covering label
        (EC_MIXED, ["3.1.1.1"], 0),
        (EC_MIXED, ["2.7.11.1"], 2),
    ],
)
def test_label_ec(labels, ec, expected):
    assert resolve_target(labels, "label", ec, ["GO:0005737"]) == expected


@pytest.mark.parametrize(
    ("labels", "go", "features", "expected"),
    [
        (MEMBRANE, ["GO:0005737", "GO:0016020"], (), 1),
        (MEMBRANE, ["GO:0005737"], (), 0),
        (MEMBRANE, [], (), 0),
        (MEMBRANE, [], ("transmembrane",), 1),  # TMbed entries carry no GO terms
        (MEMBRANE_WORDS, ["GO:0016020"], (), 1),
        (MEMBRANE_WORDS, [], ("domain",), 0),
        (Labels(["soluble", "membrane (GO:0016020)"]), ["GO:0016020"], (), 1),
        (Labels(["no_tm", "transmembrane"]), [], ("transmembrane",), 1),
    ],
)
def test_label_go_and_features(labels, go, features, expected):
    assert resolve_target(labels, "label", [], go, feature_types=features) == expected


def test_unknown_targets_name_spec_and_labels():
    with pytest.raises(UnknownTarget, match=r"unknown target 'kinase'.*0=other, 1=GO:0016020"):
        resolve_target(MEMBRANE, "kinase", [], [])
    with pytest.raises(UnknownTarget, match="index 2 out of range; the model has 2 classes"):
        resolve_target(MEMBRANE, "2", [], [])
    with pytest.raises(UnknownTarget, match="P12345: target 'label': no class of the model matches"):
        resolve_target(EC_COLON, "label", [], ["GO:0016020"], accession="P12345")
    with pytest.raises(UnknownTarget, match="ambiguous"):
        resolve_target(Labels(["GO:0016020", "GO:0005737"]), "label", [], ["GO:0016020", "GO:0005737"])
