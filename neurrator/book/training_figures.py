"""Chapter 03's figures: the training curves of every model, the held-out embedding metrics against their controls,
and the retrieval of held-out frames by the patch grid and by the retrieval variant. Each function draws one figure
and returns it; every figure keeps the column's width (panels stacked)."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def training_curves(trained_models: Mapping):
    """Training and validation loss, and the validation score, per epoch of every trained model (its ``history_``):
    patch models in the top two panels (one shared legend below them), the retrieval variants in the bottom one."""
    history = pd.concat([d.history_.assign(model=name) for name, d in trained_models.items()], ignore_index=True)
    patch_models = history["model"].str.endswith("(patches)")
    patches = history[patch_models].assign(model=lambda t: t["model"].str.removesuffix(" (patches)"))
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 12.5), gridspec_kw={"height_ratios": [1, 1, 0.8]},
                             layout="constrained")
    sns.lineplot(data=patches, x="epoch", y="train_loss", hue="model", ax=axes[0], legend=False)
    sns.lineplot(data=patches, x="epoch", y="val_loss", hue="model", ax=axes[0], linestyle="--", legend=False)
    axes[0].set(title="patch loss (solid: training, dashed: validation)", ylabel="0.5 MSE + 0.5 (1 − cosine)")
    sns.lineplot(data=patches, x="epoch", y="val_score", hue="model", ax=axes[1])
    axes[1].set(title="validation patch cosine (early-stopping score)", ylabel="mean patch cosine")
    axes[1].legend(title="patch model", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    sns.lineplot(data=history[~patch_models], x="epoch", y="val_score", hue="model", ax=axes[2])
    axes[2].set(title="retrieval variants: validation score", ylabel="embedding cosine\n/ accuracy")
    axes[2].legend(title="", loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    return fig


def metric_bars(embedding_table: pd.DataFrame, metrics=("patch cosine", "CKA", "KNN purity")):
    """Per condition, each metric on matched frames, with neighbours in time excluded, and on the shuffled control:
    one panel per metric, one under the other, conditions named once at the bottom."""
    shown = lambda metric: {metric: "matched frames", f"{metric} (excl.)": "matched, neighbours excluded",
                            f"{metric} (shuffled)": "shuffled control"}
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.0, 2.3 * len(metrics) + 1.9), sharex=True)
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        long = embedding_table[[c for c in shown(metric) if c in embedding_table]].rename(columns=shown(metric))
        long.plot.bar(ax=ax, rot=45, color=["C0", "C1", "0.7"][:long.shape[1]], legend=False, width=0.8)
        ax.set(title=metric, xlabel="")
    plt.setp(np.atleast_1d(axes)[-1].get_xticklabels(), ha="right", rotation_mode="anchor")
    handles = [plt.matplotlib.patches.Patch(color=c, label=l) for c, l in
               zip(["C0", "C1", "0.7"], ["matched frames", "matched, neighbours excluded", "shuffled control"])]
    fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def retrieval_curves(variant_ranks: Mapping[str, np.ndarray], candidates: int, title: str):
    """The cumulative distribution of the true frame's rank among ``candidates`` frames, one line per model."""
    fig, ax = plt.subplots(figsize=(7.0, 3.5))
    for name, r in variant_ranks.items():
        ax.plot(np.sort(r), np.linspace(0, 1, len(r)), label=name)
    ax.axvline(10, color="0.6", linestyle=":")
    ax.set(xscale="log", xlabel=f"rank of the true frame among all {candidates} (log)",
           ylabel="fraction of held-out frames", title=title)
    ax.legend(loc="lower right")
    return fig
