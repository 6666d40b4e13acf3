"""A re-run inherits its parent's selection and says what it re-attributed and why.

The parent run attributes release_a with ``--where`` (short proteins, plus the longest ones, which fail as
too long for the model): the re-run on release_b holds exactly that selection of release_b, counts as
``label_changed`` only the proteins whose class under the model's label map moved (not every EC/GO edit
of the release), and names its failures. A release with nothing changed gives a run equal to the parent,
every row reused, exit status 0 (it used to crash in the shard plan on an empty accession list).
"""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from protxai_ray import cli
from protxai_ray.errors import ProtxaiError
from protxai_ray.models.targets import resolve_target
from protxai_ray.pipeline import RunConfig, run_attribution
from protxai_ray.pipeline.plan import filter_proteins, read_release_proteins
from protxai_ray.store.duck import connect
from protxai_ray.store.fs import open_store
from protxai_ray.store.runs import RunManifests
from protxai_ray.uniprot.collect import collect_entries
from tests.rerun.conftest import ATTRIBUTE, FILES, LABELS, NEW, OLD, RELEASES, ingest, rerun_model

WHERE = "length <= 150 OR length > 1100"  # 55 short proteins + the longest ones (too long: failures)
UNCHANGED = "2024_02"  # release_a again under a newer name

KEYS = {
    "predictions": ["accession"],
    "residues": ["accession", "position"],
    "heads": ["accession", "layer", "head", "position"],
    "failures": ["accession"],
}


@dataclass
class Parent:
    store: Path  # a pristine store holding release_a and the parent run; tests work on copies
    run_id: str


@pytest.fixture(scope="module")
def parent(tmp_path_factory, local_ray) -> Parent:
    root = tmp_path_factory.mktemp("rerun-selection")
    model = rerun_model(root / "model")
    store = root / "store"
    ingest(str(store), OLD, [str(RELEASES / "release_a" / f) for f in FILES])
    summary = run_attribution(
        RunConfig(store=str(store), release=OLD, model=str(model), where=WHERE, **ATTRIBUTE)
    )
    assert summary.failures > 0  # the long ones
    return Parent(store, summary.run_id)


def _store_copy(parent: Parent, tmp_path: Path) -> str:
    shutil.copytree(parent.store, tmp_path / "store")
    return str(tmp_path / "store")


def _rerun(store: str, parent_run: str, release: str, release_dir: str) -> tuple[int, str, str]:
    out = io.StringIO()
    argv = ["rerun", "--store", store, "--source", *(str(RELEASES / release_dir / f) for f in FILES)]
    argv += ["--release", release, "--from-run", parent_run, "--no-progress"]
    with redirect_stdout(out), redirect_stderr(out):
        status = cli.main(argv)
    text = out.getvalue()
    run_id = text.strip().splitlines()[-1].removeprefix("run_id=")
    return status, text, run_id


def _held(con, run_id: str) -> set[str]:
    rows = con.execute(
        "SELECT accession FROM predictions WHERE run_id = $r UNION ALL SELECT accession FROM failures WHERE run_id = $r",
        {"r": run_id},
    ).fetchall()
    accessions = [r[0] for r in rows]
    assert len(accessions) == len(set(accessions))  # no protein twice
    return set(accessions)


