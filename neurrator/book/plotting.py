"""One seaborn theme and palette for every figure in the book."""

from __future__ import annotations

THEME = dict(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.95)
RC = {"figure.dpi": 100, "savefig.dpi": 150, "figure.figsize": (7.0, 3.6), "axes.titleweight": "bold"}

#: the book's text column holds a 7-inch figure at its own size (about 700 px at the figure dpi); a wider figure is
#: shrunk, and its text with it. A figure wider than this must sit in a cell tagged ``full-width`` (at most
#: FULL_WIDTH_IN), and no text in a figure is smaller than MIN_FONT_PT (tests/test_book_figures.py checks both).
COLUMN_WIDTH_IN = 7.0
FULL_WIDTH_IN = 11.0
MIN_FONT_PT = 9


def set_theme() -> None:
    """Apply the book's theme (call once at the top of each notebook)."""
    import seaborn as sns

    sns.set_theme(**THEME, rc=RC)



def learning_curves(measured: dict, margin: float | None = None):
    """The learning curve of ``benchmarks/learning_curve.py`` (its JSON): validation patch cosine against the
    windows the model has seen (optimiser steps x batch), one panel per split, one line per recipe; a cross marks
    each run's held-out patch cosine (its kept model), grey lines the held-out cosine of ridge and PCA + KNN on the
    same windows, the green band the plateau minus the margin. Panels are stacked so that each keeps the column's
    width; each legend sits below its panel."""
    import matplotlib.pyplot as plt

    rows, baselines, recipes = measured["results"], measured.get("baselines", {}), measured.get("recipes", {})
    regimes = sorted({r["regime"] for r in rows.values()}, key=lambda r: (" " in r, r != "sparse_random"))
    heights = [4.6 + 0.22 * sum(r["regime"] == g for r in rows.values()) for g in regimes]
    fig, axes = plt.subplots(len(regimes), 1, figsize=(7.0, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    colours = plt.get_cmap("tab20").colors
    for ax, regime in zip(axes[:, 0], regimes):
        runs = [(name, row) for name, row in rows.items() if row["regime"] == regime]
        for i, (name, row) in enumerate(runs):
            batch = recipes.get(name, {}).get("batch_size", 64)
            seen = [row["steps_per_epoch"] * batch * (e + 1) for e in range(len(row["val_cosine"]))]
            ax.plot(seen, row["val_cosine"], color=colours[i % 20], label=name.split(" · ", 1)[-1])
            ax.scatter([seen[-1]], [row["heldout_patch_cosine"]], marker="x", color=colours[i % 20], s=40, zorder=3)
        for style, (name, b) in zip(["--", ":"], baselines.get(regime, {}).items()):
            if isinstance(b, dict):
                ax.axhline(b["heldout_patch_cosine"], color="0.35", linestyle=style, linewidth=1.2,
                           label=f"{name} (held-out)")
        summary = measured.get("summary", {}).get(regime)
        if summary:
            top, band = summary["plateau_val_cosine"], summary["margin"] if margin is None else margin
            ax.axhspan(top - band, top, color="C2", alpha=0.15, label=f"plateau − {band:g}")
        ax.set(xscale="log", xlabel="training windows seen (optimiser steps × batch, log scale)",
               ylabel="patch cosine", title=f"{regime.replace('_', ' ')}: validation (lines), held-out (×)")
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
