"""Chapter 06's figures and the example frames (each drawn and shown; the tables come from
:mod:`neurrator.evaluation.cell_types` and are shown through :func:`neurrator.book.tables.show`). Every figure fits the
book's 7-inch column: panels that would shrink side by side are stacked."""

from __future__ import annotations

import base64
import html
import io
import textwrap

import numpy as np
import pandas as pd

from neurrator.book.plotting import COLUMN_WIDTH_IN
from neurrator.evaluation import cell_types

W = COLUMN_WIDTH_IN


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _wrap(text: str, width: int = 60) -> str:
    return "\n".join(textwrap.wrap(str(text), width))


def criteria_space(light: pd.DataFrame, rule) -> None:
    """Every unit's reliability against its latency (top) and its rate multiple (bottom), the three criteria's
    thresholds dashed; one legend below."""
    import seaborn as sns

    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(W, 7.6))
    hue = light["ChR2"].map({True: "ChR2 (planted)", False: "no ChR2"}) if "ChR2" in light else light["genotype"]
    sns.scatterplot(x=light["latency_ms"].fillna(25.0), y=light["reliability"], hue=hue, style=light["tutorial ratio"].map(
        {True: "tagged by the ratio", False: "not tagged by the ratio"}), s=18, alpha=0.7, ax=axes[0])
    axes[0].axvline(rule.max_latency_ms, color="k", ls="--", lw=1)
    axes[0].axhline(rule.min_reliability, color="k", ls="--", lw=1)
    axes[0].set(xlabel="median first-spike latency (ms; 25 = never fired)", ylabel="fraction of pulses\nwith a spike",
                title="Reliability and latency")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    sns.scatterplot(x=light["rate_multiple"].clip(lower=0.05), y=light["reliability"], hue=hue, s=18, alpha=0.7, ax=axes[1],
                    legend=False)
    axes[1].axvline(rule.min_rate_multiple, color="k", ls="--", lw=1)
    axes[1].axhline(rule.min_reliability, color="k", ls="--", lw=1)
    axes[1].set(xscale="log", xlabel="evoked rate / baseline rate (log scale)", ylabel="fraction of pulses\nwith a spike",
                title="Reliability and rate multiple")
    fig.suptitle("Criteria space (dashed: the three-criterion thresholds)")
    plt.tight_layout()
    plt.show()


