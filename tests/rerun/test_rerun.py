"""End to end: release_a attributed, then `protxai rerun` on release_b served over HTTP.

Checks that exactly the new and the sequence- or label-changed proteins go through the pipeline (counts
from changes.tsv and the model's label map, worked out here independently of the cache code), that the
new run's rows equal a from-scratch run on release_b, that a deleted protein leaves the new run but stays
in the old one, that the scheduled job then says "up to date", and that bad input writes nothing.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import pytest

from protxai_ray import cli
from protxai_ray.errors import InvalidSource
from protxai_ray.models.targets import resolve_target
from protxai_ray.pipeline import RunConfig, run_attribution
from protxai_ray.rerun import RerunConfig, run_rerun
from protxai_ray.store.duck import connect
from protxai_ray.store.fs import open_store
from protxai_ray.store.releases import list_releases
from protxai_ray.store.runs import RunManifests
from protxai_ray.uniprot.collect import collect_entries
from tests.conftest import PROJECT_ROOT
from tests.rerun.conftest import ATTRIBUTE, LABELS, NEW, OLD, RELEASES
from tests.rerun.http_source import UniProtMirror

SOURCES = ("entries.xml", "entries.dat", "new.xml")


def _urls(mirror: UniProtMirror) -> list[str]:
    return [f"{mirror.url}/{name}" for name in SOURCES]


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        status = cli.main(list(argv))
    return status, out.getvalue()


def _load_job(name: str):
    spec = importlib.util.spec_from_file_location(f"job_{name}", PROJECT_ROOT / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _class(ec: list[str], go: list[str]) -> int:
    return resolve_target(SimpleNamespace(label_names=LABELS), "label", ec, go)


def expected_reattributed(attributed) -> set[str]:
    """New accessions, sequence changes (changes.tsv) and target-class changes under LABELS."""
    old = {
        e.accession: e
        for e in collect_entries([str(RELEASES / "release_a" / f) for f in SOURCES[:2]]).entries
    }
    served = collect_entries([str(attributed.mirror_dir / f) for f in SOURCES]).entries
    with open(RELEASES / "changes.tsv", newline="") as fh:
        seq_changed = {
            r["accession"] for r in csv.DictReader(fh, delimiter="\t") if r["sequence_changed"] == "True"
        }
    expected = set()
    for entry in served:
        before = old.get(entry.accession)
        if before is None or entry.accession in seq_changed:
            expected.add(entry.accession)
        elif _class(before.ec, before.go) != _class(entry.ec, entry.go):
            expected.add(entry.accession)
    return expected


def _run_differences(con, table: str, keys: tuple[str, ...], new: str, full: str) -> dict[str, int]:
    """How run ``new`` differs from run ``full`` in ``table``, by a full outer join on ``keys``: rows only
    in one of them (both directions), rows whose other columns differ (floats by more than 1e-6, the
    rest at all, NULL-aware), and duplicated keys on either side."""
    columns = [
        (name, dtype)
        for name, dtype, *_ in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
        if name not in (*keys, "run_id")
    ]
    changed = " OR ".join(
        f"NOT (a.{c} IS NOT DISTINCT FROM b.{c} OR abs(a.{c} - b.{c}) <= 1e-6)"
        if dtype in ("FLOAT", "DOUBLE")
        else f"a.{c} IS DISTINCT FROM b.{c}"
        for c, dtype in columns
    )
    on = " AND ".join(f"a.{k} = b.{k}" for k in keys)
    rows, only_new, only_full, differ = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE b.{keys[0]} IS NULL),
                   count(*) FILTER (WHERE a.{keys[0]} IS NULL),
                   count(*) FILTER (WHERE a.{keys[0]} IS NOT NULL AND b.{keys[0]} IS NOT NULL AND ({changed}))
            FROM (SELECT * FROM {table} WHERE run_id = $new) a
            FULL OUTER JOIN (SELECT * FROM {table} WHERE run_id = $full) b ON {on}""",
        {"new": new, "full": full},
    ).fetchone()
    dupes = {
        f"duplicated_{name}": con.execute(
            f"SELECT count(*) - count(DISTINCT ({', '.join(keys)})) FROM {table} WHERE run_id = ?", [rid]
        ).fetchone()[0]
        for name, rid in (("new", new), ("full", full))
    }
    return {"rows": rows, "only_new": only_new, "only_full": only_full, "differ": differ, **dupes}


def test_bad_input_writes_nothing(attributed, tmp_path):
    (tmp_path / "index.html").write_text("<html><body>Service temporarily unavailable</body></html>\n" * 50)
    with UniProtMirror(tmp_path, release="2024_02") as mirror:
        with pytest.raises(InvalidSource, match="not UniProt"):
            run_rerun(
                RerunConfig(store=attributed.store, sources=(f"{mirror.url}/index.html",), progress=False)
            )
    with UniProtMirror(attributed.mirror_dir, release="2023_12") as mirror:
        with pytest.raises(InvalidSource, match="older than the store's latest release 2024_01"):
            run_rerun(RerunConfig(store=attributed.store, sources=tuple(_urls(mirror)), progress=False))
    with UniProtMirror(attributed.mirror_dir, release="2024_02") as mirror:
        mirror.truncate["entries.dat"] = (attributed.mirror_dir / "entries.dat").stat().st_size // 2
        status, out = _cli("rerun", "--store", attributed.store, "--source", *_urls(mirror), "--no-progress")
        assert status == 2 and "error" in out and "entries.dat" in out, out
    with UniProtMirror(attributed.mirror_dir, release="2024_02") as mirror:
        status, out = _cli(
            "rerun", "--store", attributed.store, "--source", *_urls(mirror), "--check-release"
        )
        assert status == 0 and "new release 2024_02" in out and mirror.downloads == 0
    assert list_releases(open_store(attributed.store)) == [OLD]
    assert RunManifests(attributed.store).list_run_ids() == [attributed.parent_run]


