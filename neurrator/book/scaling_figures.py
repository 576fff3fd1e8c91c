"""Chapter 05's figures: the pan-session pseudo-mouse, its encoder's training, the scaling curves of the sweep, the
gap above the random-caption floor, the similarity of the pools' narrations, the masked query against subset
encoders and the pools' ordering. Each function draws one figure that fits the book's column and returns it
(None where there is nothing to draw)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from neurrator.book.plotting import COLUMN_WIDTH_IN


def _legend_below(fig, handles, labels, height_in: float, ncol: int = 3, rows: int = 1):
    """One legend for the figure under its panels (so that it covers no data), the panels laid out above it."""
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False)
    fig.tight_layout(rect=(0, (0.1 + 0.28 * rows) / height_in, 1, 1))


def units_per_session(per_session: pd.DataFrame):
    """Units contributed by each session (rows of ``per_session``) to each pool (its columns), stacked bars."""
    height = 1.6 + 0.3 * len(per_session)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, height))
    per_session.plot.barh(stacked=True, ax=ax, width=0.8, legend=False)
    ax.set(xlabel="units", ylabel="session", title="Units contributed by each session")
    rows = -(-per_session.shape[1] // 3)
    _legend_below(fig, *ax.get_legend_handles_labels(), height_in=height, ncol=3, rows=rows)
    return fig


def training_history(decoders: dict):
    """The pan-session encoder(s)' training loss and validation patch cosine per epoch, one panel under the other."""
    history = pd.concat([d.history_.assign(regime=r) for r, d in decoders.items()], ignore_index=True)
    fig, axes = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 5.6), sharex=True)
    sns.lineplot(data=history, x="epoch", y="train_loss", hue="regime", ax=axes[0])
    axes[0].set(title="training loss", ylabel="0.5 MSE + 0.5 (1 − cosine)")
    sns.lineplot(data=history, x="epoch", y="val_score", hue="regime", ax=axes[1], legend=False)
    axes[1].set(title="validation patch cosine", ylabel="mean patch cosine")
    fig.tight_layout()
    return fig


def scaling_curves(by_point: pd.DataFrame, random_caption_floor: float, pools: Sequence[str], n_frames: int):
    """Narration fidelity (SBERT with the reference, with the random-caption floor), patch cosine and the true
    frame's median retrieval rank (with chance) against the units queried, one line per pool (band: 90 % of draws),
    three panels under one another sharing the size axis; one legend below."""
    height = 10.0
    fig, axes = plt.subplots(3, 1, figsize=(COLUMN_WIDTH_IN, height), sharex=True)
    for ax, column, label in [(axes[0], "matched", "SBERT cosine\nwith the reference"),
                              (axes[1], "patch_cosine", "patch cosine\nwith the true grid"),
                              (axes[2], "median_rank", "median rank of\nthe true frame (log)")]:
        sns.lineplot(data=by_point, x="size", y=column, hue="pool", hue_order=list(pools), marker="o",
                     errorbar=("pi", 90), ax=ax, legend=ax is axes[0])
        ax.set(xscale="log", xlabel="units queried (log)", ylabel=label)
    axes[0].axhline(random_caption_floor, color="k", linestyle="--", linewidth=1, label="random-caption floor")
    axes[0].set_title("narration fidelity (band: 90 % of draws; dashed: floor)")
    axes[1].set_title("patch cosine")
    axes[2].axhline((n_frames + 1) / 2, color="k", linestyle="--", linewidth=1)
    axes[2].set(yscale="log", title="retrieval of the true frame (dashed: chance)")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    _legend_below(fig, handles, labels, height_in=height, ncol=4, rows=2)
    return fig


def floor_gap(curves: pd.DataFrame, crossing: pd.DataFrame, pools: Sequence[str]):
    """Per pool, the gap matched − random caption against the units queried with its 95 % bootstrap band, and a
    dotted line at the crossing of pools that cross; one legend below."""
    height = 4.8
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, height))
    for pool, curve in curves.groupby("pool", sort=False):
        colour = f"C{list(pools).index(pool)}"
        ax.plot(curve["size"], curve["gap"], marker="o", color=colour, label=pool)
        ax.fill_between(curve["size"], curve["low"], curve["high"], color=colour, alpha=0.15)
        if crossing.loc[pool, "crosses"]:
            ax.axvline(crossing.loc[pool, "crossing"], color=colour, linestyle=":", linewidth=1)
    ax.axhline(0, color="k", linestyle="--", linewidth=1)
    ax.set(xscale="log", xlabel="units queried (log)", ylabel="matched − random caption",
           title="Gap above the random-caption floor\n(band: 95 % bootstrap; dotted: crossing)")
    _legend_below(fig, *ax.get_legend_handles_labels(), height_in=height, ncol=3, rows=2)
    return fig


def pool_similarity(same: pd.DataFrame, shuffled_floor: pd.DataFrame, common_size):
    """The mean SBERT cosine between two pools' narrations of the same frames, and its excess over shuffled frames,
    as two heatmaps one under the other."""
    fig, axes = plt.subplots(2, 1, figsize=(6.0, 10.0))
    for ax, matrix, title in [(axes[0], same, f"same frames ({common_size} units per pool)"),
                              (axes[1], same - shuffled_floor, "same frames − shuffled frames")]:
        sns.heatmap(matrix.astype(float), annot=True, fmt=".2f", cmap="viridis", ax=ax, square=True, cbar=False)
        ax.set_title(title)
    fig.tight_layout()
    return fig


def mask_vs_retrained(comparison: pd.DataFrame, pool: str):
    """Matched SBERT (with the random-caption mean) and patch cosine of the masked query and of the encoders trained
    on the subset alone, per size; None when nothing was compared."""
    if not len(comparison):
        return None
    height = 4.4
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH_IN, height))
    for ax, column in zip(axes, ["matched", "patch cosine"]):
        sns.barplot(data=comparison, x="size", y=column, hue="model", ax=ax)
        ax.set(xlabel=f"{pool} units", ylabel=column)
    axes[0].axhline(comparison["random caption"].mean(), color="k", linestyle="--", linewidth=1, label="random caption")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        ax.get_legend().remove()
    _legend_below(fig, handles, labels, height_in=height, ncol=1, rows=3)
    return fig


def pool_ordering(ordering: pd.Series, common_size):
    """The compared pools' gap above the floor at ``common_size`` units, largest first (the hippocampus in grey)."""
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.2))
    ordering.plot.barh(ax=ax, color=["0.6" if p == "hippocampus" else "C0" for p in ordering.index])
    ax.axvline(0, color="k", linewidth=1)
    ax.invert_yaxis()
    ax.set(xlabel=f"matched − random caption at {common_size} units", title="Pools ordered by narration fidelity")
    fig.tight_layout()
    return fig