def population_sessions(labelled: pd.DataFrame, populations) -> None:
    """Each population's units, stacked by session (legend to the right)."""
    plt = _plt()
    by_column = labelled.set_index("column")
    fig, ax = plt.subplots(figsize=(W, 2.8))
    counts = pd.DataFrame({t: by_column.loc[cols, "session_id"].value_counts() for t, cols in populations.items()}).fillna(0).T
    counts.plot.barh(stacked=True, ax=ax, width=0.7, legend=True)
    ax.set(xlabel="tagged units", ylabel="",
           title=_wrap("Each population's units by session (its size-matched controls: the same)", 45))
    ax.legend(title="session", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    plt.tight_layout()
    plt.show()


def fidelity_bars(tables) -> None:
    """Per stimulus (one panel each, stacked): SBERT with the reference per cell type, tagged against size-matched
    controls (range over draws)."""
    import seaborn as sns

    plt = _plt()
    fig, axes = plt.subplots(len(tables), 1, figsize=(W, 3.0 * len(tables)), sharey=True, squeeze=False)
    for ax, (name, table) in zip(axes[:, 0], tables.items()):
        per_draw = table.assign(kind=np.where(cell_types.is_control(table), "size-matched control", "tagged"))
        per_draw = per_draw.groupby(["cell_type", "kind", "draw"])["matched"].mean().reset_index()
        sns.barplot(data=per_draw, x="cell_type", y="matched", hue="kind", errorbar=("pi", 100), ax=ax)
        ax.axhline(table["random_caption"].mean(), color="k", ls="--", lw=1, label="random caption")
        ax.set(xlabel="", ylabel="SBERT with\nthe reference", title=name.replace("_", " "))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    plt.tight_layout()
    plt.show()


def pairwise_bars(pairwise: pd.DataFrame) -> None:
    """Same-frame agreement per pair: cell types, their controls and the shuffled floor, with 95 % intervals."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(W, 3.6))
    errors = np.stack([[pairwise[f"same frames{s}"] - pairwise[f"CI low{s}"], pairwise[f"CI high{s}"] - pairwise[f"same frames{s}"]]
                       for s in ("", " (controls)")] + [np.zeros((2, len(pairwise)))])
    pairwise[["same frames", "same frames (controls)", "shuffled frames"]].plot.bar(ax=ax, rot=0, width=0.75, yerr=errors,
                                                                                   capsize=3)
    ax.set(ylabel="mean SBERT cosine", xlabel="",
           title=_wrap("Narrations of the same frame by two populations (bars: 95 % block bootstrap)", 45))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    plt.tight_layout()
    plt.show()


def distinctive_bars(distinctive: pd.DataFrame, populations) -> None:
    """Each population's most distinctive words by log-odds z (dashed: z = 1.96), one panel per population, stacked."""
    plt = _plt()
    fig, axes = plt.subplots(len(populations), 1, figsize=(W, 2.6 * len(populations)), sharex=True, squeeze=False)
    for ax, t in zip(axes[:, 0], populations):
        part = distinctive[distinctive["group"] == t].iloc[::-1]
        ax.barh(part["word"], part["z"], color=f"C{list(populations).index(t)}")
        ax.axvline(1.96, color="k", ls="--", lw=1)
        ax.set(title=t)
    axes[-1, 0].set_xlabel("log-odds z against the other two populations")
    fig.suptitle(_wrap("Words that set each population apart on the natural scenes (dashed: z = 1.96)", 60))
    plt.tight_layout()
    plt.show()


def classifier_figure(verdicts: dict, classifier: pd.DataFrame, against: dict) -> None:
    """The confusion matrices of the cell types and of the first control draw (top), and the cell types' accuracy
    among the control draws' (bottom)."""
    import seaborn as sns

    plt = _plt()
    fig = plt.figure(figsize=(W, 6.0))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.6, 0.8])
    for k, name in enumerate(list(verdicts)[:2]):
        ax = fig.add_subplot(grid[0, k])
        sns.heatmap(verdicts[name]["confusion"], annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
        ax.set(title=f"{name}:\naccuracy {verdicts[name]['accuracy']:.2f}", xlabel="predicted", ylabel="true")
    ax = fig.add_subplot(grid[1, :])
    ax.scatter(classifier["accuracy"].iloc[1:], np.zeros(against["draws"]), color="0.5", label="control draws")
    ax.axvline(verdicts["cell types"]["accuracy"], color="C3", label="cell types")
    ax.axvline(verdicts["cell types"]["chance"], color="k", ls="--", lw=1, label="chance")
    ax.set(yticks=[], xlabel="accuracy", title="The cell types among the control draws")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    plt.tight_layout()
    plt.show()


def concept_courses(axes_table: pd.DataFrame, populations, axis_names) -> None:
    """Up to four concept axes over the held-out movie frames (running mean of 5), per population and the controls:
    one panel per axis, stacked, the axis named in the panel's title, one legend above."""
    plt = _plt()
    shown = [c for c in ("a car or vehicle", "lighting", "high contrast", "a person walking") if c in axis_names][:4] \
        or list(axis_names)[:4]
    fig, axes = plt.subplots(len(shown), 1, figsize=(W, 0.8 + 2.2 * len(shown)), sharex=True, squeeze=False)
    for ax, concept in zip(axes[:, 0], shown):
        for t in populations:
            course = axes_table[axes_table["population"] == t].groupby("frame")[concept].mean()
            ax.plot(course.index, course.rolling(5, center=True, min_periods=1).mean(), label=t, lw=1.4)
        ctrl = axes_table[cell_types.is_control(axes_table)].groupby("frame")[concept].mean()
        ax.plot(ctrl.index, ctrl.rolling(5, center=True, min_periods=1).mean(), color="0.6", lw=1.2, label="controls (all)")
        ax.set(title=f"axis: {concept}", ylabel="cosine" if concept != "lighting" else "bright − dark")
    axes[-1, 0].set_xlabel("movie frame (held-out frames; running mean of 5)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    height = fig.get_figheight()
    fig.suptitle("Concept axes over the movie, per population", y=1 - 0.05 / height)
    fig.legend(handles, labels, ncol=len(labels), loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / height), frameon=False)
    plt.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))
    plt.show()


class ExampleFrames:
    """The example frames as an HTML table: a thumbnail of each frame, each population's sentence and the reference
    caption in readable text (a terminal or a text diff gets the sentences as plain text)."""

    def __init__(self, images, examples: pd.DataFrame, populations, thumbnail_px: int = 200):
        self.examples, self.columns = examples, [*populations, *[c for c in examples.columns if c not in populations]]
        self.thumbnails = {frame: self._png(images[int(frame)], thumbnail_px) for frame in examples.index}

    @staticmethod
    def _png(image, width: int) -> str:
        from PIL import Image

        array = np.asarray(image)
        if array.dtype != np.uint8:
            low, high = float(array.min()), float(array.max())
            array = ((array - low) / ((high - low) or 1.0) * 255).astype(np.uint8)
        picture = Image.fromarray(array)
        picture = picture.resize((width, max(1, round(width * picture.height / picture.width))), Image.LANCZOS)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in ["frame", *self.columns])
        rows = "".join(
            f"<tr><td><img src='data:image/png;base64,{self.thumbnails[frame]}' alt='frame {frame}'><br>frame {frame}</td>"
            + "".join(f"<td style='text-align:left'>{html.escape(str(self.examples.at[frame, c]))}</td>" for c in self.columns)
            + "</tr>" for frame in self.examples.index)
        return f"<div style='overflow-x:auto'><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"

    def __repr__(self) -> str:
        return self.examples[self.columns].to_string()


