"""Typed manifests (``store.manifest``): what the writers write round-trips exactly, and a manifest of the
wrong shape is one StoreError line naming the key at fault."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from protxai_ray.errors import StoreError
from protxai_ray.pipeline.config import RunConfig
from protxai_ray.pipeline.provenance import manifest_header, shard_entry
from protxai_ray.store.fs import Store, encode_json
from protxai_ray.store.manifest import FileCheck, ReleaseManifest, RunManifest, ShardEntry
from protxai_ray.store.releases import read_release_manifest
from protxai_ray.store.runs import RunManifests, shard_files
from protxai_ray.uniprot.arrow import write_entries
from tests.store.test_releases import collection, entry

CHECK = {"bytes": 1200, "rows": 8, "sha256": "ab" * 32}


def _model() -> SimpleNamespace:
    return SimpleNamespace(
        weights_sha256="cd" * 32,
        identity_sha256="ef" * 32,
        label_names=["EC 1", "EC 2"],
        model_type="esm",
        num_layers=2,
        num_heads=4,
    )


def _header(run_id: str = "r1") -> RunManifest:
    config = RunConfig(store="unused", release="2024_01", model="models/m", run_id=run_id)
    plan = SimpleNamespace(total_proteins=3, shard_ids=["00000", "00001"], digest="plan-digest")
    return manifest_header(config, _model(), plan, "2026-01-01T00:00:00Z")


def _rows() -> list[dict]:
    full = {
        "shard": "00000",
        "proteins": 8,
        "failures": 1,
        "seconds": 2.0,
        "cpu_seconds": 3.5,
        "padded_tokens": 100,
        "real_tokens": 80,
        "worker": "host:1",
        "attempts": 2,
        "checks": json.dumps({t: CHECK for t in shard_files("00000")}),
        "flops": 1e9,
        "peak_flops": 1e12,
    }
    bare = {"shard": "00001", "proteins": 3, "failures": 0, "seconds": 0, "worker": None}
    return [full, bare]


def _raw(store: Store, run_id: str) -> dict:
    return json.loads(store.read_bytes(f"runs/run_id={run_id}/manifest.json"))


def _roundtrips(raw: dict) -> None:
    assert RunManifest.from_dict(raw).to_dict() == raw
    assert encode_json(RunManifest.from_dict(raw).to_dict()) == encode_json(raw)


def test_writer_entries_round_trip() -> None:
    header = _header()
    assert header.model.sha256 == "cd" * 32 and header.model.label_names == ("EC 1", "EC 2")
    assert RunManifest.from_dict(header.to_dict()) == header
    for row in _rows():
        made = shard_entry(row)
        assert ShardEntry.from_dict(made.to_dict()) == made
    full = shard_entry(_rows()[0])
    assert full.attempts == 2 and full.failures == 1 and full.checks["heads"] == FileCheck(1200, 8, "ab" * 32)
    assert full.extra["worker"] == "host:1" and full.extra["mfu"] > 0
    assert "attempts" not in shard_entry(_rows()[1]).to_dict()


def test_manifests_written_by_the_run_lifecycle_round_trip(tmp_path) -> None:
    store = Store(tmp_path / "store")
    manifests = RunManifests(store)
    manifests.create("r1", _header())
    _roundtrips(_raw(store, "r1"))
    for row in _rows():
        manifests.commit_shard("r1", shard_entry(row))
    _roundtrips(_raw(store, "r1"))
    finished = manifests.finish("r1", "2026-01-01T00:01:00Z", {"proteins": 11, "failures": 1, "shards": 2})
    raw = _raw(store, "r1")
    _roundtrips(raw)
    assert raw["summary"] == finished.summary and raw["finished"] == finished.finished
    assert manifests.read("r1") == finished
    dropped = manifests.drop_shards("r1", {"00001"})
    raw = _raw(store, "r1")
    _roundtrips(raw)
    assert "summary" not in raw and raw["finished"] is None and dropped.shard_ids() == {"00000"}
    # the keys the pipeline has always written, no more (byte-compatible with older stores)
    assert set(raw) == {
        "schema_version", "run_id", "release", "parent_run", "model", "target", "method", "code_version",
        "code", "started", "finished", "inputs", "fingerprint", "shards",
    }  # fmt: skip
    assert set(raw["shards"][0]) == {
        "shard", "proteins", "failures", "files", "seconds", "cpu_seconds", "proteins_per_s",
        "padding_waste", "worker", "attempts", "checks", "flops", "flops_per_s", "mfu",
    }  # fmt: skip


def test_rerun_manifest_with_reuse_entries_round_trips(tmp_path) -> None:
    """What ``rerun.orchestrate`` writes: reuse shards (``reuse.copy_reused``) and the ``rerun`` block."""
    store = Store(tmp_path / "store")
    manifests = RunManifests(store)
    manifests.create("r2", _header("r2"))
    manifests.commit_shard("r2", shard_entry(_rows()[1]))
    reuse = ShardEntry(
        shard="reuse-00000",
        proteins=5,
        files=shard_files("reuse-00000"),
        extra={"reused_from": {"run_id": "r1", "shard": "00000"}},
    )

    def commit(old: RunManifest | None) -> RunManifest:
        assert old is not None
        block = {"complete": False, "parent_run": "r1", "selection": {"where": None, "accessions": None}}
        return replace(old.with_shards([reuse]), parent_run="r1", rerun=block)

    manifests.update("r2", commit)
    raw = _raw(store, "r2")
    _roundtrips(raw)
    assert raw["shards"][1] == {
        "shard": "reuse-00000",
        "proteins": 5,
        "files": shard_files("reuse-00000"),
        "reused_from": {"run_id": "r1", "shard": "00000"},
    }
    assert raw["parent_run"] == "r1" and raw["rerun"]["complete"] is False
    again = manifests.update("r2", commit)  # same change again: nothing written
    assert again == manifests.read("r2")


def test_unknown_keys_survive_an_update(tmp_path) -> None:
    store = Store(tmp_path / "store")
    manifests = RunManifests(store)
    raw = {**_header("r3").to_dict(), "shards": [], "future_key": {"x": 1}}
    raw["model"]["identity_sha256"] = "12" * 32
    store.write_json_atomic("runs/run_id=r3/manifest.json", raw)
    manifests.commit_shard(
        "r3", ShardEntry("00000", proteins=1, files={"heads": "h.parquet"}, extra={"new": 2})
    )
    written = _raw(store, "r3")
    assert written["future_key"] == {"x": 1} and written["model"]["identity_sha256"] == "12" * 32
    assert written["shards"][0]["new"] == 2
    _roundtrips(written)


def test_release_manifest_written_by_write_release_round_trips(tmp_path) -> None:
    store = Store(tmp_path / "store")
    write_entries(store, "2024_01", collection(entry("P1", 3)), sources=["a.xml"])
    write_entries(store, "2024_01", collection(entry("P2", 1)), sources=["b.xml"])
    raw = json.loads(store.read_bytes("releases/release=2024_01/_release.json"))
    assert ReleaseManifest.from_dict(raw).to_dict() == raw
    manifest = read_release_manifest(store, "2024_01")
    assert manifest.generation == 2 and manifest.sources == ("a.xml", "b.xml") and len(manifest.ingests) == 2
    assert manifest.counts["proteins"] == 2 and set(manifest.files) == {"proteins", "annotations"}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(shards={}), "shards is dict, not a list"),
        (lambda d: d["shards"].append({"shard": "00009", "files": ["x"]}), "shards[1].files is list"),
        (lambda d: d["shards"][0].update(proteins="8"), "shards[0].proteins is str"),
        (lambda d: d["shards"][0]["checks"].update(heads={"bytes": 1}), "shards[0].checks.heads lacks rows"),
        (lambda d: d.update(model=["m"]), "model is list, not an object"),
        (lambda d: d.update(finished=3), "finished is int, not a string"),
        (lambda d: d.update(method="ig"), "method is str, not an object"),
    ],
)
def test_corrupt_run_manifest_is_one_line_naming_the_key(tmp_path, change, named) -> None:
    store = Store(tmp_path / "store")
    raw = {**_header().to_dict(), "shards": [shard_entry(_rows()[0]).to_dict()]}
    change(raw)
    store.write_json_atomic("runs/run_id=r1/manifest.json", raw)
    with pytest.raises(StoreError) as caught:
        RunManifests(store).read("r1")
    message = str(caught.value)
    assert "\n" not in message and "corrupt run manifest" in message and named in message
    assert str(Path(store.base) / "runs/run_id=r1/manifest.json") in message or "run_id=r1" in message


def test_corrupt_release_manifest_is_one_line(tmp_path) -> None:
    store = Store(tmp_path / "store")
    store.write_json_atomic(
        "releases/release=2024_01/_release.json", {"release": "2024_01", "files": {"proteins": "p"}}
    )
    with pytest.raises(StoreError, match=r"corrupt release manifest \(files\.proteins is str, not a list\)"):
        read_release_manifest(store, "2024_01")
