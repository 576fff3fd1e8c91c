"""Chapter 00's figures: the environment's largest packages and the reproducibility check. Each function draws one
figure and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def install_footprint(footprint: pd.DataFrame):
    """Installed size of the largest packages (:func:`neurrator.book.environment.install_footprint`)."""
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    ax.barh(footprint["package"][::-1], footprint["MB"][::-1], color="C0")
    ax.set(xlabel="installed size (MB)", title="Largest packages in this environment")
    return fig


def seeded_runs(run_a: np.ndarray, run_b: np.ndarray, run_c: np.ndarray, seed: int):
    """Loss curves of two runs from ``seed`` (they must coincide) and one from ``seed + 1``."""
    fig, ax = plt.subplots()
    ax.plot(run_a, lw=3, alpha=0.5, label=f"seed {seed}, run 1")
    ax.plot(run_b, ls="--", color="k", lw=1, label=f"seed {seed}, run 2")
    ax.plot(run_c, color="C3", lw=1, label=f"seed {seed + 1}")
    ax.set(xlabel="optimisation step", ylabel="training MSE", yscale="log", title="Seeded training is reproducible")
    ax.legend()
    return fig
