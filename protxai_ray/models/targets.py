"""Target resolution: the user's ``--target`` spec + an entry's EC/GO → a class index of the model's head.

``resolve_target(adapter, spec, ec, go)``:

- ``"argmax"`` → ``-1`` (the engine takes the predicted class after the forward pass).
- an exact class name (``adapter.label_names``) → its index. Exact names win over indices, so a model
  with labels ``"1".."7"`` reads ``--target 1`` as the class named ``1``.
- a non-negative integer string → that index (range-checked).
- ``"label"`` → the entry's true class under the model's label map, by these label-name conventions:

  * **EC**: ``"EC1"``, ``"EC:1"``, ``"EC 1"``, ``"1"``, ``"1.-.-.-"``, ``"EC:3.4"``, ``"EC 2.7.11.1"`` —
    an EC number or prefix (unspecified ``-`` levels dropped), matched component-wise against the
    entry's EC numbers. The entry's first EC number that any label covers decides (as the EC demo
    trainer labels: class = first EC number's level 1); the most specific covering label wins.
  * **GO**: any label containing a GO id (``"GO:0016020"``, ``"membrane (GO:0016020)"``), or a known
    alias (``"membrane"`` = GO:0016020), matches entries annotated with that term.
  * **feature types**: a label equal to an annotation feature type (``"transmembrane"``,
    ``"active_site"``, …; also ``"membrane"`` for ``transmembrane``) matches entries that have such a
    feature, when the caller passes ``feature_types`` (e.g. TMbed entries, which carry no GO terms).
    A ``transmembrane`` feature also implies membrane GO:0016020 (a transmembrane segment puts the
    protein in a membrane), matching the membrane demo model's training labels.
  * **negative class**: when no positive label matches, the single label named ``other``, ``none``,
    ``negative``, ``soluble``, ``rest`` or ``not_…``/``non_…``/``no_…`` (also with ``-`` or a space) is the
    answer, so ``["other", "GO:0016020"]`` and ``["not_membrane", "membrane"]`` are binary maps.

  Anything else raises ``UnknownTarget`` naming the spec, the entry's EC/GO and the available labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from protxai_ray.errors import UnknownTarget

ARGMAX = -1
MEMBRANE_GO = "GO:0016020"
GO_ALIASES = {"membrane": MEMBRANE_GO}
FEATURE_ALIASES = {"membrane": "transmembrane", "transmembrane": "transmembrane", "tm": "transmembrane"}
NEGATIVE_NAMES = {"other", "none", "negative", "soluble", "rest", "others"}
_NEGATIVE_PREFIX = re.compile(r"^(not|non|no)[_\- ]", re.IGNORECASE)
_EC_LABEL = re.compile(r"^(?:EC[:\s]?\s*)?(\d+(?:\.(?:\d+|n\d+|-)){0,3})$", re.IGNORECASE)
_GO_ID = re.compile(r"GO:\d{7}")


class HasLabels(Protocol):
    label_names: list[str]


def ec_components(ec: str) -> tuple[str, ...]:
    """``"2.7.-.-"`` → ``("2", "7")``; unspecified trailing levels dropped."""
    parts = [p for p in ec.strip().removeprefix("EC").removeprefix(":").strip().split(".")]
    while parts and parts[-1] in ("-", ""):
        parts.pop()
    return tuple(parts)


def _label_ec(name: str) -> tuple[str, ...] | None:
    match = _EC_LABEL.match(name.strip())
    return ec_components(match.group(1)) if match else None


def _label_go(name: str) -> str | None:
    match = _GO_ID.search(name)
    if match:
        return match.group(0)
    return GO_ALIASES.get(name.strip().lower())


def is_negative_label(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered in NEGATIVE_NAMES or bool(_NEGATIVE_PREFIX.match(lowered))


def _true_class(
    label_names: Sequence[str], ec: Sequence[str], go: Sequence[str], feature_types: set[str]
) -> tuple[int | None, str | None]:
    """(index, None) for the entry's class, or (None, why) when it cannot be decided."""
    positives = [(i, name) for i, name in enumerate(label_names) if not is_negative_label(name)]
    ec_labels = [(i, lab) for i, name in positives if (lab := _label_ec(name))]
    # EC: the entry's EC numbers in order; the first one that some label covers decides (the demo trainer's
    # rule: class = the first EC number's level 1); among covering labels the most specific wins.
    for number in ec:
        components = ec_components(number) if number and number.strip() else ()
        hits = [(len(lab), i) for i, lab in ec_labels if components[: len(lab)] == lab]
        if hits:
            best = max(levels for levels, _ in hits)
            winners = [i for levels, i in hits if levels == best]
            if len(winners) == 1:
                return winners[0], None
            return None, "ambiguous: EC " + number + " matches " + ", ".join(label_names[i] for i in winners)
    entry_go = set(go)
    if "transmembrane" in feature_types:
        entry_go.add(MEMBRANE_GO)  # a transmembrane segment puts the protein in a membrane
    other_hits = []
    ec_indices = {i for i, _ in ec_labels}
    for index, name in positives:
        if index in ec_indices:
            continue
        go_id = _label_go(name)
        feature = FEATURE_ALIASES.get(name.strip().lower(), name.strip().lower())
        if (go_id and go_id in entry_go) or feature in feature_types:
            other_hits.append(index)
    if len(other_hits) == 1:
        return other_hits[0], None
    if len(other_hits) > 1:
        return None, "ambiguous: matches classes " + ", ".join(label_names[i] for i in other_hits)
    negatives = [i for i, name in enumerate(label_names) if is_negative_label(name)]
    if len(negatives) == 1:
        return negatives[0], None
    return None, "no class of the model matches the entry"


def resolve_target(
    adapter: HasLabels,
    spec: str,
    ec: Iterable[str] | None,
    go: Iterable[str] | None,
    feature_types: Iterable[str] = (),
    accession: str | None = None,
) -> int:
    """Class index for ``spec`` (``-1`` = argmax, decided after the forward); see the module docstring.

    Raises ``UnknownTarget`` naming the spec (and the entry, when ``accession`` is given) and the labels.
    """
    labels = list(adapter.label_names)
    spec = str(spec).strip()
    who = f"{accession}: " if accession else ""
    available = ", ".join(f"{i}={name}" for i, name in enumerate(labels))
    if spec == "argmax":
        return ARGMAX
    if spec in labels:
        return labels.index(spec)
    if spec.isdigit():
        index = int(spec)
        if index < len(labels):
            return index
        raise UnknownTarget(
            f"{who}target index {index} out of range; the model has {len(labels)} classes: {available}"
        )
    if spec == "label":
        ec_list, go_list = list(ec or []), list(go or [])
        index, why = _true_class(labels, ec_list, go_list, {f.strip().lower() for f in feature_types})
        if index is not None:
            return index
        raise UnknownTarget(
            f"{who}target 'label': {why} (EC {ec_list or 'none'}, GO {go_list or 'none'}); labels: {available}"
        )
    raise UnknownTarget(
        f"{who}unknown target {spec!r}: use 'label', 'argmax', a class name or a class index; labels: {available}"
    )
