"""Benchmark: bytes per protein of the ``heads`` table and DuckDB query time, per Parquet writer setting.

    python benchmarks/storage.py [--quick] [--out FILE.json] [--proteins N]

Relevance values are real engine output, tiled and perturbed: ``attribute_batch`` runs on a few short
random sequences with a seeded random-weight 30-layer × 16-head BERT (hidden 64, so it is quick on a CPU);
each synthetic protein (length lognormal around 350, capped at 1,000) takes one of those attributions,
tiles its residue columns to its own length at a random offset and multiplies every value by lognormal
noise (σ 0.5). That keeps what decides compressibility: full-entropy float32 mantissas, the spread of
exponents over ~5 decades, signs, and the exact zeros of the last layer (only [CLS] reaches the
classifier, so 1/30 of all values are 0). Rows are built like ``pipeline.shards`` builds them
(dictionary-typed run_id/accession/crc64, ordered accession, layer, head, position) and all P proteins
go into one file (default P = 32; the pipeline writes 256 per shard file).

Per variant: bytes per protein (whole file and per column), write time (wall and CPU, best of 3;
encoding to memory, as ``write_parquet_atomic`` does), an exact round-trip check, and the median of 3
DuckDB timings (wall and process CPU, threads=2) of three queries: per-head aggregate over all proteins;
one protein's full heads; per-head corr of relevance with an annotation mask joined per protein. fp16
rows are information only (the schema keeps float32): unscaled, and scaled by an exact power of two.
--quick = 6 proteins, one seed attribution, single timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protxai_ray.store.parquet import parquet_bytes  # noqa: E402
from protxai_ray.store.schemas import HEADS  # noqa: E402

LAYERS, HEADS_PER_LAYER = 30, 16
AMINO = list("ACDEFGHIKLMNPQRSTVWY")
STRINGS = ["run_id", "accession", "crc64"]
NON_STRING = ["layer", "head", "position", "relevance"]
PIPELINE_ORDER = ["accession", "layer", "head", "position"]
POSITION_MAJOR = ["accession", "position", "layer", "head"]

QUERIES = {
    "per_head_aggregate": (
        "SELECT layer, head, count(*) AS n, sum(relevance::DOUBLE) AS s, avg(abs(relevance)) AS a "
        "FROM heads GROUP BY ALL ORDER BY layer, head"
    ),
    "one_protein": (
        "SELECT layer, head, position, relevance FROM heads WHERE accession = $acc ORDER BY layer, head, position"
    ),
    "mask_corr": (
        "SELECT h.layer, h.head, corr(h.relevance, (h.position BETWEEN m.start AND m.stop)::DOUBLE) AS r "
        "FROM heads h JOIN mask m USING (accession) GROUP BY ALL ORDER BY layer, head"
    ),
}


def seed_attributions(lengths: list[int], workdir: Path) -> list[np.ndarray]:
    """Real head relevance float32[30, 16, L + 2] from the engine for random sequences of ``lengths``."""
    from protxai_ray.attribution import attribute_batch
    from protxai_ray.models import load_model
    from protxai_ray.models.random_init import write_random_model

    model_dir = write_random_model(
        workdir / "model", "bert", num_layers=LAYERS, num_heads=HEADS_PER_LAYER, hidden=64, seed=0
    )
    model = load_model(str(model_dir), device="cpu")
    rng = np.random.default_rng(1)
    sequences = ["".join(rng.choice(AMINO, n)) for n in lengths]
    results = attribute_batch(model, sequences, [0] * len(sequences), steps=8, derivative="finite")
    return [np.asarray(r.heads, dtype=np.float32) for r in results]


def synthetic_heads(n_proteins: int, seeds: list[np.ndarray], seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """(heads rows in pipeline order, one annotated range per protein) for ``n_proteins`` proteins."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(350), 0.5, n_proteins), 30, 1000).astype(np.int64)
    accessions = [f"Q{i:05d}" for i in range(n_proteins)]
    crcs = [f"{int(v):016X}" for v in rng.integers(0, 2**63, n_proteins)]
    index, layer, head, position, relevance = [], [], [], [], []
    for i, n in enumerate(lengths):
        src = seeds[i % len(seeds)]
        inner = src[:, :, 1:-1]
        cols = (np.arange(n) + rng.integers(0, inner.shape[2])) % inner.shape[2]
        values = np.concatenate([src[:, :, :1], inner[:, :, cols], src[:, :, -1:]], axis=2)
        values = (values * rng.lognormal(0.0, 0.5, values.shape)).astype(np.float32)
        grid = np.meshgrid(
            np.arange(LAYERS, dtype=np.int16),
            np.arange(HEADS_PER_LAYER, dtype=np.int16),
            np.arange(n + 2, dtype=np.int32),
            indexing="ij",
        )
        index.append(np.full(values.size, i, dtype=np.int32))
        layer.append(grid[0].ravel())
        head.append(grid[1].ravel())
        position.append(grid[2].ravel())
        relevance.append(values.ravel())
    idx = np.concatenate(index)
    table = pa.table(
        {
            "run_id": pa.DictionaryArray.from_arrays(np.zeros(len(idx), np.int32), pa.array(["run-bench"])),
            "accession": pa.DictionaryArray.from_arrays(idx, pa.array(accessions)),
            "crc64": pa.DictionaryArray.from_arrays(idx, pa.array(crcs)),
            "layer": np.concatenate(layer),
            "head": np.concatenate(head),
            "position": np.concatenate(position),
            "relevance": np.concatenate(relevance),
        }
    ).cast(HEADS)
    starts = np.array([rng.integers(1, max(2, n - 20)) for n in lengths], dtype=np.int32)
    mask = pa.table({"accession": accessions, "start": starts, "stop": starts + 20})
    return table, mask


