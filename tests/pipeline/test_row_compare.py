"""The equality check of the fault tests itself: a lost, extra, changed or duplicated row never passes."""

from __future__ import annotations

import math

import pyarrow as pa

from tests.pipeline.conftest import row_differences

RESIDUES = pa.table(
    {
        "accession": ["P1", "P1", "P2"],
        "position": [0, 1, 0],
        "relevance": [0.5, math.nan, -1.0],
        "note": ["a", None, "c"],
    }
)


def test_identical_rows_in_any_order_pass():
    assert row_differences("residues", RESIDUES.take([2, 0, 1]), RESIDUES) == []


def test_a_row_missing_from_the_run_fails():
    (problem,) = row_differences("residues", RESIDUES.slice(0, 2), RESIDUES)
    assert "1 row(s) of the reference missing" in problem


def test_a_row_not_in_the_reference_fails():
    (problem,) = row_differences("residues", RESIDUES, RESIDUES.slice(0, 2))
    assert "1 row(s) not in the reference" in problem


def test_a_changed_value_or_null_fails():
    changed = RESIDUES.set_column(2, "relevance", pa.array([0.5, math.nan, -1.0000001]))
    assert row_differences("residues", changed, RESIDUES) == ["residues: 1 row(s) with different values"]
    nulled = RESIDUES.set_column(3, "note", pa.array(["a", None, None]))
    assert row_differences("residues", nulled, RESIDUES) == ["residues: 1 row(s) with different values"]


def test_a_duplicated_row_fails():
    doubled = pa.concat_tables([RESIDUES, RESIDUES.slice(2, 1)])
    problems = row_differences("residues", doubled, RESIDUES)
    assert any("duplicated keys (run 1, reference 0)" in p for p in problems)
