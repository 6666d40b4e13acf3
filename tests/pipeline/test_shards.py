"""One shard without Ray: rows equal the engine called directly, ordered, failures recorded per protein."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from protxai_ray.attribution import attribute_batch
from protxai_ray.models import load_model
from protxai_ray.pipeline.plan import filter_proteins, make_plan, read_release_proteins
from protxai_ray.pipeline.shards import (
    ProteinInput,
    attribute_shard,
    build_tables,
    engine_options,
    write_shard,
)
from protxai_ray.store.fs import Store
from protxai_ray.store.parquet import parquet_bytes
from protxai_ray.store.schemas import RUN_TABLES
from tests.pipeline.conftest import RELEASE, STEPS, WHERE, base_config


@pytest.fixture(scope="module")
def shard_proteins(release_store) -> list[ProteinInput]:
    table = filter_proteins(read_release_proteins(Store(release_store), RELEASE), WHERE)
    shard = make_plan(table, 12).shards[3]
    return [
        ProteinInput(r["accession"], r["crc64"], r["sequence"], r["ec"], r["go"]) for r in shard.to_pylist()
    ]


def test_shard_rows_equal_engine(model_dir, release_store, shard_proteins, tmp_path):
    model = load_model(str(model_dir), device="cpu")
    config = base_config(release_store, model_dir, "unit")
    bad = [
        ProteinInput("ZZ_BAD1", "0" * 16, "MKT1AVL"),  # not a protein sequence
        ProteinInput("ZZ_LONG", "1" * 16, "A" * 200),  # longer than the model's 140 residues
    ]
    out = attribute_shard(model, "unit", [*shard_proteins, *bad], config)
    assert (out.proteins, out.failures) == (len(shard_proteins) + 2, 2)
    failures = out.tables["failures"].to_pylist()
    assert [f["accession"] for f in failures] == ["ZZ_BAD1", "ZZ_LONG"]
    assert "exceeds" in failures[1]["reason"]

    # The engine called directly on the same proteins with the run's settings (same memory budget, so
    # the same grouping: batch composition moves finite-difference conductance by ~1e-6).
    options = engine_options(config, "cpu")
    assert options["settings"].steps == STEPS
    direct = attribute_batch(
        model, [p.sequence for p in shard_proteins], [-1] * len(shard_proteins), **options
    )
    residues, heads = out.tables["residues"], out.tables["heads"]
    layers, nheads = model.num_layers, model.num_heads
    assert residues["accession"].to_pylist() == sorted(residues["accession"].to_pylist())
    for protein, expected in zip(shard_proteins, direct, strict=True):
        length = len(protein.sequence)
        mine = residues.filter(np.array(residues["accession"].to_pylist()) == protein.accession)
        assert mine["position"].to_pylist() == list(range(length + 2))
        assert mine["residue"].to_pylist()[1:-1] == list(protein.sequence)
        np.testing.assert_allclose(mine["relevance"].to_numpy(), expected.residues, atol=1e-6, rtol=0)
        rows = heads.filter(np.array(heads["accession"].to_pylist()) == protein.accession)
        assert rows.num_rows == layers * nheads * (length + 2)
        got = rows["relevance"].to_numpy().reshape(layers, nheads, length + 2)
        np.testing.assert_allclose(got, expected.heads, atol=1e-6, rtol=0)
        assert rows["layer"].to_pylist()[: length + 2] == [0] * (length + 2)

    # Deterministic bytes: the same inputs give the same files.
    again = attribute_shard(model, "unit", [*reversed(shard_proteins), *bad], config)
    for table, schema in RUN_TABLES.items():
        assert parquet_bytes(again.tables[table], schema) == parquet_bytes(out.tables[table], schema)

    checks = write_shard(Store(str(tmp_path / "store")), "unit", "00003", out.tables)
    written = (tmp_path / "store/runs/run_id=unit/heads/shard-00003.parquet").read_bytes()
    assert (
        checks["heads"]["bytes"] == len(written) and checks["heads"]["rows"] == out.tables["heads"].num_rows
    )
    assert checks["heads"]["sha256"] == hashlib.sha256(written).hexdigest()


def test_empty_shard_tables_are_typed():
    tables = build_tables("r", ["a", "b"], {}, {}, {})
    for name, schema in RUN_TABLES.items():
        assert tables[name].num_rows == 0
        assert tables[name].schema.equals(schema)
