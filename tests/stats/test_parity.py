"""Parity of every statistic with scipy on random data with ties and zeros.

r vs scipy.stats.pointbiserialr (≤ 1e-9), Wilcoxon statistic and p vs scipy.stats.wilcoxon(alternative=
'greater') in its exact, permutation and normal regimes (≤ 1e-6 relative), BH vs
scipy.stats.false_discovery_control (≤ 1e-12), t-test vs scipy.stats.ttest_1samp.
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from protxai_ray.stats import compute_stats
from protxai_ray.stats.sql import query
from protxai_ray.stats.ttest import ttest_greater
from protxai_ray.stats.wilcoxon import signed_rank_greater
from protxai_ray.store.duck import connect
from tests.stats.synthetic import write_synthetic_run

HYDROPHOBIC, POSITIVE = set("FMWIVLPA"), set("KR")


def _signed_rank_cells(samples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the SQL signed_ranks statement + numpy p over one cell per sample: (statistic, p, method)."""
    con = duckdb.connect()
    con.register(
        "cells_arrow", pa.table({"cell": np.arange(len(samples)), "family": np.zeros(len(samples), np.int64)})
    )
    con.execute("CREATE TEMP TABLE stats_cells AS SELECT * FROM cells_arrow")
    cells = np.concatenate([np.full(len(x), i) for i, x in enumerate(samples)])
    con.register("values_arrow", pa.table({"cell": cells, "x": np.concatenate(samples)}))
    con.execute("CREATE TEMP TABLE stats_test_values AS SELECT * FROM values_arrow")
    con.execute(query("enrichment.sql", "signed_ranks"))
    out = con.execute("SELECT * FROM stats_signed_ranks ORDER BY cell").to_arrow_table().to_pydict()
    p, method = signed_rank_greater(
        np.array(out["n"]),
        np.array(out["n_nonzero"]),
        np.array(out["r_plus"]),
        np.array(out["tie_term"]),
        np.array(out["has_ties"]),
        out["ranks"],
    )
    return np.array(out["r_plus"], dtype=float), p, method


