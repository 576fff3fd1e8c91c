"""One seaborn theme and palette for every figure in the book."""

from __future__ import annotations

THEME = dict(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.95)
RC = {"figure.dpi": 100, "savefig.dpi": 150, "figure.figsize": (7.0, 3.6), "axes.titleweight": "bold"}


def set_theme() -> None:
    """Apply the book's theme (call once at the top of each notebook)."""
    import seaborn as sns

    sns.set_theme(**THEME, rc=RC)

