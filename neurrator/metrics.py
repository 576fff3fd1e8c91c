"""Embedding-level metrics of predicted patch grids against their targets.

All take ``predicted`` and ``target`` as arrays ``(items, ...)`` (grids are flattened per item where
a metric needs one vector per item).
"""

from __future__ import annotations

import numpy as np


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def mean_patch_cosine(predicted: np.ndarray, target: np.ndarray) -> float:
    """Mean over items and patches of the cosine between predicted and target patch vectors ``(items, patches, dim)``."""
    p, t = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predicted {p.shape} and target {t.shape} differ in shape")
    num = (p * t).sum(-1)
    den = np.linalg.norm(p, axis=-1) * np.linalg.norm(t, axis=-1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment between two representations of the same items (Kornblith et al. 2019)."""
    x, y = _flat(x), _flat(y)
    if len(x) != len(y):
        raise ValueError(f"CKA needs the same items: {len(x)} vs {len(y)}")
    x = x - x.mean(0)
    y = y - y.mean(0)
    cross = np.linalg.norm(x.T @ y) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def retrieval_ranks(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each item's true target among all targets, by cosine of the flattened grids."""
    p, t = _flat(predicted), _flat(target)
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    sims = p @ t.T
    true = np.diag(sims)
    return 1 + (sims > true[:, None]).sum(1)


def retrieval_summary(predicted: np.ndarray, target: np.ndarray) -> dict:
    """R@1, R@10 and the median rank of the true frame among all frames (chance R@1 = 1 / items)."""
    ranks = retrieval_ranks(predicted, target)
    return {"R@1": float(np.mean(ranks <= 1)), "R@10": float(np.mean(ranks <= 10)),
            "median_rank": float(np.median(ranks)), "items": int(len(ranks))}


def knn_purity(embeddings: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Mean share of each item's k nearest neighbours (cosine, itself excluded) that carry its label."""
    x = _flat(embeddings)
    labels = np.asarray(labels)
    if k >= len(x):
        raise ValueError(f"k={k} needs more than {len(x)} items")
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    neighbours = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return float(np.mean(labels[neighbours] == labels[:, None]))
