"""Matplotlib figures of the report (Agg backend, PNG files). Each function draws one figure and returns
the path it wrote."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from protxai_ray.report.data import HEAD_TESTS, HeadMap, IntegrationAccuracy, Track  # noqa: E402

SPAN_COLOURS = {
    "transmembrane": "#1b9e77",
    "active_site": "#d95f02",
    "binding_site": "#7570b3",
    "metal_binding": "#7570b3",
    "nucleotide_binding": "#7570b3",
    "motif": "#e7298a",
    "domain": "#a6761d",
    "signal": "#66a61e",
}


def head_heatmap(head_map: HeadMap, vmax: float, path: Path) -> Path:
    """Layers × heads of −ln p_adj; non-significant cells masked (light grey), shared colour scale."""
    layers, heads = head_map.neg_log_p.shape
    shown = np.ma.masked_where(~head_map.significant, head_map.neg_log_p)
    fig, ax = plt.subplots(figsize=(max(3.5, 0.35 * heads + 2.2), max(3.0, 0.28 * layers + 1.6)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#e6e6e6")
    image = ax.imshow(
        shown, cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto", origin="lower", interpolation="nearest"
    )
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(heads))
    ax.set_yticks(range(layers))
    ax.tick_params(labelsize=7)
    n_sig = int(head_map.significant.sum())
    column, _, _, label = HEAD_TESTS[head_map.test]
    ax.set_title(
        f"{head_map.cls} · {head_map.annotation}{label}\n{n_sig} significant heads (n={head_map.n})",
        fontsize=9,
    )
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"−ln {column} (BH; grey = not significant)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def embedding_bars(results: pd.DataFrame, path: Path) -> Path:
    """Embedding-level enrichment: −ln p_adj per class × annotation, the 0.05 threshold drawn."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(results) + 2.0), 3.6))
    labels = [f"{c} · {a}" for c, a in zip(results["class"], results["annotation"], strict=True)]
    p_adj = pd.to_numeric(results["p_adj"], errors="coerce").to_numpy(float)
    values = -np.log(np.clip(np.nan_to_num(p_adj, nan=1.0), 1e-300, 1.0))
    colours = ["#1b9e77" if p < 0.05 else "#bdbdbd" for p in np.nan_to_num(p_adj, nan=1.0)]
    ax.bar(range(len(values)), values, color=colours)
    ax.axhline(-np.log(0.05), color="#d95f02", linestyle="--", linewidth=1, label="p_adj = 0.05")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("−ln p_adj (Wilcoxon r > 0)")
    ax.set_title("Embedding-level relevance vs annotations", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def relevance_track(track: Track, path: Path) -> Path:
    """Residue relevance along the sequence, top heads below it, annotation spans drawn underneath."""
    positions = np.arange(len(track.residues))
    n_heads = len(track.heads)
    fig, axes = plt.subplots(
        2 + n_heads,
        1,
        figsize=(10, 2.2 + 1.1 * n_heads),
        sharex=True,
        gridspec_kw={"height_ratios": [3] + [1.6] * n_heads + [1]},
    )
    axes[0].plot(positions, track.residues, color="#333333", linewidth=0.8)
    axes[0].axhline(0, color="#999999", linewidth=0.5)
    axes[0].set_ylabel("embedding IG", fontsize=8)
    axes[0].set_title(f"{track.accession} (length {len(track.sequence)})", fontsize=10)
    for ax, ((layer, head), values) in zip(axes[1:-1], track.heads.items(), strict=True):
        ax.plot(positions, values, color="#1f78b4", linewidth=0.8)
        ax.axhline(0, color="#999999", linewidth=0.5)
        ax.set_ylabel(f"L{layer} H{head}", fontsize=8)
    span_ax = axes[-1]
    kinds = sorted({kind for kind, _, _ in track.spans})
    for row, kind in enumerate(kinds):
        for feature_type, start, end in track.spans:
            if feature_type == kind:
                span_ax.broken_barh(
                    [(start - 0.5, end - start + 1)],
                    (row - 0.4, 0.8),
                    color=SPAN_COLOURS.get(kind, "#666666"),
                )
    span_ax.set_yticks(range(len(kinds)))
    span_ax.set_yticklabels(kinds, fontsize=7)
    span_ax.set_ylim(-0.6, max(len(kinds), 1) - 0.4)
    span_ax.set_xlabel("position (0 = start token, L + 1 = end token)")
    span_ax.set_xlim(-0.5, len(positions) - 0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pca_scatter(coords: np.ndarray, classes: list[str], explained: np.ndarray, path: Path) -> Path:
    """Per-protein head-relevance profiles projected on their first two principal components."""
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for cls in sorted(set(classes)):
        mask = np.array([c == cls for c in classes])
        ax.scatter(coords[mask, 0], coords[mask, 1], s=12, alpha=0.75, label=cls)
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title("Head-relevance profiles (layers × heads), PCA", fontsize=10)
    ax.legend(fontsize=8, title="class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def faithfulness_curve(curve: pd.DataFrame, path: Path) -> Path:
    """Mean target-logit drop (95 % CI over proteins) after replacing the n most relevant residues vs n
    random ones, both from the protein's own composition (left), and their paired difference (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    n = curve["n"].to_numpy(float)
    for kind, label, marker in (("top", "top-n relevant", "o"), ("random", "n random", "s")):
        mean = curve[f"{kind}_mean"].to_numpy(float)
        left.plot(n, mean, marker=marker, markersize=3, label=label)
        left.fill_between(n, curve[f"{kind}_ci_low"], curve[f"{kind}_ci_high"], alpha=0.2)
    right.plot(n, curve["diff_mean"], marker="o", markersize=3, color="#1b9e77")
    right.fill_between(n, curve["diff_ci_low"], curve["diff_ci_high"], alpha=0.25, color="#1b9e77")
    for ax in (left, right):
        ax.axhline(0, color="#999999", linewidth=0.7)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(n))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("residues replaced (n)")
    left.set_ylabel("mean target-logit drop")
    left.set_title("Drop after replacing residues (95 % CI)", fontsize=10)
    left.legend(fontsize=8)
    right.set_ylabel("top − random (paired)")
    right.set_title("Faithfulness: extra drop of the top-n", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def error_histogram(accuracy: IntegrationAccuracy, path: Path) -> Path:
    """Estimated head error per protein (log scale) with the run's tolerance, and path points used."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    errors = np.clip(accuracy.errors, 1e-6, None)
    bins = np.logspace(
        np.log10(errors.min()) - 0.1, np.log10(max(errors.max(), accuracy.tolerance)) + 0.1, 30
    )
    left.hist(errors, bins=bins, color="#4c72b0")
    left.axvline(
        accuracy.tolerance, color="#c44e52", linestyle="--", label=f"tolerance {accuracy.tolerance:g}"
    )
    left.set_xscale("log")
    left.set_xlabel("estimated head error (max over layers)")
    left.set_ylabel("proteins")
    left.legend(frameon=False)
    right.hist(accuracy.nodes, bins=20, color="#55a868")
    right.set_xlabel("path points (forward + backward) per protein")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
