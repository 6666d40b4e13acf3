"""Damaged committed shards: `protxai verify` names each one, quarantine keeps the store usable, stats
refuses the damaged run and still works on the others (local directory and SeaweedFS S3)."""

from __future__ import annotations

import pytest

from protxai_ray import cli
from protxai_ray.errors import StoreError
from protxai_ray.stats.run import compute_stats
from protxai_ray.store.duck import connect
from protxai_ray.store.fs import Store
from tests.stats.synthetic import write_synthetic_run

HEADS = "runs/run_id=damaged/heads/shard-00000.parquet"
RESIDUES = "runs/run_id=damaged/residues/shard-00000.parquet"


def _flip(store: Store) -> None:
    data = bytearray(store.read_bytes(HEADS))
    data[len(data) // 2] ^= 0x01  # one bit in the middle of the data pages
    store.write_bytes_atomic(HEADS, bytes(data))


def _truncate(store: Store) -> None:
    store.write_bytes_atomic(RESIDUES, store.read_bytes(RESIDUES)[:-100])


def _swap(store: Store) -> None:  # a valid shard of another run put in place of this one
    store.write_bytes_atomic(HEADS, store.read_bytes("runs/run_id=healthy/heads/shard-00000.parquet"))


def _remove(store: Store) -> None:
    store.delete(RESIDUES)


DAMAGE = {
    "flipped": (_flip, "SHA-256 mismatch"),
    "truncated": (_truncate, "truncated or replaced"),
    "swapped": (_swap, "SHA-256 mismatch|truncated or replaced"),
    "missing": (_remove, "missing"),
}


@pytest.fixture(params=["local", "s3"])
def store_uri(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_store")


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_verify_names_damage_and_other_runs_keep_working(kind, store_uri, capsys):
    write_synthetic_run(store_uri, run_id="healthy", n_proteins=12)
    write_synthetic_run(store_uri, run_id="damaged", n_proteins=12)
    store = Store(store_uri)
    assert cli.main(["verify", "--store", store_uri]) == 0
    assert "ok: 6 file(s) of 2 run(s)" in capsys.readouterr().out

    damage, expected = DAMAGE[kind]
    damage(store)
    assert cli.main(["verify", "--store", store_uri]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2, out  # one line for the damaged file, one summary
    assert out[0].startswith("run damaged shard 00000: ") and pytest.importorskip("re").search(expected, out[0])
    assert "1 damaged file(s) in 1 shard(s) of 1 run(s): damaged" == out[1]

    with pytest.raises(StoreError, match="run damaged shard 00000: .*protxai verify"):
        compute_stats(store_uri, "damaged")
    assert cli.main(["verify", "--store", store_uri, "--run", "damaged", "--quarantine"]) == 1
    assert "quarantined" in capsys.readouterr().out
    con = connect(store)  # the views leave the damaged shard out; the healthy run is whole
    runs = dict(con.execute("SELECT run_id, count(*) FROM predictions GROUP BY run_id").fetchall())
    assert runs == {"healthy": 12}
    con.close()
    summary = compute_stats(store_uri, "healthy")
    assert summary.proteins == 12 and summary.written


def test_quick_check_keeps_truncated_shards_out_of_views_without_quarantine(tmp_path, capsys):
    uri = str(tmp_path / "store")
    write_synthetic_run(uri, run_id="healthy", n_proteins=12)
    write_synthetic_run(uri, run_id="damaged", n_proteins=12)
    _truncate(Store(uri))
    assert cli.main(["query", "--store", uri, "SELECT run_id, count(*) AS n FROM residues GROUP BY 1"]) == 0
    captured = capsys.readouterr()
    assert "healthy" in captured.out and "damaged" not in captured.out
    assert "warning: run damaged shard 00000:" in captured.err and "protxai verify" in captured.err
    assert compute_stats(uri, "healthy").proteins == 12
