"""Pipeline throughput: Ray actors + Parquet + store against the engine called directly, same proteins.

    python benchmarks/pipeline.py [--quick] [--out F.json] [--no-s3]

Rows (proteins/s over the same proteins, random-weight BERT, steps fixed):
- ``direct``: ``attribute_batch`` per shard in this process (1 torch thread), no tables, no store;
- ``direct+parquet``: the same plus building the four tables and writing them to a local store;
- ``ray 1 actor``, ``ray 2 actors`` (1 thread each), ``ray 1 actor x 2 threads``: ``run_attribution`` on
  an in-process Ray (started once, its start-up timed apart), local store; ``ray 2 actors s3``: the same
  into a SeaweedFS ``s3://`` store started here.
Overhead = 1 − (pipeline proteins/s ÷ direct proteins/s at the same core count). Also: store bytes per
protein and Parquet write throughput. The machine's load average is recorded (other work skews numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # in-process local Ray, loopback only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

DATA = ROOT.parent / "shared" / "data" / "uniprot" / "xml" / "entries_01.xml"


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model and fewer proteins")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--no-s3", action="store_true", help="skip the SeaweedFS run")
    return parser


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def run(args: argparse.Namespace) -> dict:
    import ray
    import torch

    from protxai_ray.attribution import attribute_batch
    from protxai_ray.models import load_model
    from protxai_ray.models.random_init import write_random_model
    from protxai_ray.pipeline import RunConfig, run_attribution
    from protxai_ray.pipeline.plan import filter_proteins, make_plan, read_release_proteins
    from protxai_ray.pipeline.shards import ProteinInput, attribute_shard, engine_options, write_shard
    from protxai_ray.store.fs import Store
    from protxai_ray.uniprot.arrow import write_entries
    from protxai_ray.uniprot.collect import collect_entries

    if args.quick:
        shape = {"num_layers": 2, "num_heads": 4, "hidden": 64}
        where, steps, shard_size = "length < 150", 8, 8
    else:
        shape = {"num_layers": 4, "num_heads": 8, "hidden": 128}
        where, steps, shard_size = "length < 300", 16, 16
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    model_dir = write_random_model(work / "model", model_type="bert", max_positions=1026, seed=1, **shape)
    store_dir = work / "store"
    write_entries(Store(str(store_dir)), "2024_01", collect_entries([str(DATA)]))
    proteins = filter_proteins(read_release_proteins(Store(str(store_dir)), "2024_01"), where)
    plan = make_plan(proteins, shard_size)
    n = plan.total_proteins
    residues_total = sum(proteins["length"].to_pylist())

    def config(run_id: str, store: str, **changes) -> RunConfig:
        base = dict(
            store=store,
            release="2024_01",
            model=str(model_dir),
            target="argmax",
            steps=steps,
            shard_size=shard_size,
            where=where,
            run_id=run_id,
            progress=False,
        )
        base.update(changes)
        return RunConfig(**base)

    results: dict = {
        "machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0]},
        "model": shape,
        "proteins": n,
        "residues": residues_total,
        "steps": steps,
        "shard_size": shard_size,
        "rows": {},
    }
    rows = results["rows"]

    # -- direct: the engine alone, then with tables + local Parquet writes -----------------------------
    torch.set_num_threads(1)
    model = load_model(str(model_dir), device="cpu")
    cfg = config("direct", str(store_dir))
    options = engine_options(cfg, "cpu")
    shard_inputs = [
        [ProteinInput(r["accession"], r["crc64"], r["sequence"], r["ec"], r["go"]) for r in t.to_pylist()]
        for t in plan.shards
    ]
    ok = [[p for p in shard if len(p.sequence) <= model.max_residues] for shard in shard_inputs]
    attribute_batch(model, [p.sequence for p in ok[0]], [-1] * len(ok[0]), **options)  # warm-up, untimed
    started, cpu0 = time.perf_counter(), time.process_time()
    for shard in ok:
        attribute_batch(model, [p.sequence for p in shard], [-1] * len(shard), **options)
    direct_s = time.perf_counter() - started
    rows["direct (1 thread)"] = {
        "seconds": direct_s,
        "proteins_per_s": n / direct_s,
        "cores": 1,
        "cpu_seconds": time.process_time() - cpu0,
    }

    write_s = 0.0
    started, cpu0 = time.perf_counter(), time.process_time()
    for sid, shard in zip(plan.shard_ids, shard_inputs, strict=True):
        out = attribute_shard(model, "direct", shard, cfg)
        t0 = time.perf_counter()
        write_shard(Store(str(store_dir)), "direct", sid, out.tables)
        write_s += time.perf_counter() - t0
    total_s = time.perf_counter() - started
    run_bytes = _dir_bytes(store_dir / "runs" / "run_id=direct")
    heads_bytes = _dir_bytes(store_dir / "runs" / "run_id=direct" / "heads")
    rows["direct+parquet (1 thread)"] = {
        "seconds": total_s,
        "proteins_per_s": n / total_s,
        "cores": 1,
        "cpu_seconds": time.process_time() - cpu0,
    }
    results["store"] = {
        "bytes_per_protein": run_bytes / n,
        "heads_bytes_per_protein": heads_bytes / n,
        "write_seconds": write_s,
        "write_mb_per_s": run_bytes / write_s / 1e6 if write_s else None,
    }
    torch.set_num_threads(2)
    started = time.perf_counter()
    for shard in ok:
        attribute_batch(model, [p.sequence for p in shard], [-1] * len(shard), **options)
    direct2_s = time.perf_counter() - started
    rows["direct (2 threads)"] = {"seconds": direct2_s, "proteins_per_s": n / direct2_s, "cores": 2}
    torch.set_num_threads(1)
    del model

    # -- Ray: started once, its start-up timed apart ------------------------------------------------------
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
    results["ray_init_seconds"] = time.perf_counter() - t0

    def ray_row(name: str, cfg: RunConfig, cores: int) -> None:
        from protxai_ray.store.runs import RunManifests

        started, cpu0 = time.perf_counter(), time.process_time()
        summary = run_attribution(cfg)
        seconds = time.perf_counter() - started
        manifest = RunManifests(cfg.store).read(cfg.run_id)
        rows[name] = {
            "seconds": seconds,
            "proteins_per_s": n / seconds,
            "cores": cores,
            "computed_shards": len(summary.computed_shards),
            # actors' CPU (attribution + tables + store writes) plus the driver's own CPU
            "cpu_seconds": sum(s.get("cpu_seconds") or 0.0 for s in manifest["shards"])
            + (time.process_time() - cpu0),
            "mfu_mean": sum(s.get("mfu") or 0.0 for s in manifest["shards"])
            / max(1, len(manifest["shards"])),
        }

    ray_row("ray 1 actor", config("ray-1", str(store_dir), actors=1), 1)
    ray_row("ray 2 actors", config("ray-2", str(store_dir), actors=2), 2)
    ray_row("ray 1 actor x 2 threads", config("ray-1x2", str(store_dir), actors=1, threads_per_actor=2), 2)

    if not args.no_s3:
        try:
            from tests.services.seaweed import SeaweedServer

            server = SeaweedServer(work / "seaweed")
            server.start()
        except Exception as exc:  # noqa: BLE001 - S3 is optional for the benchmark
            results["s3_skipped"] = str(exc)
        else:
            try:
                os.environ.update(server.env())
                server.create_bucket("bench-pipeline")
                s3 = "s3://bench-pipeline/store"
                write_entries(Store(s3), "2024_01", collect_entries([str(DATA)]))
                ray.shutdown()  # the workers must see the AWS_* variables set above
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
                ray_row("ray 2 actors s3", config("ray-2-s3", s3, actors=2), 2)
            finally:
                server.stop()
    ray.shutdown()

    direct_cpu = rows["direct (1 thread)"]["cpu_seconds"]
    for row in rows.values():
        same_cores = rows["direct (1 thread)"] if row["cores"] == 1 else rows["direct (2 threads)"]
        row["overhead_vs_direct"] = 1.0 - row["proteins_per_s"] / same_cores["proteins_per_s"]
        if row.get("cpu_seconds"):
            # CPU-time overhead: immune to the neighbours' load that skews wall time on a shared machine
            row["cpu_overhead_vs_direct"] = row["cpu_seconds"] / direct_cpu - 1.0
    one, two = rows["ray 1 actor"]["proteins_per_s"], rows["ray 2 actors"]["proteins_per_s"]
    results["scaling_1_to_2_actors"] = two / one / 2.0
    results["machine"]["load_avg_end"] = os.getloadavg()[0]
    return results


def print_table(results: dict) -> None:
    print(
        f"{results['proteins']} proteins ({results['residues']} residues), model {results['model']}, "
        f"steps {results['steps']}, shard {results['shard_size']}; load avg "
        f"{results['machine']['load_avg_start']:.1f} -> {results['machine']['load_avg_end']:.1f}"
    )
    print(
        f"{'run':28s} {'cores':>5s} {'wall s':>8s} {'proteins/s':>11s} {'wall ovh':>9s} {'CPU s':>7s} {'CPU ovh':>8s}"
    )
    for name, row in results["rows"].items():
        cpu = row.get("cpu_seconds")
        cpu_ovh = row.get("cpu_overhead_vs_direct")
        print(
            f"{name:28s} {row['cores']:5d} {row['seconds']:8.2f} {row['proteins_per_s']:11.2f} "
            f"{row['overhead_vs_direct'] * 100:8.1f}% {cpu if cpu is not None else float('nan'):7.2f} "
            f"{(cpu_ovh if cpu_ovh is not None else float('nan')) * 100:7.1f}%"
        )
    store = results["store"]
    print(f"ray.init: {results['ray_init_seconds']:.1f}s (not in the rows above)")
    print(f"scaling 1 -> 2 actors: {results['scaling_1_to_2_actors']:.2f} of linear")
    print(
        f"store: {store['bytes_per_protein']:.0f} B/protein (heads {store['heads_bytes_per_protein']:.0f}), "
        f"Parquet write {store['write_mb_per_s']:.1f} MB/s"
    )


def main(argv: list[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    results = run(args)
    print_table(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
