"""What each population's predicted patches are made of, in a sparse-autoencoder dictionary.

The SAE (:mod:`neurrator.models.sae`) turns every patch token into a few active features. A
population's profile is each feature's mean activation over the test bins (mean over a bin's
patches, then over bins). From there:

- :func:`top_features` / :func:`unique_by_magnitude`: each population's top-k features and those in
  only one population's top-k (the paper's "unique-by-magnitude" features);
- :func:`bootstrap_top_overlap`: how stable a top-k is when the test bins are resampled;
- :func:`image_activations` / :func:`top_images` / :func:`feature_labels`: a feature's strongest images
  in a labelling corpus, and the label most of them carry;
- :func:`concept_validation`: Welch's t-test of each population's top features against the others'
  on concept scores, Benjamini–Hochberg over every (concept, population) tested;
- :func:`feature_set_statistic`: a per-feature quantity averaged over a feature set, against random
  feature sets of the same size.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def window_codes(decoder, windows, columns: np.ndarray | None, sae, chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """``(frame per window, codes (windows, features))``: the decoder queried with ``columns`` only (a neuron
    mask; None: every unit), each window's predicted grid encoded by ``sae`` and averaged over its patches.
    ``chunk`` windows at a time, so memory holds one chunk of grids."""
    from neurrator.data.windows import SpikeWindows

    mask = None
    if columns is not None:
        mask = np.zeros(windows.counts.shape[1], np.float32)
        mask[np.asarray(columns, dtype=np.int64)] = 1
    centres = np.asarray(windows.centres)
    out = []
    for start in range(0, len(centres), chunk):
        part = SpikeWindows(windows.counts, windows.frames, centres[start:start + chunk], windows.mean, windows.std,
                            windows.window)
        grids = decoder.predict(part, neuron_mask=mask)
        n, patches, dim = grids.shape
        out.append(sae.transform(grids.reshape(n * patches, dim)).reshape(n, patches, -1).mean(1))
    n_features = sae.config.n_features
    return windows.frames[centres].astype(np.int64), (np.concatenate(out) if out else np.zeros((0, n_features), np.float32))


def top_features(profile: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of ``profile``, largest first (ties: the lower index first)."""
    profile = np.asarray(profile, dtype=np.float64)
    if profile.ndim != 1:
        raise ValueError(f"a profile is one value per feature, got shape {profile.shape}")
    if not 0 < k <= len(profile):
        raise ValueError(f"k must be in 1..{len(profile)} features, got {k}")
    return np.lexsort((np.arange(len(profile)), -profile))[:k]


