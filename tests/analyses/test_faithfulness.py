"""`protxai analyze`: composition-matched flips, their statistics checked against numpy, the tables it
writes into the store, and the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from protxai_ray import cli
from protxai_ray.analyses.faithfulness import STANDARD, CompositionReplacer, FlipProtein, flip_variants
from protxai_ray.analyses.run import analyze_run
from protxai_ray.analyses.summary import summarize_drops, t_interval
from protxai_ray.errors import RunError
from protxai_ray.models.random_init import write_random_model
from protxai_ray.store.duck import connect
from tests.stats.synthetic import write_synthetic_run

COUNTS = (1, 2, 4, 8)


def numpy_t_interval(x: np.ndarray) -> tuple[float, float, float]:
    mean = x.sum() / x.size
    sd = np.sqrt(((x - mean) ** 2).sum() / (x.size - 1))
    half = stats.t.ppf(0.975, x.size - 1) * sd / np.sqrt(x.size)
    return mean, mean - half, mean + half


def test_t_interval_matches_numpy_and_covers_at_95_percent():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=17)
    assert np.allclose(t_interval(x), numpy_t_interval(x))
    mean, low, high = t_interval([3.0])
    assert mean == 3.0 and np.isnan(low) and np.isnan(high)
    covered = 0
    for _ in range(2000):
        _, low, high = t_interval(rng.normal(0.5, 1.0, size=8))
        covered += low <= 0.5 <= high
    assert 0.93 < covered / 2000 < 0.97


def test_summary_per_n_matches_a_direct_numpy_computation():
    rng = np.random.default_rng(1)
    rows = []
    for protein in range(9):
        for n in (1, 4):
            for draw in range(10):
                rows.append((f"P{protein}", n, "top", draw, rng.normal(1.0 + protein, 1.0)))
                rows.append((f"P{protein}", n, "random", draw, rng.normal(0.2, 1.0)))
    drops = pd.DataFrame(rows, columns=["accession", "n", "kind", "draw", "drop"])
    summary = summarize_drops(drops).set_index("n")
    cube = drops.sort_values(["n", "accession", "kind", "draw"])["drop"].to_numpy().reshape(2, 9, 2, 10)
    for i, n in enumerate((1, 4)):
        per_protein = cube[i].mean(axis=2)  # [protein, kind]: kind sorted → random, top
        top, random = per_protein[:, 1], per_protein[:, 0]
        row = summary.loc[n]
        assert row.proteins == 9 and row.draws == 10
        assert np.allclose([row.top_mean, row.top_ci_low, row.top_ci_high], numpy_t_interval(top))
        assert np.allclose([row.random_mean, row.random_ci_low, row.random_ci_high], numpy_t_interval(random))
        assert np.allclose([row.diff_mean, row.diff_ci_low, row.diff_ci_high], numpy_t_interval(top - random))


def test_replacements_come_from_the_proteins_composition_and_always_change_the_residue():
    sequence = "LLLLLLLLKKKKEEDA" * 4
    replacer = CompositionReplacer(sequence)
    rng = np.random.default_rng(2)
    drawn = [replacer.flip(sequence, np.array([1]), rng)[0] for _ in range(4000)]  # position 1 is L
    assert "L" not in drawn and set(drawn) <= {"K", "E", "D", "A"}
    counts = pd.Series(drawn).value_counts(normalize=True)
    # composition without L: K 4, E 2, D 1, A 1 of 8
    assert (
        abs(counts["K"] - 0.5) < 0.03 and abs(counts["E"] - 0.25) < 0.03 and abs(counts["A"] - 0.125) < 0.03
    )
    single = CompositionReplacer("QQQQ")
    assert single.weights("Q")[STANDARD == "Q"] == 0 and np.isclose(single.weights("Q").sum(), 1.0)


def test_flip_variants_top_takes_the_most_relevant_residues_and_random_the_same_count():
    sequence = "MKTAYIAKQRQISFVKSHFSRQ"
    relevance = np.zeros(len(sequence) + 2)
    relevance[[5, 9, 3]] = [3.0, 2.0, 1.0]  # positions 5, 9, 3 in that order
    protein = FlipProtein("X", sequence, 0, relevance)
    variants = flip_variants(protein, (1, 2, 4, 64), 10, np.random.default_rng(3))
    assert {n for n, *_ in variants} == {1, 2, 4}  # n ≤ L / 2
    for n, kind, _, variant in variants:
        changed = [i + 1 for i, (a, b) in enumerate(zip(sequence, variant, strict=True)) if a != b]
        assert len(changed) == n
        if kind == "top":
            assert changed == sorted([5, 9, 3, 1][:n])  # ties (zeros) by position: 1 after 5, 9, 3
    assert sum(1 for v in variants if v[1] == "random") == sum(1 for v in variants if v[1] == "top") == 30


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    run = write_synthetic_run(str(root / "store"), n_proteins=8, seed=5, run_id="run-a")
    model = write_random_model(
        root / "model", num_layers=1, num_heads=2, hidden=16, intermediate=32, label_names=["EC 1", "EC 2"]
    )
    summary = analyze_run(run.store, "run-a", model, proteins=5, draws=10, counts=COUNTS, log=lambda _: None)
    return run, model, summary


def test_analyze_writes_drops_and_summary_tables_that_agree(analysed):
    run, _, summary = analysed
    assert len(summary.proteins) == 5 and any("not the run's model" in note for note in summary.notes)
    con = connect(run.store)
    drops = con.execute("SELECT * FROM faithfulness_drops WHERE run_id = 'run-a'").df()
    table = con.execute("SELECT * FROM faithfulness WHERE run_id = 'run-a' ORDER BY n").df()
    assert len(drops) == 5 * len(COUNTS) * 2 * 10  # every synthetic protein has length ≥ 40
    assert list(table["n"]) == list(COUNTS) and set(table["proteins"]) == {5} and set(table["draws"]) == {10}
    assert set(table["replacement"]) == {"composition"}
    for row in table.itertuples():
        wide = drops[drops.n == row.n].groupby(["accession", "kind"])["drop"].mean().unstack()
        assert np.allclose(
            [row.diff_mean, row.diff_ci_low, row.diff_ci_high],
            numpy_t_interval((wide["top"] - wide["random"]).to_numpy()),
        )
        assert np.isclose(row.top_mean, wide["top"].mean()) and np.isclose(
            row.random_mean, wide["random"].mean()
        )


def test_analyze_is_reproducible_and_replaces_its_tables(analysed):
    run, model, first = analysed
    again = analyze_run(run.store, "run-a", model, proteins=5, draws=10, counts=COUNTS, log=lambda _: None)
    pd.testing.assert_frame_equal(first.faithfulness, again.faithfulness)
    assert sorted(run.store.list("runs/run_id=run-a/stats/faithfulness")) == [
        "runs/run_id=run-a/stats/faithfulness/part-0.parquet"
    ]


def test_analyze_command_and_its_errors(analysed, capsys):
    run, model, _ = analysed
    base = ["analyze", "--store", str(run.store.base), "--run", "run-a"]
    assert cli.main(base + ["--model", str(model), "--proteins", "2"]) == 0
    out = capsys.readouterr().out
    assert "top - random" in out and "faithfulness/part-0.parquet" in out
    assert cli.main(base) == 2  # the manifest's model path ("synthetic") is not a directory
    assert "pass --model DIR" in capsys.readouterr().err
    assert cli.main(["analyze", "--store", str(run.store.base), "--run", "nope", "--model", str(model)]) == 2
    with pytest.raises(RunError, match="at least 10"):
        analyze_run(run.store, "run-a", model, draws=3)
