"""Embedding-level metrics of predicted patch grids against their targets.

All take ``predicted`` and ``target`` as arrays ``(items, ...)`` (grids are flattened per item where
a metric needs one vector per item). The metrics of whole patch grids (:func:`mean_patch_cosine`,
:func:`patch_means`) also take rows on disk and work a chunk at a time; the others compare one
vector per item (patch-averaged grids, embeddings), which fits in memory at any of our shapes.
"""

from __future__ import annotations

import numpy as np

from neurrator.rowfiles import Rows, chunk_rows, iter_chunks, patch_means  # noqa: F401 (re-exported: chapters call metrics.patch_means)


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def mean_patch_cosine(predicted: np.ndarray | Rows, target: np.ndarray | Rows, chunk: int | None = None) -> float:
    """Mean over items and patches of the cosine between predicted and target patch vectors ``(items, patches, dim)``.

    Either side may be an array or rows on disk (:class:`~neurrator.rowfiles.Rows`, e.g. a target store
    or ``select(store, frame_ids)``); both are read ``chunk`` items at a time (by default 128 MB of
    float32 each) and compared in float32, so memory stays at two chunks whatever the number of items.
    """
    if tuple(predicted.shape) != tuple(target.shape):
        raise ValueError(f"predicted {tuple(predicted.shape)} and target {tuple(target.shape)} differ in shape")
    if len(predicted.shape) < 2:
        raise ValueError(f"patch cosine needs (items, ..., dim) grids, got shape {tuple(predicted.shape)}")
    chunk = chunk or chunk_rows(predicted.shape[1:], 128 * 2**20)
    total, count = 0.0, 0
    for p, t in zip(iter_chunks(predicted, chunk), iter_chunks(target, chunk)):
        num = np.einsum("...d,...d->...", p, t)
        den = np.linalg.norm(p, axis=-1) * np.linalg.norm(t, axis=-1)
        cosines = num / np.maximum(den, 1e-12)
        total += float(cosines.sum(dtype=np.float64))
        count += cosines.size
    return total / count if count else float("nan")


def _far_pairs(n: int, positions: np.ndarray | None, exclude_within: int) -> np.ndarray | None:
    """Mask of item pairs more than ``exclude_within`` frames apart (None: every pair counts)."""
    if exclude_within < 0:
        raise ValueError(f"exclude_within must be a number of frames >= 0, got {exclude_within}")
    if not exclude_within:
        return None
    if positions is None:
        raise ValueError("an exclusion zone needs the items' positions (frame numbers)")
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) != n:
        raise ValueError(f"{len(positions)} positions for {n} items")
    return np.abs(positions[:, None] - positions[None, :]) > exclude_within


def linear_cka(x: np.ndarray, y: np.ndarray, positions: np.ndarray | None = None, exclude_within: int = 0) -> float:
    """Linear centred kernel alignment between two representations of the same items (Kornblith et al. 2019).

    ``exclude_within`` k > 0: the alignment of the centred Gram matrices counts only pairs of items more than
    k frames apart (``positions``: each item's frame), so that two representations that share nothing but a
    movie's slow drift (neighbouring frames resemble each other in both) do not align; nan where no pair is that
    far apart."""
    x, y = _flat(x), _flat(y)
    if len(x) != len(y):
        raise ValueError(f"CKA needs the same items: {len(x)} vs {len(y)}")
    x = x - x.mean(0)
    y = y - y.mean(0)
    far = _far_pairs(len(x), positions, exclude_within)
    if far is None:
        cross = np.linalg.norm(x.T @ y) ** 2
        return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))
    if not far.any():                 # every pair is inside the zone
        return float("nan")
    k, l = x @ x.T, y @ y.T
    return float((k * l)[far].sum() / np.sqrt((k * k)[far].sum() * (l * l)[far].sum()))


def ranks_among(predicted: np.ndarray, candidates: np.ndarray, true_index: np.ndarray,
                exclude_within: int = 0) -> np.ndarray:
    """Rank (1 = best) of candidate ``true_index[i]`` for item ``i`` among all ``candidates``, by cosine.

    ``exclude_within`` k > 0: the candidates within +-k positions of the true one (other than itself) are
    removed, so that a neighbouring frame, similar only because a movie changes slowly, cannot outrank it
    (exclusion-zone retrieval; candidates are frames in time order)."""
    p, c = _flat(predicted), _flat(candidates)
    true_index = np.asarray(true_index, dtype=np.int64)
    if len(true_index) != len(p):
        raise ValueError(f"{len(true_index)} true indices for {len(p)} predicted items")
    if exclude_within < 0:
        raise ValueError(f"exclude_within must be a number of frames >= 0, got {exclude_within}")
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    sims = p @ c.T
    true = sims[np.arange(len(p)), true_index]
    beats = sims > true[:, None]
    if exclude_within:
        distance = np.abs(np.arange(len(c))[None, :] - true_index[:, None])
        beats &= distance > exclude_within
    return 1 + beats.sum(1)


def candidates_left(n_candidates: int, true_index: np.ndarray, exclude_within: int) -> np.ndarray:
    """How many candidates each item is ranked among once its exclusion zone is removed (itself included)."""
    true_index = np.asarray(true_index, dtype=np.int64)
    low, high = np.maximum(true_index - exclude_within, 0), np.minimum(true_index + exclude_within, n_candidates - 1)
    return n_candidates - (high - low)


def retrieval_ranks(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each item's true target among all targets, by cosine of the flattened grids."""
    return ranks_among(predicted, target, np.arange(len(target)))


def summarise_ranks(ranks: np.ndarray, n_candidates: int) -> dict:
    """R@1, R@10, median rank and its chance level ((candidates + 1) / 2)."""
    ranks = np.asarray(ranks)
    return {"R@1": float(np.mean(ranks <= 1)), "R@10": float(np.mean(ranks <= 10)),
            "median_rank": float(np.median(ranks)), "chance_median_rank": (n_candidates + 1) / 2, "items": int(len(ranks))}


def retrieval_summary(predicted: np.ndarray, target: np.ndarray) -> dict:
    """R@1, R@10 and the median rank of the true frame among all frames (chance R@1 = 1 / items)."""
    return summarise_ranks(retrieval_ranks(predicted, target), len(target))


def knn_purity(embeddings: np.ndarray, labels: np.ndarray, k: int = 5, positions: np.ndarray | None = None,
               exclude_within: int = 0) -> float:
    """Mean share of each item's k nearest neighbours (cosine, itself excluded) that carry its label.

    ``exclude_within`` k > 0: neighbours are sought only among items more than that many frames away
    (``positions``: each item's frame), so that temporally adjacent frames, similar because a movie changes
    slowly and labelled alike because they show the same shot, cannot make up the purity; nan where some item
    has fewer than k items beyond the zone."""
    x = _flat(embeddings)
    labels = np.asarray(labels)
    if k >= len(x):
        raise ValueError(f"k={k} needs more than {len(x)} items")
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    far = _far_pairs(len(x), positions, exclude_within)
    if far is not None:
        if far.sum(1).min() < k:      # the zone leaves some item too few candidates: not measurable
            return float("nan")
        sims[~far] = -np.inf
    neighbours = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return float(np.mean(labels[neighbours] == labels[:, None]))
