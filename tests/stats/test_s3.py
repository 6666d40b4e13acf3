"""The stats of the same run are identical over a local store and an s3:// SeaweedFS store."""

from __future__ import annotations

import pandas as pd

from protxai_ray.stats import compute_stats
from protxai_ray.store.duck import connect
from tests.stats.synthetic import write_synthetic_run


def test_local_and_s3_stores_give_identical_tables(tmp_path, s3_store):
    local = write_synthetic_run(str(tmp_path / "store"), n_proteins=12, layers=2, heads=3)
    remote = write_synthetic_run(s3_store, n_proteins=12, layers=2, heads=3)
    on_disk = compute_stats(local.store.uri, local.run_id)
    on_s3 = compute_stats(s3_store, remote.run_id)
    assert on_disk.tables.keys() == on_s3.tables.keys()
    for name, table in on_disk.tables.items():
        local_rows, s3_rows = table.to_pandas(), on_s3.tables[name].to_pandas()
        # DuckDB's parallel aggregates may add floats in another order: equal up to rounding
        pd.testing.assert_frame_equal(local_rows, s3_rows, check_exact=False, rtol=1e-12, atol=1e-15)
        assert local_rows.drop(columns=[c for c in local_rows if local_rows[c].dtype.kind == "f"]).equals(
            s3_rows.drop(columns=[c for c in s3_rows if s3_rows[c].dtype.kind == "f"])
        ), name
    assert on_s3.written and all(remote.store.exists(path) for path in on_s3.written)
    con = connect(s3_store)
    significant = con.execute("SELECT count(*) FROM head_enrichment WHERE significant").fetchone()[0]
    assert significant == sum(on_disk.tables["head_enrichment"]["significant"].to_pylist())
