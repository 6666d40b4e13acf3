"""``--where`` reaching the pipeline through the API (RunConfig, an inherited re-run selection) is checked
and confined the same way as on the command line: one condition, no files, no second statement."""

from __future__ import annotations

import pyarrow as pa
import pytest

from protxai_ray.errors import ProtxaiError
from protxai_ray.pipeline.plan import filter_proteins

TABLE = pa.table({"accession": ["A", "B", "C"], "length": [10, 200, 90]})


def test_a_condition_selects() -> None:
    assert filter_proteins(TABLE, "length <= 150").column("accession").to_pylist() == ["A", "C"]


@pytest.mark.parametrize(
    "where",
    [
        "length < 5; COPY (SELECT 1) TO '{out}'",
        "length < 1) OR (1=1",
        "accession IN (SELECT column0 FROM read_csv('/etc/passwd'))",
        "length < (SELECT count(*) FROM read_parquet('{out}'))",
        "length > 0 AND (SELECT count(*) FROM glob('/etc/*')) > 0",
    ],
)
def test_anything_else_is_refused_and_runs_nothing(where, tmp_path) -> None:
    out = tmp_path / "pwn.csv"
    with pytest.raises(ProtxaiError) as caught:
        filter_proteins(TABLE, where.format(out=out))
    assert "--where" in str(caught.value) and "\n" not in str(caught.value)
    assert not out.exists()
