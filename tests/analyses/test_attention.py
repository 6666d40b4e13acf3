"""Attention baseline: attention received per token against a manual numpy computation from
``output_attentions=True``, a planted uniform-attention model, and the pseudo-run that ``protxai stats``
tests like an attribution run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from protxai_ray import cli
from protxai_ray.analyses.attention import attention_maps, attention_run, vig_proportion
from protxai_ray.errors import RunError
from protxai_ray.models import load_model
from protxai_ray.models.random_init import write_random_model
from protxai_ray.stats import compute_stats
from protxai_ray.store.duck import connect
from protxai_ray.store.schemas import HEADS, PREDICTIONS
from tests.stats.synthetic import write_synthetic_run

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_random_model(
        tmp_path_factory.mktemp("attn") / "model",
        num_layers=2,
        num_heads=4,
        hidden=32,
        intermediate=64,
        label_names=["EC 1", "EC 2"],
        initializer_range=0.3,  # peaked attention: some weights above 0.3
    )


def test_attention_received_matches_numpy_from_output_attentions(model_dir):
    adapter = load_model(model_dir, device="cpu")
    maps = attention_maps(adapter, SEQUENCE, threshold=0.3)
    ids, mask = adapter.encode([SEQUENCE])
    with torch.no_grad():
        out = adapter.model(input_ids=ids, attention_mask=mask, output_attentions=True)
    attn = np.stack([a[0].numpy().astype(np.float64) for a in out.attentions])  # [layers, H, T, T]
    tokens = len(SEQUENCE) + 2
    assert maps.received.shape == maps.confident.shape == (2, 4, tokens)
    expected = np.zeros((2, 4, tokens))
    share = np.zeros((2, 4, tokens))
    for layer in range(2):
        for head in range(4):
            for k in range(tokens):
                column = [attn[layer, head, q, k] for q in range(tokens)]
                expected[layer, head, k] = sum(column) / tokens
                share[layer, head, k] = sum(1 for w in column if w > 0.3) / tokens
    assert np.allclose(maps.received, expected, atol=1e-6)
    assert np.array_equal(maps.confident, share.astype(np.float32))
    assert np.allclose(maps.received.sum(axis=2), 1.0, atol=1e-5)  # each query's weights sum to 1
    assert maps.confident.max() > 0  # the test covers the thresholded measure, not only zeros
    assert np.allclose(maps.logits, out.logits[0].numpy(), atol=1e-6)


def test_planted_uniform_attention_gives_one_over_t(model_dir, tmp_path):
    """Query and key projections zeroed: every score is 0, so every token receives exactly 1/T."""
    adapter = load_model(model_dir, device="cpu")
    with torch.no_grad():
        for layer in adapter.model.bert.encoder.layer:
            for proj in (layer.attention.self.query, layer.attention.self.key):
                proj.weight.zero_()
                proj.bias.zero_()
    maps = attention_maps(adapter, SEQUENCE)
    tokens = len(SEQUENCE) + 2
    assert np.allclose(maps.received, 1.0 / tokens, atol=1e-7)
    assert not maps.confident.any()  # 1/T < 0.3
    mask = np.zeros(tokens)
    mask[3:8] = 1
    assert np.all(np.isnan(vig_proportion([maps.confident], [mask])))


def test_vig_proportion_counts_high_confidence_attention_on_the_mask():
    confident = np.zeros((1, 1, 4))
    confident[0, 0] = [0.0, 0.5, 0.25, 0.25]  # of T = 4 queries: 2 → key 1, 1 → key 2, 1 → key 3
    assert np.allclose(vig_proportion([confident], [np.array([0, 1, 0, 0])]), 0.5)
    assert np.allclose(vig_proportion([confident, confident], [np.array([0, 1, 1, 0])] * 2), 0.75)


@pytest.fixture(scope="module")
def attention_store(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("attnrun")
    run = write_synthetic_run(str(root / "store"), n_proteins=12, seed=3, run_id="run-src")
    summary = attention_run(run.store, "run-src", "run-attn", model_dir, log=lambda _: None)
    return run, summary


def test_pseudo_run_has_the_run_tables_schemas_and_a_manifest_saying_attention(attention_store, model_dir):
    run, summary = attention_store
    assert summary.proteins == 12
    manifest = summary.manifest
    assert manifest.finished and manifest.method["method"] == "attention"
    assert manifest.method["measure"] == "received" and manifest.method["source_run"] == "run-src"
    shard = manifest.shards[0]
    assert set(shard.checks) == {"predictions", "residues", "heads", "failures"}
    base = Path(run.store.base) / "runs/run_id=run-attn"
    heads_file = pq.read_table(base / shard.files["heads"])
    assert heads_file.schema.remove_metadata().equals(HEADS.remove_metadata(), check_metadata=False)
    predictions = pq.read_table(base / shard.files["predictions"])
    assert predictions.schema.names == PREDICTIONS.names
    assert (
        predictions.column("n_steps").null_count == 12 and predictions.column("head_error").null_count == 12
    )
    con = connect(run.store)
    assert con.execute("SELECT method, steps FROM runs WHERE run_id = 'run-attn'").fetchone() == (
        "attention",
        None,
    )
    # the heads rows are the attention received, recomputed directly for one protein
    accession, sequence = con.execute(
        "SELECT p.accession, pr.sequence FROM predictions p JOIN proteins pr USING (accession) "
        "WHERE p.run_id = 'run-attn' ORDER BY 1 LIMIT 1"
    ).fetchone()
    stored = con.execute(
        "SELECT relevance FROM heads WHERE run_id = 'run-attn' AND accession = ? ORDER BY layer, head, position",
        [accession],
    ).fetchnumpy()["relevance"]
    direct = attention_maps(load_model(model_dir, device="cpu"), sequence).received
    assert np.allclose(stored, direct.ravel(), atol=1e-7)
    # same proteins and targets as the source run
    pairs = "SELECT accession, target_index FROM predictions WHERE run_id = ? ORDER BY 1"
    assert con.execute(pairs, ["run-attn"]).fetchall() == con.execute(pairs, ["run-src"]).fetchall()


def test_stats_run_on_the_pseudo_run(attention_store):
    run, _ = attention_store
    summary = compute_stats(run.store, "run-attn", annotations=["active_site"])
    assert summary.proteins == 12
    con = connect(run.store)
    cells = con.execute(
        "SELECT count(*), count(p) FROM head_enrichment WHERE run_id = 'run-attn' AND annotation = 'active_site'"
    ).fetchone()
    assert cells[0] == 2 * 2 * 4 and cells[1] > 0  # 2 classes × 2 layers × 4 heads, p computed


def test_attention_run_is_idempotent_and_refuses_other_inputs(attention_store, model_dir):
    run, first = attention_store
    again = attention_run(run.store, "run-src", "run-attn", model_dir, log=lambda _: None)
    assert again.manifest.shards == first.manifest.shards
    with pytest.raises(RunError, match="already exists"):
        attention_run(run.store, "run-src", "run-attn", model_dir, measure="confident", log=lambda _: None)
    with pytest.raises(RunError, match="not a run id"):
        attention_run(run.store, "run-src", "../escape", model_dir, log=lambda _: None)
    with pytest.raises(RunError, match="measure"):
        attention_run(run.store, "run-src", "run-x", model_dir, measure="mean", log=lambda _: None)


def test_cli_analyze_attention_run(attention_store, model_dir, capsys):
    run, _ = attention_store
    code = cli.main(
        [
            "analyze",
            "--store",
            str(run.store.base),
            "--run",
            "run-src",
            "--model",
            str(model_dir),
            "--attention-run",
            "run-attn-conf",
            "--attention-measure",
            "confident",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "run-attn-conf" in out and "protxai stats" in out
    con = connect(run.store)
    row = con.execute(
        "SELECT count(DISTINCT accession), max(relevance) <= 1 FROM heads WHERE run_id = 'run-attn-conf'"
    ).fetchone()
    assert row == (12, True)
    assert not run.store.list("runs/run_id=run-src/stats/faithfulness")  # the flips did not run
