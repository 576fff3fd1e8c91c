"""Which population said it? A classifier from a narration's embedding to the population that produced it.

Logistic regression (scikit-learn) on sentence embeddings, cross-validated with folds grouped by
frame (the same frame is never in a training and a test fold, so the classifier cannot learn a
frame's content), against chance ``1 / classes`` with a permutation test whose labels are shuffled
*within* each frame: the null keeps every frame's content and destroys only who said it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def which_population(embeddings: np.ndarray, labels: Sequence[str], frames: Sequence[int], *, n_splits: int = 5,
                     n_permutations: int = 200, seed: int = 0, C: float = 1.0) -> dict:
    """Cross-validated accuracy, chance, permutation p and per-fold accuracies; ``confusion`` (true × predicted)."""
    import pandas as pd
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
    cv = GroupKFold(n_splits=folds)
    model = LogisticRegression(C=C, max_iter=2000)
    score, permuted, p = permutation_test_score(model, x, y, groups=groups, cv=cv, n_permutations=n_permutations,
                                                random_state=seed, scoring="accuracy")
    predicted = cross_val_predict(model, x, y, groups=groups, cv=cv)
    per_fold = [float((predicted[test] == y[test]).mean()) for _, test in cv.split(x, y, groups)]
    confusion = pd.DataFrame(confusion_matrix(y, predicted, labels=classes), index=classes, columns=classes)
    return {"accuracy": float(score), "chance": 1 / len(classes), "p": float(p), "folds": per_fold,
            "permuted_mean": float(np.mean(permuted)), "n": len(y), "confusion": confusion}
