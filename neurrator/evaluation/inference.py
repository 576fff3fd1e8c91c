"""Inference on autocorrelated frames: block bootstrap, paired tests on block means, circular-shift nulls and
family-wise corrections, used by every chapter that prints an interval or a p-value.

Neighbouring frames of a natural movie share content and captions, adjacent test windows share most of
their bins and decoded sentences repeat, so per-frame statistics are not independent samples. Here the
unit of resampling is a *block* of consecutive movie frames: its length comes from the measured
autocorrelation of the per-frame statistic (:func:`autocorrelation_length`) or from the design (whole
source clips, held-out blocks). The number of blocks is the effective n that every table prints.

The resampling itself is ``scipy.stats.bootstrap`` and ``scipy.stats.permutation_test`` on block-level
data; the corrections are ``statsmodels.stats.multitest.multipletests``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: correction methods by the name a table prints
CORRECTIONS = {"holm": "Holm", "fdr_bh": "BH"}
#: a measured block spans this many decorrelation lags, so that neighbouring block means are nearly independent:
#: with one lag, a sign-flip test on AR(1) scores (rho 0.9) rejects 10 % of null datasets at alpha 0.05, with two
#: 7-8 %, with three 5-6.5 % (tests/test_inference.py holds the calibration)
BLOCK_DECORRELATIONS = 3


# ----------------------------------------------------------------------------- blocks
def autocorrelation_length(values: np.ndarray, max_lag: int | None = None) -> int:
    """The smallest lag at which the sample autocorrelation of ``values`` (a series in time order, or
    ``(time, features)``, whose columns' autocorrelations are averaged) falls inside the white-noise band
    ``1.96 / sqrt(n)``; at least 1, at most ``max_lag`` (default ``n // 4``)."""
    from statsmodels.tsa.stattools import acf

    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(len(x), -1)
    n = len(x)
    if n < 4:
        return 1
    max_lag = max(1, min(max_lag or n // 4, n - 1))
    columns = [c for c in x.T if np.std(c) > 0]
    if not columns:
        return 1
    rho = np.mean([acf(c, nlags=max_lag, fft=True) for c in columns], axis=0)
    inside = np.flatnonzero(rho[1:] < 1.96 / np.sqrt(n))
    return int(inside[0] + 1) if len(inside) else max_lag


@dataclass(frozen=True)
class Blocks:
    """Which block each item belongs to (items in any order; ``labels`` say the block), and how the blocks
    were chosen (``basis``); ``length`` is the block length in movie frames where blocks are runs of frames."""

    labels: np.ndarray
    basis: str
    length: int | None = None

    @property
    def codes(self) -> np.ndarray:
        """Each item's block as an index 0 .. n - 1 (blocks in label order)."""
        return np.unique(self.labels, return_inverse=True)[1]

    @property
    def n(self) -> int:
        """The effective n: the number of blocks."""
        return int(len(np.unique(self.labels)))

    def describe(self) -> str:
        size = f"blocks of {self.length} frames" if self.length else "blocks"
        return f"{size} ({self.basis}), n_eff = {self.n}"


def frame_blocks(frames: Sequence[int], statistic: np.ndarray | None = None, length: int | None = None,
                 max_lag: int | None = None) -> Blocks:
    """Blocks of ``length`` consecutive movie frames for items shown at ``frames``. Without ``length`` it is
    measured: :data:`BLOCK_DECORRELATIONS` times the autocorrelation length of ``statistic`` (one value per item,
    averaged per frame and taken in frame order) in items, times the median gap between those frames (held-out
    frames need not be adjacent)."""
    frames = np.asarray(frames, dtype=np.int64)
    if len(frames) == 0:
        raise ValueError("no frames to block")
    basis = "fixed"
    if length is None:
        if statistic is None:
            raise ValueError("give a block length, or the per-item statistic to measure it from")
        per_frame = pd.Series(np.asarray(statistic, dtype=np.float64)).groupby(frames).mean()
        unique = per_frame.index.to_numpy()
        spacing = float(np.median(np.diff(unique))) if len(unique) > 1 else 1.0
        lag = autocorrelation_length(per_frame.to_numpy(), max_lag)
        length = int(np.ceil(BLOCK_DECORRELATIONS * lag * max(spacing, 1.0)))
        basis = "autocorrelation"
    if length < 1:
        raise ValueError(f"block length must be >= 1 frame, got {length}")
    return Blocks((frames - frames.min()) // length, basis, int(length))


def design_blocks(groups: Sequence, basis: str) -> Blocks:
    """Blocks given by the design (``groups``: e.g. the source clip of each item's frame)."""
    codes, _ = pd.factorize(pd.Series(list(groups)), sort=True)
    return Blocks(np.asarray(codes, dtype=np.int64), basis)


def _block_sums(values: np.ndarray, blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(blocks.labels):
        raise ValueError(f"{len(values)} values but {len(blocks.labels)} block labels")
    codes = blocks.codes
    return np.bincount(codes, weights=values), np.bincount(codes).astype(np.float64)


def block_means(values: np.ndarray, blocks: Blocks) -> np.ndarray:
    """The mean of ``values`` in each block (blocks in label order)."""
    sums, counts = _block_sums(values, blocks)
    return sums / counts


# ----------------------------------------------------------------------------- intervals
def block_bootstrap_ci(values: np.ndarray, blocks: Blocks, statistic: Callable[[np.ndarray], float] | None = None,
                       confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) of ``values``, resampling whole blocks
    with replacement; ``(nan, nan)`` with fewer than 2 blocks. The mean is resampled as block sums over block
    sizes (vectorised); any other statistic is recomputed on the items of each resample of blocks."""
    values = np.asarray(values, dtype=np.float64)
    if blocks.n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    options = dict(confidence_level=confidence, n_resamples=n_resamples, method="percentile", random_state=rng)
    if statistic is None:
        sums, counts = _block_sums(values, blocks)
        res = stats.bootstrap((sums, counts), lambda s, c, axis=-1: s.sum(axis) / c.sum(axis), paired=True,
                              vectorized=True, **options)
    else:
        codes = blocks.codes
        members = [values[codes == b] for b in range(blocks.n)]
        res = stats.bootstrap((np.arange(len(members)),),
                              lambda idx: statistic(np.concatenate([members[int(i)] for i in idx])),
                              vectorized=False, **options)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


# ----------------------------------------------------------------------------- tests
def paired_block_test(a: np.ndarray, b: np.ndarray, blocks: Blocks, alternative: str = "greater",
                      n_resamples: int = 9999, seed: int = 0) -> dict:
    """Sign-flip permutation test of the mean of ``a - b`` on block means (exact where the blocks allow
    ``2 ** blocks <= n_resamples``). Returns the item-level mean difference, p and the effective n; p is nan
    with fewer than 2 blocks and 1 where every difference is 0."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    means = block_means(diff, blocks)
    out = {"difference": float(diff.mean()) if len(diff) else float("nan"), "blocks": int(len(means))}
    if len(means) < 2:
        return {**out, "p": float("nan")}
    if not np.any(means):
        return {**out, "p": 1.0}
    res = stats.permutation_test((means,), lambda x, axis=-1: np.mean(x, axis=axis), permutation_type="samples",
                                 alternative=alternative, n_resamples=n_resamples, vectorized=True,
                                 random_state=np.random.default_rng(seed))
    return {**out, "p": float(res.pvalue)}


def shifted_partners(n: int, min_shift: int) -> np.ndarray:
    """The circular shifts ``s`` (``min_shift <= s <= n - min_shift``) that pair each of ``n`` items in time
    order with one at least ``min_shift`` positions away; empty where none exists."""
    min_shift = max(int(min_shift), 1)
    return np.arange(min_shift, n - min_shift + 1)


def circular_shift_null(similarity: np.ndarray, min_shift: int) -> dict:
    """``similarity[i, j]``: item ``i``'s prediction against item ``j``'s reference, items in time order.
    The observed statistic is the mean of the diagonal; the null is the same mean with the references shifted
    circularly by every admissible shift (:func:`shifted_partners`), which keeps the temporal structure of both
    sides. p = (1 + #null >= observed) / (1 + shifts); nan where no shift is admissible. The shifted statistics
    are correlated, so p is approximate: on independent AR(1) series (rho 0.9, 300 steps, ``min_shift`` one
    autocorrelation length) it rejects 8 % of null datasets at 0.05, where a free shuffle rejects over 20 %."""
    sim = np.asarray(similarity, dtype=np.float64)
    n = len(sim)
    shifts = shifted_partners(n, min_shift)
    observed = float(np.mean(np.diag(sim))) if n else float("nan")
    rows = np.arange(n)
    null = np.array([sim[rows, (rows + s) % n].mean() for s in shifts])
    p = float((1 + np.sum(null >= observed)) / (1 + len(null))) if len(null) else float("nan")
    return {"observed": observed, "null_mean": float(null.mean()) if len(null) else float("nan"), "p": p,
            "shifts": int(len(null)), "min_shift": int(max(min_shift, 1))}


def correct(p_values: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values (``"holm"`` family-wise, ``"fdr_bh"`` false discovery rate) over the finite entries;
    nan stays nan."""
    from statsmodels.stats.multitest import multipletests

    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; use one of {sorted(CORRECTIONS)}")
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = multipletests(p[finite], method=method)[1]
    return q


def family_note(table_name: str, members: int, method: str = "holm", test: str = "") -> str:
    """The line printed with a table: which test, which correction over which family."""
    what = f"{test}; " if test else ""
    return f"{table_name}: {what}{CORRECTIONS[method]} correction over its {members} tests (the family: this table)"


def format_p(p: float, resolution: float | None = None) -> str:
    """A p-value for a table: ``"<0.001"``, or ``"<1/(n+1)"``-style floors when ``resolution`` (the smallest
    p the test can give) is reached; empty for nan."""
    if not np.isfinite(p):
        return ""
    if resolution is not None and p <= resolution * (1 + 1e-9):
        return f"<={resolution:.3g}"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
