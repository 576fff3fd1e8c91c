"""What each population's predicted patches are made of, in a sparse-autoencoder dictionary.

The SAE (:mod:`neurrator.models.sae`) turns every patch token into a few active features. A
population's profile is each feature's mean activation over the test bins (mean over a bin's
patches, then over bins). From there:

- :func:`top_features` / :func:`unique_by_magnitude`: each population's top-k features and those in
  only one population's top-k (the paper's "unique-by-magnitude" features);
- :func:`bootstrap_top_overlap`: how stable a top-k is when blocks of consecutive movie frames (every
  test bin of a drawn block) are resampled (:func:`top_k_blocks` measures the block length);
- :func:`image_activations` / :func:`top_images` / :func:`feature_labels`: a feature's strongest images
  in a labelling corpus, and the label most of them carry;
- :func:`concept_validation`: Welch's t-test of each population's top features against the others'
  on concept scores, Benjamini–Hochberg over every (concept, population) tested;
- :func:`feature_set_statistic`: a per-feature quantity averaged over a feature set, against random
  feature sets of the same size;
- :func:`control_null`: any statistic of a cell type against the same statistic of its size-matched random
  control draws (the null of every cell-type claim), per type and for all types together.

Features of one population are not independent samples (they share its test bins and its units), so the
tests that treat them as such (:func:`concept_validation`, :func:`feature_set_statistic`) are descriptive; a
cell type's claim is decided by :func:`control_null`.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.evaluation import inference


def window_codes(decoder, windows, columns: np.ndarray | None, sae, chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """``(frame per window, codes (windows, features))``: the decoder queried with ``columns`` only (a neuron
    mask; None: every unit), each window's predicted grid encoded by ``sae`` and averaged over its patches.
    ``chunk`` windows at a time, so memory holds one chunk of grids."""
    from neurrator.data.windows import SpikeWindows, neuron_mask

    mask = neuron_mask(windows.counts.shape[1], columns)
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


def specificity(profiles: Mapping[str, np.ndarray], floor_fraction: float = 0.01) -> dict[str, np.ndarray]:
    """Per population, how many times more strongly each feature fires in it than in any other population: its
    mean activation there over its largest mean activation elsewhere (the paper's statistic). Activations below
    ``floor_fraction`` of the largest in the table count as that floor, so a feature nearly silent everywhere
    has no large ratio; a feature silent in the population has 0."""
    if len(profiles) < 2:
        raise ValueError("specificity compares at least two populations")
    names = list(profiles)
    table = np.stack([np.asarray(profiles[n], dtype=np.float64) for n in names])
    floor = max(floor_fraction * float(table.max()), np.finfo(np.float64).tiny)
    out = {}
    for i, name in enumerate(names):
        others = np.delete(table, i, axis=0).max(0)
        out[name] = np.where(table[i] > 0, np.maximum(table[i], floor) / np.maximum(others, floor), 0.0)
    return out


def top_k_blocks(codes: Mapping[str, np.ndarray], frames: Sequence[int], k: int) -> inference.Blocks:
    """Blocks of consecutive movie frames for the test bins (rows) shown at ``frames``, one structure for every
    population (they share the bins). Per population the length is measured by :func:`inference.frame_blocks`
    on each row's mean activation over the population's full-data top-``k`` features (the quantity the top-k
    ranks); the blocks take the longest of those lengths, so no population's dependence is cut."""
    frames = np.asarray(frames, dtype=np.int64)
    if not codes:
        raise ValueError("no populations to measure a block length on")
    length = 1
    for name, c in codes.items():
        c = np.asarray(c, dtype=np.float64)
        if len(c) != len(frames):
            raise ValueError(f"{name}: {len(c)} rows but {len(frames)} frames")
        top = top_features(c.mean(0), k)
        length = max(length, inference.frame_blocks(frames, c[:, top].mean(1)).length)
    blocks = inference.frame_blocks(frames, length=length)
    return dataclasses.replace(blocks, basis=f"autocorrelation of the top-{k} activation, longest over "
                                             f"{len(codes)} populations")


def bootstrap_top_overlap(codes: Mapping[str, np.ndarray], k: int, n_resamples: int = 200, seed: int = 0,
                          blocks: inference.Blocks | None = None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Resample the test bins ``n_resamples`` times by drawing ``blocks`` (one label per row, e.g.
    :func:`top_k_blocks`) with replacement, every row of a drawn block entering the resample, the same draw for
    every population (they share the bins); ``blocks=None`` draws single rows, which is right only where rows
    are independent (neighbouring frames' bins are not). Per population and resample, the fraction of the
    full-data top-k still in the resample's top-k. Returns that table (population, resample, overlap) and, per
    population, the features in the top-k of every resample (in the full-data order). With fewer than 2 blocks
    there is nothing to resample: the overlaps are nan and no feature is in every resample.

    Vectorised: a resample's profile is (block sums weighted by how often each block was drawn) over (rows
    drawn), one matrix product per population."""
    rows = {len(np.asarray(c)) for c in codes.values()}
    if len(rows) != 1:
        raise ValueError(f"every population needs the same test bins (rows), got {sorted(rows)}")
    (n,) = rows
    if n < 2 or n_resamples < 1:
        raise ValueError(f"need at least 2 bins and 1 resample, got {n} bins and {n_resamples} resamples")
    labels = np.arange(n) if blocks is None else np.asarray(blocks.labels)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} block labels for {n} bins")
    _, member = np.unique(labels, return_inverse=True)
    n_blocks = int(member.max()) + 1
    if n_blocks < 2:    # every resample would be the data itself: no evidence of stability (as inference's nan)
        return (pd.DataFrame([{"population": name, "resample": r, "overlap": np.nan} for name in codes
                              for r in range(n_resamples)]), {name: np.zeros(0, np.int64) for name in codes})
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_blocks, size=(n_resamples, n_blocks))
    offsets = np.arange(n_resamples)[:, None] * n_blocks            # times each block is drawn, per resample
    weights = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_blocks).reshape(n_resamples, n_blocks)
    weights = weights.astype(np.float64)
    order = np.argsort(member, kind="stable")
    starts = np.searchsorted(member[order], np.arange(n_blocks))
    drawn_rows = weights @ np.bincount(member, minlength=n_blocks)
    table, always = [], {}
    for name, c in codes.items():
        c = np.asarray(c, dtype=np.float64)
        full = top_features(c.mean(0), k)
        profiles = (weights @ np.add.reduceat(c[order], starts, axis=0)) / drawn_rows[:, None]
        tops = np.argsort(-profiles, axis=1, kind="stable")[:, :k]      # ties: the lower index, as top_features
        in_full = np.zeros(c.shape[1], bool)
        in_full[full] = True
        table.append(pd.DataFrame({"population": name, "resample": np.arange(n_resamples),
                                   "overlap": in_full[tops].sum(1) / k}))
        counts = np.bincount(tops.ravel(), minlength=c.shape[1])
        always[name] = np.array([f for f in full if counts[f] == n_resamples], dtype=np.int64)
    return pd.concat(table, ignore_index=True), always


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
    values = scores[concepts].to_numpy(float)
    names = scores["population"].to_numpy()
    populations = list(pd.unique(names[pd.notna(names)]))
    own = [values[names == name] for name in populations]
    rest = [values[names != name] for name in populations]
    summary = lambda groups: (np.array([g.mean(0) for g in groups]), np.array([g.std(0, ddof=1) for g in groups]),
                              np.array([len(g) for g in groups])[:, None])
    (mean, std, n), (rest_mean, rest_std, rest_n) = summary(own), summary(rest)
    with np.errstate(invalid="ignore", divide="ignore"):        # one call for every (population, concept)
        test = stats.ttest_ind_from_stats(mean, std, n, rest_mean, rest_std, rest_n, equal_var=False)
    rows = [{"concept": concept, "population": name, "n": int(n[i, 0]), "mean": mean[i, j], "others' mean": rest_mean[i, j],
             "t": float(test.statistic[i, j]), "p": float(test.pvalue[i, j])}
            for j, concept in enumerate(concepts) for i, name in enumerate(populations)]
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


ALTERNATIVES = ("greater", "less", "two-sided")


def _extreme(null: np.ndarray, value: float, alternative: str) -> np.ndarray:
    """Which ``null`` values are at least as extreme as ``value`` (two-sided: as far from the null's median)."""
    if alternative == "greater":
        return null >= value - 1e-12
    if alternative == "less":
        return null <= value + 1e-12
    centre = np.median(null)
    return np.abs(null - centre) >= abs(value - centre) - 1e-12


def control_null(statistic: Callable[[Mapping[str, str]], Mapping[str, float]], members: Mapping[str, Sequence[str]],
                 alternative: str = "greater", joint: bool = True, max_joint: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    """A statistic of each cell type against the same statistic of its size-matched random control draws.

    ``members``: type -> [the population that plays it, then its control draws]; ``statistic(assignment)``
    (``assignment``: type -> the member playing it) returns a value per type (a statistic may depend on the
    other types' members, e.g. features no other type has). Per type, the observed value (every type played by
    its population) is compared with the values of its draws, each substituted for it while the other types
    keep their populations: p = (1 + #draws at least as extreme) / (1 + draws), exact where the population and
    its draws are exchangeable (the null: the cell type is a random population of its size and sessions).
    Draws whose value is nan are left out.

    With ``joint``, a row "all types": the sum over types, against every assignment of members to types
    ((draws + 1) ** types, the observed one included, so p >= 1 / that); above ``max_joint`` assignments, that
    many drawn at random (p = (1 + #at least as extreme) / (1 + drawn)). A claim about the cell types as a group
    is testable with few draws per type, where a single type's p cannot go below 1 / (draws + 1).

    Returns one row per type (and "all types"): value, control mean / min / max, draws, p and ``p floor``
    (the smallest p the comparison can give)."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    types = list(members)
    if not types or any(len(members[t]) < 1 for t in types):
        raise ValueError("every type needs its population (the first member)")
    observed = {t: members[t][0] for t in types}
    memo: dict[tuple, Mapping[str, float]] = {}

    def values(assignment):
        key = tuple(assignment[t] for t in types)
        if key not in memo:
            memo[key] = {t: float(v) for t, v in statistic(dict(assignment)).items()}
        return memo[key]

    def row(value, null):
        null = np.asarray(null, dtype=np.float64)
        null = null[np.isfinite(null)]
        draws = len(null)
        p = float((1 + _extreme(null, value, alternative).sum()) / (1 + draws)) if draws and np.isfinite(value) else np.nan
        return {"value": value, "control mean": null.mean() if len(null) else np.nan,
                "control min": null.min() if len(null) else np.nan, "control max": null.max() if len(null) else np.nan,
                "draws": int(draws), "p": p, "p floor": 1 / (1 + draws) if draws else np.nan}

    seen = values(observed)
    rows = {t: row(seen[t], [values({**observed, t: m})[t] for m in members[t][1:]]) for t in types}
    if joint and len(types) > 1:
        total = lambda assignment: sum(values(assignment).values())
        count = int(np.prod([len(members[t]) for t in types]))
        if count <= max_joint:
            others = [dict(zip(types, a)) for a in itertools.product(*(members[t] for t in types))]
            others = [a for a in others if a != observed]
        else:
            rng = np.random.default_rng(seed)
            others = [{t: members[t][rng.integers(len(members[t]))] for t in types} for _ in range(max_joint)]
        rows["all types"] = row(total(observed), [total(a) for a in others])
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("population")