def unique_by_magnitude(tops: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per population, the features of its top-k found in no other population's top-k (in its own order)."""
    if len(tops) < 2:
        raise ValueError("uniqueness compares at least two populations")
    out = {}
    for name, own in tops.items():
        others = set().union(*(set(np.asarray(v).tolist()) for k, v in tops.items() if k != name))
        out[name] = np.array([f for f in np.asarray(own) if f not in others], dtype=np.int64)
    return out


def bootstrap_top_overlap(codes: Mapping[str, np.ndarray], k: int, n_resamples: int = 200,
                          seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Resample the test bins (rows, the same draw for every population: they share the bins) with
    replacement ``n_resamples`` times; per population and resample, the fraction of the full-data top-k
    still in the resample's top-k. Returns that table (population, resample, overlap) and, per
    population, the features in the top-k of every resample (in the full-data order)."""
    rows = {len(np.asarray(c)) for c in codes.values()}
    if len(rows) != 1:
        raise ValueError(f"every population needs the same test bins (rows), got {sorted(rows)}")
    (n,) = rows
    if n < 2 or n_resamples < 1:
        raise ValueError(f"need at least 2 bins and 1 resample, got {n} bins and {n_resamples} resamples")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))
    table, always = [], {}
    for name, c in codes.items():
        c = np.asarray(c, dtype=np.float64)
        full = top_features(c.mean(0), k)
        counts = np.zeros(c.shape[1], np.int64)
        for r, draw in enumerate(draws):
            top = top_features(c[draw].mean(0), k)
            counts[top] += 1
            table.append({"population": name, "resample": r, "overlap": len(np.intersect1d(top, full)) / k})
        always[name] = np.array([f for f in full if counts[f] == n_resamples], dtype=np.int64)
    return pd.DataFrame(table), always


def image_activations(sae, grids: np.ndarray, chunk: int = 64) -> np.ndarray:
    """``(images, features)``: each feature's largest activation over an image's patch tokens."""
    grids = np.asarray(grids)
    out = []
    for start in range(0, len(grids), chunk):
        part = np.asarray(grids[start:start + chunk], dtype=np.float32)
        n, patches, dim = part.shape
        out.append(sae.transform(part.reshape(n * patches, dim)).reshape(n, patches, -1).max(1))
    return np.concatenate(out) if out else np.zeros((0, sae.config.n_features), np.float32)


def top_images(activations: np.ndarray, features: Sequence[int], n: int) -> dict[int, np.ndarray]:
    """Feature -> the ``n`` images (rows) where it is most active, strongest first; images where it is
    silent (activation 0) are left out."""
    activations = np.asarray(activations)
    out = {}
    for f in np.asarray(features, dtype=np.int64):
        column = activations[:, f]
        order = np.lexsort((np.arange(len(column)), -column))[:n]
        out[int(f)] = order[column[order] > 0]
    return out


def feature_labels(tops: Mapping[int, np.ndarray], image_labels: Sequence[str]) -> pd.DataFrame:
    """Per feature, the label most of its top images carry (ties: the label of the stronger image), its
    share of them, and every label in order of frequency."""
    image_labels = np.asarray(image_labels, dtype=object)
    rows = []
    for f, images in tops.items():
        labels = list(image_labels[np.asarray(images, dtype=np.int64)])
        if not labels:
            rows.append({"feature": f, "label": "(silent on the corpus)", "share": 0.0, "labels": ""})
            continue
        counts = pd.Series(labels).value_counts(sort=False)
        first_seen = {label: labels.index(label) for label in counts.index}
        ordered = sorted(counts.index, key=lambda label: (-counts[label], first_seen[label]))
        rows.append({"feature": f, "label": ordered[0], "share": counts[ordered[0]] / len(labels),
                     "labels": ", ".join(f"{label} ({counts[label]})" for label in ordered)})
    return pd.DataFrame(rows, columns=["feature", "label", "share", "labels"])


def concept_validation(scores: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Welch's t-test per (concept, population): that population's features against every other
    population's, on a concept score.

    ``scores``: one row per (population, feature) and one column per concept (e.g. the mean image–text
    cosine of the feature's top frames with the concept). Returns one row per (concept, population)
    with both means, t, the two-sided p, the Benjamini–Hochberg q over all rows and ``significant``
    (q < ``alpha``)."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    if "population" not in scores:
        raise ValueError("scores need a 'population' column")
    concepts = [c for c in scores.columns if c not in ("population", "feature")]
    if scores["population"].nunique() < 2 or not concepts:
        raise ValueError("concept validation needs at least two populations and one concept column")
    rows = []
    for concept in concepts:
        for name, own in scores.groupby("population", sort=False):
            rest = scores.loc[scores["population"] != name, concept].to_numpy(float)
            mine = own[concept].to_numpy(float)
            test = stats.ttest_ind(mine, rest, equal_var=False)
            rows.append({"concept": concept, "population": name, "n": len(mine), "mean": mine.mean(),
                         "others' mean": rest.mean(), "t": float(test.statistic), "p": float(test.pvalue)})
    table = pd.DataFrame(rows)
    finite = np.isfinite(table["p"].to_numpy())
    table["q (BH)"] = np.nan
    if finite.any():
        table.loc[finite, "q (BH)"] = multipletests(table.loc[finite, "p"], alpha=alpha, method="fdr_bh")[1]
    table["significant"] = table["q (BH)"] < alpha
    return table


def feature_set_statistic(values: np.ndarray, features: Sequence[int], pool: Sequence[int] | None = None,
                          n_random: int = 1000, seed: int = 0, alternative: str = "greater") -> dict[str, float]:
    """Mean of ``values`` (one per feature) over ``features``, against ``n_random`` random sets of the same
    size from ``pool`` (default: every feature with a finite value). Returns the statistic, the null
    mean and a permutation p: ``alternative`` "greater" counts random sets at least as large,
    "two-sided" those at least as far from the null mean (both with the +1 of an exact test)."""
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}")
    values = np.asarray(values, dtype=np.float64)
    features = np.asarray(features, dtype=np.int64)
    pool = np.flatnonzero(np.isfinite(values)) if pool is None else np.asarray(pool, dtype=np.int64)
    if len(features) == 0:
        return {"n": 0, "statistic": np.nan, "null mean": np.nan, "p": np.nan}
    if len(pool) < len(features):
        raise ValueError(f"the pool has {len(pool)} features, fewer than the {len(features)} tested")
    rng = np.random.default_rng(seed)
    null = np.array([np.nanmean(values[rng.choice(pool, len(features), replace=False)]) for _ in range(n_random)])
    stat, centre = float(np.nanmean(values[features])), float(null.mean())
    extreme = null >= stat - 1e-12 if alternative == "greater" else np.abs(null - centre) >= abs(stat - centre) - 1e-12
    return {"n": int(len(features)), "statistic": stat, "null mean": centre, "p": float((1 + extreme.sum()) / (1 + n_random))}