def _explicit(**kwargs):
    def write(table: pa.Table) -> pa.Buffer:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **kwargs)
        return sink.getvalue()

    return write


def variants() -> list[dict]:
    """Writer variants: name, writer(table) -> bytes, sort order, relevance type, note."""
    dict_off_strings = [c for c in NON_STRING]
    no_dict_rel = ["run_id", "accession", "crc64", "layer", "head", "position"]
    no_dict_rel_pos = ["run_id", "accession", "crc64", "layer", "head"]
    bss = dict(use_dictionary=no_dict_rel, use_byte_stream_split=["relevance"])
    out = [
        ("writer (protxai_ray.store.parquet)", lambda t: parquet_bytes(t, HEADS), PIPELINE_ORDER, None),
        ("pyarrow defaults + zstd (level 1)", _explicit(compression="zstd"), PIPELINE_ORDER, None),
        ("zstd 3", _explicit(compression="zstd", compression_level=3), PIPELINE_ORDER, None),
        ("zstd 9", _explicit(compression="zstd", compression_level=9), PIPELINE_ORDER, None),
        (
            "no dictionary run_id/accession/crc64",
            _explicit(compression="zstd", use_dictionary=dict_off_strings),
            PIPELINE_ORDER,
            None,
        ),
        (
            "no dictionary relevance",
            _explicit(compression="zstd", use_dictionary=no_dict_rel),
            PIPELINE_ORDER,
            None,
        ),
        ("byte_stream_split relevance", _explicit(compression="zstd", **bss), PIPELINE_ORDER, None),
        (
            "byte_stream_split relevance, zstd 3",
            _explicit(compression="zstd", compression_level=3, **bss),
            PIPELINE_ORDER,
            None,
        ),
        (
            "bss relevance + delta position",
            _explicit(
                compression="zstd",
                use_dictionary=no_dict_rel_pos,
                column_encoding={"relevance": "BYTE_STREAM_SPLIT", "position": "DELTA_BINARY_PACKED"},
            ),
            PIPELINE_ORDER,
            None,
        ),
        (
            "bss relevance, row group 128Ki",
            _explicit(compression="zstd", row_group_size=128 * 1024, **bss),
            PIPELINE_ORDER,
            None,
        ),
        (
            "bss relevance, row group 8Mi",
            _explicit(compression="zstd", row_group_size=8 * 1024 * 1024, **bss),
            PIPELINE_ORDER,
            None,
        ),
        ("sort accession,position,layer,head", _explicit(compression="zstd"), POSITION_MAJOR, None),
        (
            "sort accession,position,layer,head + bss",
            _explicit(compression="zstd", **bss),
            POSITION_MAJOR,
            None,
        ),
        ("fp16 relevance (info only)", _explicit(compression="zstd"), PIPELINE_ORDER, pa.float16()),
        (
            "fp16 relevance, scaled by 2^k (info only)",
            _explicit(compression="zstd"),
            PIPELINE_ORDER,
            "scaled",
        ),
        (
            "fp16 relevance, scaled, + bss (info only)",
            _explicit(compression="zstd", **bss),
            PIPELINE_ORDER,
            "scaled",
        ),
    ]
    return [dict(name=n, write=w, order=o, relevance_type=r) for n, w, o, r in out]


