"""Which population said it? A classifier from a narration's embedding to the population that produced it,
and which population carries a planted variable.

Logistic regression (scikit-learn) on sentence embeddings, cross-validated with folds grouped by
frame (the same frame is never in a training and a test fold, so the classifier cannot learn a
frame's content), against chance ``1 / classes`` with a permutation test whose labels are shuffled
*within* each frame: the null keeps every frame's content and destroys only who said it. Against
size-matched random populations (:func:`against_controls`), the cell types' accuracy is ranked among
the accuracies of the control draws.

:func:`level_correlation` correlates a per-frame series with a planted variable at the level where the
variable is set (e.g. per source clip): averaging within each clip makes the clips the independent units.
"""

from __future__ import annotations

from math import factorial
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def which_population(embeddings: np.ndarray, labels: Sequence[str], frames: Sequence[int], *, n_splits: int = 5,
                     n_permutations: int = 200, seed: int = 0, C: float = 1.0) -> dict:
    """Cross-validated accuracy (the mean over the frame-grouped folds), chance, per-fold accuracies, the number of
    narrations ``n`` and of ``frames``, and ``confusion`` (true × predicted); the permutation p over
    ``n_permutations`` within-frame shuffles, its floor ``resolution`` (1 / (n_permutations + 1)) and the permuted
    accuracies' mean. ``n_permutations=0`` skips the permutation test (p, resolution and permuted mean nan): the
    accuracy alone, e.g. of a control draw."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import GroupKFold, cross_val_predict, permutation_test_score

    x = np.asarray(embeddings, dtype=np.float64)
    y, groups = np.asarray(labels).astype(str), np.asarray(frames)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"need narrations of at least two populations, got {list(classes)}")
    folds = min(n_splits, len(np.unique(groups)))
    if folds < 2:
        raise ValueError("need at least two distinct frames for frame-grouped cross-validation")
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    cv = GroupKFold(n_splits=folds)
    model = LogisticRegression(C=C, max_iter=2000)
    predicted = cross_val_predict(model, x, y, groups=groups, cv=cv)
    per_fold = [float((predicted[test] == y[test]).mean()) for _, test in cv.split(x, y, groups)]
    p = permuted_mean = resolution = float("nan")
    if n_permutations:   # the same folds and model: its unpermuted score is the mean of per_fold
        _, permuted, p = permutation_test_score(model, x, y, groups=groups, cv=cv, n_permutations=n_permutations,
                                                random_state=seed, scoring="accuracy")
        p, permuted_mean, resolution = float(p), float(np.mean(permuted)), 1 / (n_permutations + 1)
    confusion = pd.DataFrame(confusion_matrix(y, predicted, labels=classes), index=classes, columns=classes)
    return {"accuracy": float(np.mean(per_fold)), "chance": 1 / len(classes), "p": p, "resolution": resolution,
            "folds": per_fold, "permuted_mean": permuted_mean, "n": len(y), "frames": int(len(np.unique(groups))),
            "confusion": confusion}


def against_controls(accuracy: float, control_accuracies: Sequence[float]) -> dict:
    """Is ``accuracy`` (the cell types') above what size-matched random populations reach? Its rank among the
    control draws' accuracies: p = (1 + #draws >= accuracy) / (1 + draws), at least ``resolution`` =
    1 / (draws + 1); ``difference``: accuracy minus the draws' mean. nan without draws."""
    controls = np.asarray(control_accuracies, dtype=np.float64)
    draws = len(controls)
    if draws == 0:
        return {"difference": float("nan"), "controls_mean": float("nan"), "p": float("nan"), "draws": 0,
                "resolution": float("nan")}
    return {"difference": float(accuracy - controls.mean()), "controls_mean": float(controls.mean()),
            "p": float((1 + np.sum(controls >= accuracy)) / (1 + draws)), "draws": draws, "resolution": 1 / (draws + 1)}


def level_correlation(values: Sequence[float], variable: Sequence[float], groups: Sequence, *,
                      alternative: str = "greater", n_resamples: int = 9999, seed: int = 0) -> dict:
    """Spearman correlation of ``values`` (one per item, e.g. a per-frame concept axis) with ``variable`` at the
    level where the variable is set: both are averaged within each of ``groups`` (e.g. source clips) and ranked
    over the groups. p is a permutation test over groups (the pairing of the group means shuffled; exact where
    ``n! <= n_resamples``), at least ``resolution``. Returns rho, p, resolution and n (the groups: the effective
    n); rho and p are nan where either side is constant over the groups or there are fewer than 3."""
    means = pd.DataFrame({"x": np.asarray(values, dtype=np.float64), "y": np.asarray(variable, dtype=np.float64),
                          "group": list(groups)}).groupby("group").mean()
    n = len(means)
    out = {"rho": float("nan"), "p": float("nan"), "resolution": float("nan"), "n": n}
    if n < 3 or np.ptp(means["x"]) == 0 or np.ptp(means["y"]) == 0:
        return out
    method = stats.PermutationMethod(n_resamples=n_resamples, random_state=np.random.default_rng(seed))
    result = stats.pearsonr(stats.rankdata(means["x"]), stats.rankdata(means["y"]), alternative=alternative,
                            method=method)
    exact = factorial(n) <= n_resamples
    return {**out, "rho": float(result.statistic), "p": float(result.pvalue),
            "resolution": 1 / factorial(n) if exact else 1 / (n_resamples + 1)}
