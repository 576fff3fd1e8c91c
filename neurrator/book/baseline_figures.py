"""Chapter 08's figures: fit costs, held-out narration per method (Table A1), retrieval and CKA (Table A2), where the
KNN decoders' neighbours come from, and frame identification in held-out repeats (Table A3). Each function draws
one figure at the book's column width and shows it; the tables come from
:mod:`neurrator.evaluation.baseline_steps`."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from neurrator.book.plotting import COLUMN_WIDTH_IN


def _plt():
    import matplotlib.pyplot as plt

    return plt


def fit_costs(costs: pd.DataFrame) -> None:
    """Seconds to fit each method in each regime (log scale)."""
    import seaborn as sns

    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.2))
    sns.barplot(data=costs, x="method", y="fit (s)", hue="regime", ax=ax)
    ax.set(yscale="log", xlabel="", ylabel="seconds to fit (log)", title="Training time per method and regime")
    ax.legend(loc="upper left", title="regime")
    plt.show()


def narration_bars(narrated: pd.DataFrame, order: Sequence[str], seed: int = 0) -> None:
    """Held-out SBERT to the reference per regime and method (mean, 95 % interval); the legend below the axes."""
    import seaborn as sns

    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 4.2))
    sns.barplot(data=narrated, x="regime", y="matched", hue="method", hue_order=order, errorbar=("ci", 95), ax=ax,
                seed=seed, palette=["C0", "C1", "C2", "C3", "C4", "0.7"])
    ax.set(xlabel="", ylabel="SBERT cosine to the reference", title="Held-out narration by method (mean, 95% interval)")
    ax.set_xticks(ax.get_xticks(), [t.get_text().replace("_", " ") for t in ax.get_xticklabels()])
    ax.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    plt.show()


def retrieval_panels(table_a2: pd.DataFrame, exclusion_frames: int) -> None:
    """Stacked: the true frame's median rank with and without the exclusion zone, and linear CKA."""
    import seaborn as sns

    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 7.0))
    long = table_a2[["median rank", f"median rank (±{exclusion_frames} excluded)"]].rename_axis("method").reset_index().melt(
        id_vars="method", var_name="candidates", value_name="median rank of the true frame")
    sns.barplot(data=long, y="method", x="median rank of the true frame", hue="candidates", ax=axes[0])
    axes[0].set(xscale="log", ylabel="", title="Retrieval among all frames (lower is better)")
    axes[0].legend(title="candidates", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    sns.barplot(x=table_a2["CKA"], y=table_a2.index, ax=axes[1], color="C0")
    axes[1].set(ylabel="", xlabel="linear CKA with the true targets", title="Representational similarity")
    fig.tight_layout()
    plt.show()


def neighbour_gaps(gaps: pd.DataFrame, exclusion_frames: int) -> None:
    """Cumulative distribution of the frame gap between a held-out window and its KNN neighbours, per regime."""
    import seaborn as sns

    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.4))
    sns.ecdfplot(data=gaps, x="frame gap", hue="regime", ax=ax)
    ax.axvline(exclusion_frames + 1, color="0.5", ls=":")
    ax.set(xscale="log", xlabel="1 + frames between a held-out window and its neighbours (log)",
           ylabel="fraction of neighbours", title="Where the KNN decoders' neighbours come from\n(PCA and CEBRA)")
    plt.show()


def frame_identification(a3: pd.DataFrame, n_frames: int) -> None:
    """Frame R@1 in held-out repeats per method and session, with chance."""
    import seaborn as sns

    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.4))
    sns.stripplot(data=a3, x="method", y="R@1", hue="session", dodge=False, size=7, ax=ax, palette="tab10")
    ax.axhline(1 / n_frames, color="0.5", ls=":", label="chance")
    ax.set(xlabel="", ylabel="frame R@1 (held-out repeats)", title="Frame identification per session")
    ax.legend(ncol=4, title="session", loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    plt.show()


def linear_ceiling(table: pd.DataFrame) -> None:
    """The linear ceiling (:func:`neurrator.evaluation.linear_ceiling.ceiling_table`): R² (top) and patch cosine
    (bottom) per region pool and split; black ticks on the cosine bars mark the training-mean grid's cosine."""
    import seaborn as sns

    plt = _plt()
    long = table.reset_index().assign(split=lambda t: t["split"].str.replace("_", " "))
    fig, axes = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 6.4), sharex=True)
    sns.barplot(data=long, x="pool", y="r2", hue="split", ax=axes[0])
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(xlabel="", ylabel="R² (0: the training-mean grid)", title="Ridge from trial-averaged rates to the targets")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    sns.barplot(data=long, x="pool", y="patch cosine", hue="split", ax=axes[1], legend=False)
    by_bar = long.set_index(["split", "pool"])["mean-grid cosine"]   # seaborn draws the bars hue by hue
    means = [by_bar[split, pool] for split in pd.unique(long["split"]) for pool in pd.unique(long["pool"])]
    for bar, mean in zip(axes[1].patches, means):
        axes[1].plot([bar.get_x(), bar.get_x() + bar.get_width()], [mean, mean], color="k", lw=1.5)
    axes[1].set(xlabel="", ylabel="patch cosine", ylim=(0, 1))
    axes[1].legend(handles, labels, ncol=2, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False,
                   title="split (black ticks: the training-mean grid)")
    fig.tight_layout()
    plt.show()