def _timed_queries(path: Path, mask: pa.Table, accession: str, repeats: int) -> tuple[dict, dict]:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.register("mask", mask)
    con.execute(f"CREATE VIEW heads AS SELECT * FROM read_parquet('{path}')")
    wall, cpu, results = {}, {}, {}
    for name, sql in QUERIES.items():
        params = {"acc": accession} if "$acc" in sql else None
        wall_runs, cpu_runs = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = (
                con.execute(sql, params).to_arrow_table() if params else con.execute(sql).to_arrow_table()
            )
            wall_runs.append(time.perf_counter() - start)
            cpu_runs.append(time.process_time() - start_cpu)
        wall[name], cpu[name] = statistics.median(wall_runs), statistics.median(cpu_runs)
        results[name] = result
    con.close()
    return {"wall_s": wall, "cpu_s": cpu}, results


def measure(variant: dict, table: pa.Table, mask: pa.Table, workdir: Path, repeats: int) -> tuple[dict, dict]:
    n_proteins = len(mask)
    data = table
    if variant["order"] != PIPELINE_ORDER:
        data = data.sort_by([(c, "ascending") for c in variant["order"]])
    relevance = table.column("relevance").to_numpy()
    scale = 1.0
    if variant["relevance_type"] is not None:
        if variant["relevance_type"] == "scaled":
            # best case for fp16: a power-of-two scale (exact) that puts the largest |value| near 2^14
            scale = 2.0 ** (14 - int(np.ceil(np.log2(np.max(np.abs(relevance))))))
        rel = pc.cast(pc.multiply(data.column("relevance"), pa.scalar(scale, pa.float32())), pa.float16())
        data = data.set_column(data.schema.get_field_index("relevance"), "relevance", rel)
    write_s, write_cpu_s = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        buf = variant["write"](data)
        write_s.append(time.perf_counter() - start)
        write_cpu_s.append(time.process_time() - start_cpu)
    path = workdir / "heads.parquet"
    path.write_bytes(buf.to_pybytes())
    back = pq.read_table(path)
    exact = back.column("relevance").cast(data.schema.field("relevance").type).equals(
        data.column("relevance")
    ) and back.column("position").equals(data.column("position"))
    meta = pq.ParquetFile(path).metadata
    per_column: dict[str, int] = {}
    encodings: dict[str, list[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            per_column[col.path_in_schema] = per_column.get(col.path_in_schema, 0) + col.total_compressed_size
            encodings.setdefault(col.path_in_schema, sorted(set(col.encodings)))
    row = {
        "variant": variant["name"],
        "sort": ",".join(variant["order"]),
        "relevance_type": str(data.schema.field("relevance").type),
        "bytes_per_protein": buf.size / n_proteins,
        "column_bytes_per_protein": {k: v / n_proteins for k, v in per_column.items()},
        "encodings": encodings,
        "row_groups": meta.num_row_groups,
        "write_s": min(write_s),
        "write_cpu_s": min(write_cpu_s),
        "round_trip_exact": bool(exact),
    }
    if data.schema.field("relevance").type == pa.float32():
        rel_max_error = 0.0
    else:
        half = (relevance * scale).astype(np.float16).astype(np.float64) / scale
        nz = relevance != 0
        rel_error = np.abs(half[nz] - relevance[nz]) / np.abs(relevance[nz])
        rel_max_error = float(np.max(rel_error))
        row["fp16_scale"] = scale
        row["fp16_underflow_to_zero"] = float(np.mean(half[nz] == 0))
        row["fp16_median_relative_error"] = float(np.median(rel_error))
    row["relevance_max_relative_error"] = rel_max_error
    middle = mask.column("accession")[n_proteins // 2].as_py()
    try:
        times, results = _timed_queries(path, mask, middle, repeats)
        row["query"] = times
    except duckdb.Error as exc:  # e.g. a float16 column DuckDB cannot read
        row["query"] = None
        row["query_error"] = str(exc).splitlines()[0]
        results = {}
    return row, results


def _check_same(reference: dict, results: dict, name: str) -> None:
    for query, ref in reference.items():
        got = results[query]
        assert got.num_rows == ref.num_rows, (name, query)
        for column in ref.column_names:
            a = np.asarray(ref.column(column).to_numpy(zero_copy_only=False), dtype=np.float64)
            b = np.asarray(got.column(column).to_numpy(zero_copy_only=False), dtype=np.float64)
            assert np.allclose(a, b, rtol=1e-6, atol=0, equal_nan=True), (name, query, column)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 proteins, one short seed, no repeats")
    parser.add_argument("--proteins", type=int, default=None, help="proteins in the file (default 32)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "storage.json"))
    args = parser.parse_args(argv)
    n_proteins = args.proteins or (6 if args.quick else 32)
    seed_lengths = [24] if args.quick else [40, 80]
    repeats = 1 if args.quick else 3
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="protxai-storage-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        seeds = seed_attributions(seed_lengths, workdir)
        seed_s = time.perf_counter() - t0
        table, mask = synthetic_heads(n_proteins, seeds)
        rows, reference = [], None
        for variant in variants():
            row, results = measure(variant, table, mask, workdir, repeats)
            if row["relevance_type"] == "float":
                reference = reference or results
                _check_same(reference, results, variant["name"])
            rows.append(row)
            print(f"  measured {variant['name']}", file=sys.stderr, flush=True)
    base = rows[1]["bytes_per_protein"]
    # CPU seconds (process time, all DuckDB threads): steadier than wall time on a shared machine
    header = (
        f"{'variant':44s} {'B/protein':>10s} {'vs pa':>6s} {'rel B':>9s} {'pos B':>8s} {'write cpu':>9s} "
    )
    header += f"{'agg cpu':>7s} {'one cpu':>7s} {'corr cpu':>8s} exact"
    print(header)
    for r in rows:
        q = (r["query"] or {}).get("cpu_s", {})
        cols = r["column_bytes_per_protein"]
        print(
            f"{r['variant']:44s} {r['bytes_per_protein']:10.0f} {r['bytes_per_protein'] / base:6.3f} "
            f"{cols['relevance']:9.0f} {cols['position']:8.0f} {r['write_cpu_s']:9.3f} "
            + " ".join(f"{q[k]:7.3f}" if k in q else f"{'n/a':>7s}" for k in QUERIES)
            + f" {r['round_trip_exact']}"
        )
    for r in rows:
        if "fp16_scale" in r:
            print(
                f"{r['variant']}: scale {r['fp16_scale']:g}, {100 * r['fp16_underflow_to_zero']:.1f} % of non-zero "
                f"values become 0, relative error median {r['fp16_median_relative_error']:.2g} / max "
                f"{r['relevance_max_relative_error']:.2g}"
                + (f"; DuckDB: {r['query_error']}" if r.get("query_error") else "")
            )
    report = {
        "benchmark": "storage",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU (shared with other jobs)",
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "duckdb": duckdb.__version__,
        "proteins": n_proteins,
        "rows": table.num_rows,
        "mean_length": table.num_rows / n_proteins / (LAYERS * HEADS_PER_LAYER) - 2,
        "seed_lengths": seed_lengths,
        "seed_attribution_s": seed_s,
        "query_repeats": repeats,
        "queries": QUERIES,
        "total_s": time.time() - started,
        "variants": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} ({report['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