def _random_samples(rng: np.random.Generator) -> list[np.ndarray]:
    samples = []
    for n in (2, 3, 5, 8, 11, 13, 14, 20, 33, 50, 51, 64, 150):
        for variant in ("plain", "zeros", "ties", "both"):
            x = rng.normal(0.3, 1.0, n)
            if variant in ("ties", "both"):
                x = np.round(x, 1)
            if variant in ("zeros", "both"):
                x[rng.choice(n, max(1, n // 5), replace=False)] = 0.0
            if np.count_nonzero(x) == 0:
                x[0] = 0.5
            samples.append(x)
    samples.append(np.abs(rng.normal(size=40)) + 0.1)  # tiny exact p (all positive)
    samples.append(-np.abs(rng.normal(size=12)))  # p = 1
    return samples


def test_wilcoxon_matches_scipy_in_every_regime():
    samples = _random_samples(np.random.default_rng(7))
    statistic, p, method = _signed_rank_cells(samples)
    seen = set()
    for x, stat, pv, how in zip(samples, statistic, p, method, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = stats.wilcoxon(x, alternative="greater")
        seen.add(how)
        assert stat == pytest.approx(expected.statistic, rel=1e-12), (len(x), how)
        assert pv == pytest.approx(expected.pvalue, rel=1e-6, abs=0), (len(x), how)
    assert seen == {"exact", "permutation", "asymptotic"}


def test_wilcoxon_not_testable_cells_have_no_p():
    statistic, p, method = _signed_rank_cells([np.array([0.4]), np.zeros(6), np.array([0.5, -0.1, 0.2])])
    assert np.isnan(p[0]) and np.isnan(p[1]) and not np.isnan(p[2])
    assert list(method) == ["none", "none", "exact"]


def test_benjamini_hochberg_sql_matches_scipy():
    rng = np.random.default_rng(3)
    families = []
    for size in (1, 2, 7, 480):
        p = rng.uniform(size=size) ** 3
        if size > 2:
            p[: size // 4] = p[size // 4]  # ties
            p[-1] = 1.0
        families.append(p)
    cells = np.arange(sum(len(p) for p in families))
    family = np.concatenate([np.full(len(p), i) for i, p in enumerate(families)])
    con = duckdb.connect()
    con.register("stats_pvalues", pa.table({"cell": cells, "family": family, "p": np.concatenate(families)}))
    adjusted = dict(con.execute(query("enrichment.sql", "benjamini_hochberg")).fetchall())
    offset = 0
    for p in families:
        expected = stats.false_discovery_control(p, method="bh")
        got = np.array([adjusted[offset + i] for i in range(len(p))])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
        offset += len(p)


def test_ttest_matches_scipy():
    rng = np.random.default_rng(11)
    samples = [rng.normal(0.2, 1.0, n) for n in (2, 3, 10, 57, 400)]
    t, p = ttest_greater(
        np.array([len(x) for x in samples]),
        np.array([x.mean() for x in samples]),
        np.array([x.std(ddof=1) for x in samples]),
    )
    for x, ti, pi in zip(samples, t, p, strict=True):
        expected = stats.ttest_1samp(x, 0.0, alternative="greater")
        assert ti == pytest.approx(expected.statistic, rel=1e-10)
        assert pi == pytest.approx(expected.pvalue, rel=1e-9)
    t, p = ttest_greater(np.array([1, 4]), np.array([0.3, 0.3]), np.array([np.nan, 0.0]))
    assert np.isnan(t).all() and np.isnan(p).all()


def _masks(run, accession: str, length: int, sequence: str) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}
    for row in run.annotations.to_pylist():
        if row["accession"] == accession:
            mask = masks.setdefault(row["feature_type"], np.zeros(length + 2))
            mask[row["start"] : row["end"] + 1] = 1
    residue = np.array(["", *sequence, ""])
    masks["hydrophobic"] = np.isin(residue, list(HYDROPHOBIC)).astype(float)
    masks["positive"] = np.isin(residue, list(POSITIVE)).astype(float)
    tm = masks.get("transmembrane", np.zeros(length + 2))
    masks["tm_hydrophobic"] = masks["hydrophobic"] * tm
    masks["tm_positive"] = masks["positive"] * tm
    return {name: mask for name, mask in masks.items() if mask.any()}


def _reference_rra(relevance: np.ndarray, mask: np.ndarray) -> float:
    residues = np.arange(1, len(relevance) - 1)
    order = residues[np.lexsort((residues, -relevance[residues]))]  # relevance desc, then position
    k = int(mask.sum())
    return mask[order[:k]].sum() / k


def _reference_r_aa_adjusted(relevance: np.ndarray, mask: np.ndarray, sequence: str) -> float | None:
    """Partial correlation of relevance and mask over residues 1..L given the amino acid (both centred
    on their per-amino-acid means), by brute force."""
    residue = np.array(list(sequence))
    x, m = relevance[1:-1].copy(), mask[1:-1].copy()
    for aa in np.unique(residue):
        x[residue == aa] -= x[residue == aa].mean()
        m[residue == aa] -= m[residue == aa].mean()
    if not np.any(np.abs(m) > 1e-12) or (x**2).sum() <= 1e-12 * ((relevance - relevance.mean()) ** 2).sum():
        return None
    return float((x * m).sum() / np.sqrt((x**2).sum() * (m**2).sum()))


def test_scores_match_pointbiserialr_and_reference_rra(tmp_path):
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=10, layers=2, heads=3, quantum=0.25, seed=5)
    summary = compute_stats(connect(run.store), run.run_id, proteins_per_batch=3)  # several batches
    heads = run.heads.to_pandas()
    residues = run.residues.to_pandas()
    scores = (
        summary.tables["protein_head_scores"]
        .to_pandas()
        .set_index(["accession", "layer", "head", "annotation"])
    )
    embedding = summary.tables["protein_residue_scores"].to_pandas().set_index(["accession", "annotation"])
    checked = adjusted = 0
    for protein in run.proteins.to_pylist():
        accession, length = protein["accession"], protein["length"]
        masks = _masks(run, accession, length, protein["sequence"])
        assert set(embedding.loc[accession].index) == set(masks)
        tracks = {
            (-1, -1): residues[residues.accession == accession].sort_values("position").relevance.to_numpy()
        }
        for (layer, head), group in heads[heads.accession == accession].groupby(["layer", "head"]):
            tracks[(layer, head)] = group.sort_values("position").relevance.to_numpy()
        for (layer, head), relevance in tracks.items():
            relevance = relevance.astype(np.float64)
            for name, mask in masks.items():
                row = (
                    embedding.loc[(accession, name)]
                    if layer < 0
                    else scores.loc[(accession, layer, head, name)]
                )
                assert row.r == pytest.approx(stats.pointbiserialr(mask, relevance).statistic, abs=1e-9)
                assert row.rra == pytest.approx(_reference_rra(relevance, mask), abs=1e-12)
                assert row.relevance_sum == pytest.approx(relevance.sum(), abs=1e-9)
                assert row.n_annotated == int(mask.sum())
                expected = _reference_r_aa_adjusted(relevance, mask, protein["sequence"])
                if expected is None:  # the controls are functions of residue identity: no partial r
                    assert pd.isna(row.r_aa_adjusted)
                else:
                    assert row.r_aa_adjusted == pytest.approx(expected, abs=1e-9)
                    adjusted += 1
                checked += 1
    assert checked == len(scores) + len(embedding)
    assert adjusted > len(scores) // 2  # feature annotations (not the residue-defined controls) have one


def test_composition_adjusted_and_overlay_columns_match_scipy(tmp_path):
    """aa_p / aa_p_adj = Wilcoxon + BH of r_aa_adjusted; positivity_p_adj = Wilcoxon + BH of the head's
    relevance_sum over the annotated proteins; overlay = t-test of r significant and positivity significant."""
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=16, layers=2, heads=3, seed=9)
    summary = compute_stats(connect(run.store), run.run_id, annotations=["active_site", "transmembrane"])
    scores = summary.tables["protein_head_scores"].to_pandas()
    predictions = run.predictions.to_pydict()
    classes = dict(zip(predictions["accession"], predictions["target_name"], strict=True))
    scores["class"] = scores["accession"].map(classes)
    heads = summary.tables["head_enrichment"].to_pandas()
    for (cls, annotation), cells in heads.groupby(["class", "annotation"]):
        cells = cells.sort_values(["layer", "head"])
        aa_p, positivity_p = [], []
        for layer, head in zip(cells["layer"], cells["head"], strict=True):
            values = scores[
                (scores["class"] == cls)
                & (scores.annotation == annotation)
                & (scores.layer == layer)
                & (scores["head"] == head)
            ]
            aa_p.append(stats.wilcoxon(values.r_aa_adjusted.dropna(), alternative="greater").pvalue)
            positivity_p.append(stats.wilcoxon(values.relevance_sum, alternative="greater").pvalue)
        np.testing.assert_allclose(cells.aa_p, aa_p, rtol=1e-6)
        np.testing.assert_allclose(
            cells.aa_p_adj, stats.false_discovery_control(aa_p, method="bh"), rtol=1e-6
        )
        positivity_adj = stats.false_discovery_control(positivity_p, method="bh")
        np.testing.assert_allclose(cells.positivity_p_adj, positivity_adj, rtol=1e-6)
        expected_overlay = (cells.t_p_adj.to_numpy() < 0.05) & (positivity_adj < 0.05)
        assert cells.overlay.tolist() == expected_overlay.tolist()
    residue = summary.tables["residue_enrichment"].to_pandas().set_index(["class", "annotation"])
    embedding = summary.tables["protein_residue_scores"].to_pandas()
    embedding["class"] = embedding["accession"].map(classes)
    for (cls, annotation), values in embedding.groupby(["class", "annotation"]):
        expected = stats.wilcoxon(values.r_aa_adjusted.dropna(), alternative="greater").pvalue
        assert residue.loc[(cls, annotation)].aa_p == pytest.approx(expected, rel=1e-6)


def test_constant_tracks_have_no_r(tmp_path):
    """Every relevance rounded to 0: sd exactly 0 from the grouped moments, so r and r_aa_adjusted are NULL
    (not 0/0 noise) and no cell is testable."""
    run = write_synthetic_run(str(tmp_path / "store"), n_proteins=6, layers=2, heads=3, quantum=1e6, seed=1)
    summary = compute_stats(connect(run.store), run.run_id, annotations=["active_site"])
    scores = summary.tables["protein_head_scores"].to_pandas()
    assert len(scores) and scores.r.isna().all() and scores.r_aa_adjusted.isna().all()
    assert (scores.relevance_sum == 0).all()
    assert not any(summary.tables["head_enrichment"]["testable"].to_pylist())
