"""Incremental re-run vs full re-run on the real release pair (release_a -> release_b).

    python benchmarks/rerun.py [--quick] [--out FILE.json] [--workdir DIR]

Set-up (not timed): a random-weight BERT classifier with an EC/GO label map (target=label, so both EC/GO
and sequence edits cause recomputation), release_a ingested and attributed into a local store.
Timed, in the same process (one Ray started before both, so neither pays Ray's start-up):

- incremental: ``run_rerun`` on release_b — ingest, diff, cache plan, pipeline on the misses, copy of the
  hits, statistics;
- full: what a re-run without the cache does — ingest release_b into a fresh store, attribute every
  protein, statistics.

--quick uses the accessions of the pair that changed in sequence or EC plus all of at most 300 residues
(as tests/rerun); the default uses all 240 accessions. Reports the fraction of proteins (and of residues)
recomputed and the speed-up.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from protxai_ray.pipeline import RunConfig, run_attribution  # noqa: E402
from protxai_ray.rerun import RerunConfig, run_rerun  # noqa: E402
from protxai_ray.stats import compute_stats  # noqa: E402
from protxai_ray.store.duck import connect  # noqa: E402
from protxai_ray.store.fs import open_store  # noqa: E402
from protxai_ray.uniprot.arrow import write_entries  # noqa: E402
from protxai_ray.uniprot.collect import collect_entries  # noqa: E402
from tests.rerun.conftest import FILES, RELEASES, chosen_accessions, rerun_model, write_subset  # noqa: E402

OLD, NEW = "2024_01", "2024_03"
MAX_RESIDUES = 1024  # the benchmark model's 1026 positions minus start and end tokens


def _ingest(store: str, release: str, folder: Path) -> None:
    sources = [str(folder / f) for f in FILES]
    write_entries(open_store(store), release, collect_entries(sources), sources=sources)


def _stats(store: str, run_id: str) -> None:
    compute_stats(store, run_id)  # given the store URI, it writes the stats tables


def _residues(store: str, release: str, accessions: list[str] | None = None) -> int:
    """Residues the model can attribute (longer proteins fail at once, costing nothing)."""
    con = connect(store)
    try:
        sql = f"SELECT coalesce(sum(length), 0) FROM proteins WHERE release = ? AND length <= {MAX_RESIDUES}"
        if accessions is not None:
            con.execute("CREATE TEMP TABLE wanted AS SELECT unnest(?::VARCHAR[]) AS accession", [accessions])
            sql += " AND accession IN (SELECT accession FROM wanted)"
        return int(con.execute(sql, [release]).fetchone()[0])
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tests' subset of the pair")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--workdir", help="keep the stores here (default: a temporary directory)")
    args = parser.parse_args()
    import ray

    # One Ray for every run of the benchmark, so neither side pays Ray's start-up.
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.quick:
            keep = chosen_accessions()
            write_subset(RELEASES / "release_a", keep, work / "release_a")
            write_subset(RELEASES / "release_b", keep, work / "release_b")
            old_dir, new_dir = work / "release_a", work / "release_b"
        else:
            old_dir, new_dir = RELEASES / "release_a", RELEASES / "release_b"
        model = rerun_model(work / "model")
        settings = dict(target="label", steps=4, actors=1, shard_size=64, progress=False)

        store = str(work / "incremental")
        started = time.perf_counter()
        _ingest(store, OLD, old_dir)
        parent = run_attribution(RunConfig(store=store, release=OLD, model=str(model), **settings))
        _stats(store, parent.run_id)
        initial_s = time.perf_counter() - started

        started = time.perf_counter()
        result = run_rerun(
            RerunConfig(
                store=store, sources=tuple(str(new_dir / f) for f in FILES), release=NEW, progress=False
            )
        )
        incremental_s = time.perf_counter() - started

        full_store = str(work / "full")
        started = time.perf_counter()
        _ingest(full_store, NEW, new_dir)
        full = run_attribution(RunConfig(store=full_store, release=NEW, model=str(model), **settings))
        _stats(full_store, full.run_id)
        full_s = time.perf_counter() - started

        proteins = full.proteins
        residues_all = _residues(full_store, NEW)
        residues_redone = _residues(store, NEW, result.reattributed)

    figures = {
        "benchmark": "rerun",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "quick": args.quick,
        "model": "random BERT 2 layers x 2 heads, hidden 16; target=label; 4 Gauss-Legendre steps; 1 CPU actor",
        "proteins_release_b": proteins,
        "reattributed": len(result.reattributed),
        "reused": result.reused,
        "fraction_proteins_recomputed": len(result.reattributed) / proteins,
        "fraction_residues_recomputed": residues_redone / residues_all if residues_all else 0.0,
        "changes": result.counts,
        "initial_run_s": initial_s,
        "incremental_s": incremental_s,
        "full_s": full_s,
        "speedup": full_s / incremental_s if incremental_s else None,
        "incremental_phases_s": result.timings,
    }
    print(f"{'':34}{'value':>12}")
    for key in (
        "proteins_release_b",
        "reattributed",
        "reused",
        "fraction_proteins_recomputed",
        "fraction_residues_recomputed",
        "incremental_s",
        "full_s",
        "speedup",
    ):
        value = figures[key]
        print(f"{key:34}{value:>12.3f}" if isinstance(value, float) else f"{key:34}{value:>12}")
    print("incremental phases (s): " + ", ".join(f"{k}={v:.1f}" for k, v in result.timings.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
