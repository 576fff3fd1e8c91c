"""Chapter 04's figures: the narrations against the controls, narration quality against the distance to the nearest
training frame, held-out frames with their references and decoded sentences (an HTML table, so that the sentences
stay readable), and the collapse of predictions to the mean training frame. Each figure fits the book's column."""

from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from neurrator.book.plotting import COLUMN_WIDTH_IN
from neurrator.evaluation import heldout, scoring

#: the boxes of each pairing: the matched score in colour, the controls in greys
PAIRING_COLOURS = ["C0", "0.6", "0.75", "0.9"]


def _label(regime: str, decoder: str = "Neurrator", width: int = 24) -> str:
    name = regime.replace("_", " ") + ("" if decoder == "Neurrator" else f" ({decoder})")
    return "\n".join(textwrap.wrap(name, width))


def controls_boxplots(scored: pd.DataFrame):
    """Per reference (one panel under the other): the matched SBERT cosine of each held-out condition's narrations,
    as horizontal boxes beside the shuffled, random-caption and word-salad controls; one legend below the panels."""
    long = scored.melt(id_vars=["regime", "decoder", "reference"], value_vars=list(scoring.SCORE_COLUMNS),
                       var_name="pairing", value_name="SBERT cosine")
    long["pairing"] = long["pairing"].str.replace("_", " ")
    long["condition"] = [_label(r, d) for r, d in zip(long["regime"], long["decoder"])]
    references = list(long["reference"].unique())
    counts = [long.loc[long["reference"] == r, "condition"].nunique() for r in references]
    heights = [0.55 * n + 0.9 for n in counts]
    fig, axes = plt.subplots(len(references), 1, figsize=(COLUMN_WIDTH_IN, sum(heights) + 0.6), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, reference in zip(axes[:, 0], references):
        sns.boxplot(data=long[long["reference"] == reference], y="condition", x="SBERT cosine", hue="pairing",
                    orient="h", ax=ax, fliersize=1.5, linewidth=0.8, palette=PAIRING_COLOURS)
        ax.set(ylabel="", title=f"Against the {reference} reference")
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.5 / (sum(heights) + 0.6), 1, 1))
    return fig


def quality_by_distance(scores: pd.DataFrame, trained: Mapping, regimes=("front_only", "contiguous_middle")):
    """Per regime (one panel under the other): each held-out frame's matched score against its distance to the
    nearest training frame, with rolling means of the matched score and of the shuffled and random-caption
    controls; the legend below the panels."""
    fig, axes = plt.subplots(len(regimes), 1, figsize=(COLUMN_WIDTH_IN, 3.0 * len(regimes) + 0.5), sharey=True,
                             squeeze=False)
    for ax, regime in zip(axes[:, 0], regimes):
        part = scores[scores["regime"] == regime].sort_values("frame")
        distance = trained[regime].distance_to_training(part["frame"].to_numpy())
        smooth = heldout.by_distance(part, distance)
        ax.scatter(distance, part["matched"], s=4, color="C0", alpha=0.25)
        ax.plot(smooth.index, smooth["matched"], color="C0", label="matched (rolling mean)")
        ax.plot(smooth.index, smooth["shuffled"], color="0.5", label="shuffled")
        ax.plot(smooth.index, smooth["random_caption"], color="0.7", linestyle="--", label="random caption")
        ax.set(title=regime.replace("_", " "), xlabel="frames from the nearest training frame", ylabel="SBERT cosine")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.45 / (3.0 * len(regimes) + 0.5), 1, 1))
    return fig


def _thumbnail(image: np.ndarray, width: int = 180) -> str:
    """A frame as an inline PNG (``<img>``), ``width`` pixels wide."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        image = ((image - low) / (high - low or 1) * 255).astype(np.uint8)
    picture = Image.fromarray(image)
    picture = picture.resize((width, max(1, round(picture.height * width / picture.width))))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return (f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}" '
            f'width="{width}" style="max-width:none">')


class ExampleTable:
    """Held-out frames as an HTML table: the frame's thumbnail, then its references and the decoded sentence as
    text (a terminal or a text diff prints the sentences)."""

    def __init__(self, rows: pd.DataFrame, html_text: str):
        self.rows, self.html = rows, html_text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.rows.to_string()


def narrated_examples(picks: pd.DataFrame, images: Mapping[str, np.ndarray], width: int = 180) -> ExampleTable:
    """Each picked held-out frame (a row): its thumbnail, condition and frame, model reference, content reference
    (where the stimulus has one), the decoded sentence and its SBERT cosine with the model reference."""
    cell = 'style="text-align:left; vertical-align:top; padding:4px 8px"'
    head = "".join(f"<th {cell}>{h}</th>" for h in ("frame", "model reference", "content reference", "decoded", "SBERT"))
    body = []
    for _, row in picks.iterrows():
        frame = int(row["frame"])
        body.append(
            "<tr>"
            f"<td {cell}>{_thumbnail(images[row['stimulus']][frame], width)}<br>"
            f"<b>{html.escape(row['regime'].replace('_', ' '))}</b> · frame {frame}</td>"
            f"<td {cell}>{html.escape(row['reference_caption'])}</td>"
            f"<td {cell}>{html.escape(row['content'] or '–')}</td>"
            f"<td {cell}><i>{html.escape(row['narration'])}</i></td>"
            f"<td {cell}>{row['matched']:.2f}</td></tr>")
    text = (f'<div style="overflow-x:auto"><table style="font-size:0.9em"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')
    shown = picks[["regime", "frame", "narration", "matched"]].round({"matched": 2}).reset_index(drop=True)
    return ExampleTable(shown, text)


def collapse(diagnostics: pd.DataFrame):
    """Per regime, the cosine of the encoder's (circles) and ridge's (squares) predictions with the frame's own
    target against their cosine with the mean training target; regimes below the diagonal have collapsed to the
    training mean."""
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 5.0))
    for decoder, marker in [("encoder", "o"), ("ridge", "s")]:
        ax.scatter(diagnostics[f"{decoder}: cos to training mean"], diagnostics[f"{decoder}: cos to own target"],
                   marker=marker, s=60, label=decoder)
    for regime, row in diagnostics.iterrows():
        ax.annotate(regime.replace("_", " "), (row["encoder: cos to training mean"], row["encoder: cos to own target"]),
                    fontsize=9, xytext=(5, 3), textcoords="offset points")
    ax.plot([0, 1], [0, 1], color="0.7", linestyle=":")
    ax.set(xlabel="cosine with the mean training target", ylabel="cosine with the frame's own target",
           title="Above the diagonal: specific to the frame;\nbelow: collapsed to the training mean")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def scene_word_bars(ablation: pd.DataFrame):
    """Per held-out condition, the margin of matched over shuffled pairing (model reference) of the object-only
    narrator and of the scene narrator, as paired horizontal bars. None without a scene narrator."""
    if not len(ablation):
        return None
    margin = ablation.xs("model", level="reference")["matched - shuffled"]
    long = margin.reset_index().melt(id_vars="regime", var_name="narrator", value_name="matched − shuffled")
    long["condition"] = [_label(r) for r in long["regime"]]
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 0.45 * margin.shape[0] + 1.4))
    sns.barplot(data=long, y="condition", x="matched − shuffled", hue="narrator", orient="h", ax=ax)
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set(ylabel="", title="What scene words add: margin over shuffled pairing (model reference)")
    ax.legend(title="", loc="lower right", frameon=False)
    fig.tight_layout()
    return fig