def _differences(con, table: str, a: str, b: str) -> tuple[int, int]:
    """(rows of the full outer join of the two runs' rows on the keys, rows missing on either side or
    differing in any value column)."""
    columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
    values = [c for c in columns if c not in ("run_id", *KEYS[table])]
    on = " AND ".join(f"x.{k} = y.{k}" for k in KEYS[table])
    differ = " OR ".join(
        [f"x.{KEYS[table][0]} IS NULL", f"y.{KEYS[table][0]} IS NULL"]
        + [f"x.{v} IS DISTINCT FROM y.{v}" for v in values]
    )
    return con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE {differ})
            FROM (SELECT * FROM {table} WHERE run_id = $a) x
            FULL OUTER JOIN (SELECT * FROM {table} WHERE run_id = $b) y ON {on}""",
        {"a": a, "b": b},
    ).fetchone()


def test_unchanged_release_reuses_everything_and_equals_the_parent(parent, tmp_path):
    store = _store_copy(parent, tmp_path)
    status, out, run_id = _rerun(store, parent.run_id, UNCHANGED, "release_a")
    assert status == 0, out
    manifest = RunManifests(store).read(run_id)
    rerun = manifest.rerun
    assert rerun["complete"] and manifest.parent_run == parent.run_id and manifest.release == UNCHANGED
    assert rerun["reattributed"] == 0 and set(rerun["reasons"].values()) == {0}
    assert rerun["selection"] == {"where": WHERE, "accessions": None}
    assert all(s.shard.startswith("reuse-") for s in manifest.shards)

    con = connect(store)
    held = _held(con, parent.run_id)
    assert _held(con, run_id) == held
    assert rerun["reused"] + rerun["reused_failures"] == len(held)
    assert f"re-attributed 0, reused {len(held)}" in out, out
    for table in KEYS:
        rows, differ = _differences(con, table, run_id, parent.run_id)
        assert rows > 0 and differ == 0, (table, rows, differ)
    failures = con.execute("SELECT count(*) FROM failures WHERE run_id = ?", [run_id]).fetchone()[0]
    assert f"failures: {failures} (0 new, {failures} kept" in out, out

    # Again: up to date, nothing written.
    status, out, again = _rerun(store, parent.run_id, UNCHANGED, "release_a")
    assert status == 0 and "up to date" in out and again == run_id, out
    assert set(RunManifests(store).list_run_ids()) == {parent.run_id, run_id}


def _class(entry) -> int | None:
    try:
        return resolve_target(
            SimpleNamespace(label_names=LABELS),
            "label",
            entry.ec,
            entry.go,
            feature_types=[f.feature_type for f in entry.features],
        )
    except ProtxaiError:
        return None


def test_rerun_keeps_the_selection_and_counts_only_this_models_label_changes(parent, tmp_path):
    store = _store_copy(parent, tmp_path)
    status, out, run_id = _rerun(store, parent.run_id, NEW, "release_b")
    assert status == 0, out

    # Worked out from the entries, independently of the re-run code.
    old = {e.accession: e for e in collect_entries([str(RELEASES / "release_a" / f) for f in FILES]).entries}
    new = {e.accession: e for e in collect_entries([str(RELEASES / "release_b" / f) for f in FILES]).entries}
    selected = {a for a, e in new.items() if e.length <= 150 or e.length > 1100}
    same_seq = {a for a in selected if a in old and old[a].crc64 == new[a].crc64}
    label_moved = {a for a in same_seq if _class(old[a]) != _class(new[a])}
    ec_go_edits = {a for a in same_seq if (old[a].ec, old[a].go) != (new[a].ec, new[a].go)}
    expected = {
        "new": len(selected - set(old)),
        "sequence_changed": len({a for a in selected if a in old} - same_seq),
        "label_changed": len(label_moved),
        "newly_selected": 0,
        "model_changed": 0,
    }
    assert 0 < len(label_moved) < len(ec_go_edits)  # most EC/GO edits leave this model's class alone
    assert expected["sequence_changed"] > 0

    con = connect(store)
    held = _held(con, run_id)
    assert held == selected  # the parent's --where applied to the new release, nothing else
    released = read_release_proteins(open_store(store), NEW)
    assert held == set(filter_proteins(released, WHERE)["accession"].to_pylist())
    assert len(held) < released.num_rows

    manifest = RunManifests(store).read(run_id)
    rerun = manifest.rerun
    assert rerun["reasons"] == expected and rerun["reattributed"] == sum(expected.values())
    assert rerun["selection"]["where"] == WHERE and manifest.inputs["where"] == WHERE
    assert rerun["changes"]["any_label_changed"] > len(label_moved)  # the release's own diff, kept apart
    n = sum(expected.values())
    assert f"re-attributed {n} (" in out and f"this model's label changed {len(label_moved)}" in out, out
    assert f"label_changed={len(label_moved)}" in out, out

    failures = con.execute(
        "SELECT accession FROM failures WHERE run_id = ? ORDER BY accession", [run_id]
    ).fetchall()
    assert failures and f"failures: {len(failures)} (" in out, out
    assert rerun["failures"]["total"] == len(failures) and len(rerun["failures"]["first"]) == min(
        3, len(failures)
    )
    assert any(f"{acc}: " in out for (acc,) in failures), out