def test_rerun_recomputes_only_changes_and_matches_a_full_run(attributed):
    expected = expected_reattributed(attributed)
    assert 15 <= len(expected) <= 30  # 7 sequence changes, label moves, 1 new: the pair exercises both kinds
    with UniProtMirror(attributed.mirror_dir, release=NEW) as mirror:
        status, out = _cli(
            "rerun",
            "--store",
            attributed.store,
            "--source",
            *_urls(mirror),
            "--from-run",
            "latest",
            "--no-progress",
        )
    assert status == 0, out
    run_id = out.strip().splitlines()[-1].removeprefix("run_id=")
    manifest = RunManifests(attributed.store).read(run_id)
    assert manifest.parent_run == attributed.parent_run and manifest.release == NEW
    rerun = manifest.rerun
    assert rerun["complete"] and rerun["reattributed"] == len(expected)
    assert rerun["changes"]["new"] == 1 and rerun["changes"]["deleted"] == 1
    assert rerun["changes"]["any_sequence_changed"] == 7

    con = connect(attributed.store)
    # The pipeline's work list: the proteins in the shards it computed (not the reuse shards).
    computed = {
        row[0]
        for row in con.execute(
            "SELECT accession FROM predictions WHERE run_id = ? UNION SELECT accession FROM failures WHERE run_id = ?",
            [run_id, run_id],
        ).fetchall()
    }
    reused_shards = [s for s in manifest.shards if s.shard.startswith("reuse-")]
    pipeline_shards = [s for s in manifest.shards if not s.shard.startswith("reuse-")]
    assert sum(s.proteins for s in pipeline_shards) == len(expected)
    assert sum(s.proteins for s in reused_shards) == len(computed) - len(expected)
    assert manifest.inputs["accessions"] == len(expected)

    # Complete for release_b, no duplicates, and equal to a from-scratch run.
    served = {e.accession for e in collect_entries([str(attributed.mirror_dir / f) for f in SOURCES]).entries}
    assert computed == served
    full = run_attribution(
        RunConfig(store=attributed.store, release=NEW, model=attributed.model, **ATTRIBUTE)
    )
    con = connect(attributed.store)
    for table, keys in (
        ("predictions", ("accession",)),
        ("residues", ("accession", "position")),
        ("heads", ("accession", "layer", "head", "position")),
        ("failures", ("accession",)),
    ):
        counts = _run_differences(con, table, keys, run_id, full.run_id)
        assert counts["rows"] > 0 and not any(v for k, v in counts.items() if k != "rows"), (table, counts)
    same_targets = con.execute(
        """SELECT count(*) FROM predictions a JOIN predictions b USING (accession)
           WHERE a.run_id = $new AND b.run_id = $full AND a.target_index = b.target_index
             AND a.crc64 = b.crc64 AND a.probability = b.probability""",
        {"new": run_id, "full": full.run_id},
    ).fetchone()[0]
    assert (
        same_targets
        == con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchone()[0]
    )
    failures = {
        rid: set(con.execute("SELECT accession, reason FROM failures WHERE run_id = ?", [rid]).fetchall())
        for rid in (run_id, full.run_id)
    }
    assert failures[run_id] == failures[full.run_id] and failures[run_id]  # the too-long ones, reused or not

    # The deleted accession: gone from the new release and run, still in the old run.
    gone = attributed.deleted
    assert (
        con.execute(
            f"SELECT count(*) FROM proteins WHERE release = '{NEW}' AND accession = ?", [gone]
        ).fetchone()[0]
        == 0
    )
    assert (
        con.execute(
            "SELECT count(*) FROM residues WHERE run_id = ? AND accession = ?", [run_id, gone]
        ).fetchone()[0]
        == 0
    )
    old_rows = con.execute(
        "SELECT count(*) FROM residues WHERE run_id = ? AND accession = ?", [attributed.parent_run, gone]
    ).fetchone()[0]
    assert old_rows > 0
    change = con.execute(
        "SELECT change, is_deleted FROM release_changes WHERE release = ? AND accession = ?", [NEW, gone]
    ).fetchone()
    assert change == ("deleted", True)
    kinds = dict(
        con.execute(
            "SELECT change, count(*) FROM release_changes WHERE release = ? GROUP BY 1", [NEW]
        ).fetchall()
    )
    assert kinds["new"] == 1 and kinds["sequence_changed"] == 7
    # Stats were recomputed for the new run.
    assert (
        con.execute("SELECT count(*) FROM protein_head_scores WHERE run_id = ?", [run_id]).fetchone()[0] > 0
    )

    # The scheduled job on the same release, twice: nothing to do, said quickly, nothing written.
    rerun_release = _load_job("rerun_release")
    with UniProtMirror(attributed.mirror_dir, release=NEW) as mirror:
        for _ in range(2):
            out = io.StringIO()
            with redirect_stdout(out):
                status = rerun_release.main(["--store", attributed.store, "--source", *_urls(mirror)])
            assert status == 0 and "up to date" in out.getvalue() and f"run_id={run_id}" in out.getvalue()
            assert mirror.downloads == 0  # a HEAD request per call, never a download
    assert set(RunManifests(attributed.store).list_run_ids()) == {attributed.parent_run, run_id, full.run_id}