def example_frames(images, examples: pd.DataFrame, populations) -> ExampleFrames:
    """The example frames (``examples``' index), each population's sentence and the reference beside a thumbnail."""
    return ExampleFrames(images, examples, populations)


def planted_figure(planted: pd.DataFrame, populations, axes_table: pd.DataFrame, info: pd.DataFrame, *, binned, split,
                   zscore) -> None:
    """Per planted code (one row each): every population's narration axis (left) and spikes (right) against the
    planted variable, the carrier's clip means as diamonds; one legend below. Nothing without a planted code."""
    if not len(planted):
        return
    plt = _plt()
    fig, axes = plt.subplots(len(planted), 2, figsize=(W, 3.3 * len(planted) + 0.6), squeeze=False)
    for k, (_, row) in enumerate(planted.iterrows()):
        carrier, variable = row["planted"].split(" → ")
        for t in populations:
            course = cell_types.axis_course(axes_table, t, row["axis"])
            axes[k, 0].scatter(info.loc[course.index, variable], course, s=8, alpha=0.6, label=t)
            course = cell_types.spike_course(binned, split, zscore, populations[t])
            axes[k, 1].scatter(info.loc[course.index, variable], course, s=8, alpha=0.6, label=t)
        course = cell_types.axis_course(axes_table, carrier, row["axis"])
        clip_means = pd.DataFrame({"x": info.loc[course.index, variable].astype(float), "y": course.to_numpy()}).groupby(
            info.loc[course.index, "segment"].to_numpy()).mean()
        axes[k, 0].scatter(clip_means["x"], clip_means["y"], s=40, marker="D", color="k", label="carrier, clip means")
        axes[k, 0].set(xlabel=f"planted: {variable}", ylabel=_wrap(f"axis: {row['axis']}", 22),
                       title=f"{row['planted']}\nnarration ρ {row['carrier ρ']:+.2f} (clips)")
        axes[k, 1].set(xlabel=f"planted: {variable}", ylabel="mean z-scored\nactivity",
                       title=f"{carrier}'s spikes\nρ {row['spikes ρ']:+.2f} (clips)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(labels), loc="lower center", bbox_to_anchor=(0.5, 0.0), frameon=False)
    plt.tight_layout(rect=(0, 0.6 / (3.3 * len(planted) + 0.6), 1, 1))
    plt.show()


def planted_routes_figure(routes: pd.DataFrame) -> None:
    """Each planted code (row) along the routes (columns): the clip-level ρ as colour and number, ✓ where the route
    recovers the code (Holm q, above the controls). Nothing without a planted code."""
    if not len(routes):
        return
    plt = _plt()
    order, codes = list(dict.fromkeys(routes["route"])), list(dict.fromkeys(routes["planted"]))
    shown = cell_types.route_values(routes)
    leaning = routes["ρ"].isna() & shown.notna()   # a route measured as a leaning (SD) rather than a ρ (chapter 07)
    wide = routes.assign(shown=shown, unit=np.where(leaning, " SD", ""))
    rho = wide.pivot(index="planted", columns="route", values="shown").loc[codes, order]
    unit = wide.pivot(index="planted", columns="route", values="unit").loc[codes, order]
    kept = routes.pivot(index="planted", columns="route", values="recovered").loc[codes, order]
    fig, ax = plt.subplots(figsize=(W, 0.8 * len(rho) + 1.6))
    image = ax.imshow(rho.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            value = rho.iat[i, j]
            if np.isfinite(value):
                ax.text(j, i, f"{value:+.2f}{unit.iat[i, j]}" + (" ✓" if bool(kept.iat[i, j]) else ""),
                        ha="center", va="center", color="white" if abs(value) > 0.6 else "black")
    ax.set_xticks(range(len(order)), [_wrap(r, 14) for r in order])
    ax.set_yticks(range(len(rho)), rho.index)
    ax.set_title("Planted code, route by route: clip-level Spearman ρ" + (" or leaning (SD)" if leaning.any() else "")
                 + " (✓ recovered)")
    fig.colorbar(image, ax=ax, label="ρ", shrink=0.8)
    plt.tight_layout()
    plt.show()
