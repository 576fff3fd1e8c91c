"""Inference on autocorrelated frames (neurrator.evaluation.inference and the exclusion-zone metrics): each
check is shown failing where the frame-level version it replaces fails."""

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from neurrator.evaluation import inference, metrics


def ar1(rng, datasets, n, rho=0.9, dims=None):
    """``datasets`` AR(1) series of length ``n`` (stationary from the first sample), optionally ``dims`` wide."""
    shape = (datasets, n) if dims is None else (datasets, n, dims)
    e = rng.standard_normal(shape)
    e[:, 0] /= np.sqrt(1 - rho**2)
    return lfilter([1], [1, -rho], e, axis=1)


def test_block_test_is_calibrated_where_the_frame_level_test_is_not():
    """No effect, AR(1) scores (rho 0.9) on 600 frames, 400 datasets: the frame-level Wilcoxon rejects far above
    5 %, the sign-flip test on block means within [2 %, 8 %]; with an effect of 0.65 marginal SD it detects it."""
    rng = np.random.default_rng(0)
    n, datasets, effect = 600, 400, 1.5          # marginal SD of the series: 1 / sqrt(1 - 0.81) = 2.29
    frames = np.arange(n)
    old = new = power = 0
    for i, d in enumerate(ar1(rng, datasets, n)):
        old += stats.wilcoxon(d, alternative="greater").pvalue < 0.05
        new += inference.paired_block_test(d, np.zeros(n), inference.frame_blocks(frames, d), n_resamples=999,
                                           seed=i)["p"] < 0.05
        shifted = d + effect
        power += inference.paired_block_test(shifted, np.zeros(n), inference.frame_blocks(frames, shifted),
                                             n_resamples=999, seed=i)["p"] < 0.05
    assert old / datasets > 0.25
    assert 0.02 <= new / datasets <= 0.08
    assert power / datasets >= 0.8                 # measured 0.87


def test_block_bootstrap_covers_where_the_frame_bootstrap_does_not():
    """95 % intervals of the mean of AR(1) scores (true mean 0): resampling frames covers it far less often
    than resampling blocks."""
    rng = np.random.default_rng(1)
    n, datasets = 600, 150
    frames = np.arange(n)
    frame_level = block_level = 0
    for i, d in enumerate(ar1(rng, datasets, n)):
        low, high = inference.block_bootstrap_ci(d, inference.frame_blocks(frames, length=1), n_resamples=999, seed=i)
        frame_level += low <= 0 <= high
        low, high = inference.block_bootstrap_ci(d, inference.frame_blocks(frames, d), n_resamples=999, seed=i)
        block_level += low <= 0 <= high
    assert frame_level / datasets < 0.6
    assert block_level / datasets >= 0.85


def test_circular_shift_null_keeps_the_temporal_structure_a_free_shuffle_destroys():
    """Predictions and references that are independent but both slow (AR(1) in time): a free shuffle of the
    references calls their chance alignment significant far too often, a circular shift does not."""
    rng = np.random.default_rng(2)
    n, datasets = 300, 200
    predictions, references = ar1(rng, datasets, n, dims=4), ar1(rng, datasets, n, dims=4)
    shuffle_rejects = shift_rejects = 0
    for i in range(datasets):
        sim = predictions[i] @ references[i].T
        observed = np.mean(np.diag(sim))
        lag = inference.autocorrelation_length(references[i])
        null = [np.mean(sim[np.arange(n), rng.permutation(n)]) for _ in range(199)]
        shuffle_rejects += (1 + np.sum(np.array(null) >= observed)) / 200 < 0.05
        shift_rejects += inference.circular_shift_null(sim, min_shift=lag)["p"] < 0.05
    assert shuffle_rejects / datasets > 0.2
    assert shift_rejects / datasets <= 0.1         # measured 0.08 (only ~15 autocorrelation lengths per series)


def test_circular_shift_null_finds_a_planted_match():
    rng = np.random.default_rng(3)
    references = ar1(rng, 1, 200, dims=8)[0]
    predictions = references + 0.5 * rng.standard_normal(references.shape)
    result = inference.circular_shift_null(predictions @ references.T, min_shift=20)
    assert result["p"] == pytest.approx(1 / (1 + result["shifts"]))
    assert result["shifts"] == 200 - 2 * 20 + 1
    assert inference.circular_shift_null(np.eye(3), min_shift=2)["shifts"] == 0
    assert np.isnan(inference.circular_shift_null(np.eye(3), min_shift=2)["p"])


def test_autocorrelation_length_and_blocks():
    rng = np.random.default_rng(4)
    assert inference.autocorrelation_length(rng.standard_normal(2000)) <= 2
    assert 12 <= inference.autocorrelation_length(ar1(rng, 1, 2000)[0]) <= 30
    # held-out frames every 5th frame of the movie: the lag counts items, the block length frames
    frames = np.arange(0, 3000, 5)
    series = ar1(rng, 1, len(frames))[0]
    blocks = inference.frame_blocks(frames, series)
    assert blocks.length == inference.BLOCK_DECORRELATIONS * inference.autocorrelation_length(series) * 5
    assert blocks.n == len(np.unique(frames // blocks.length))
    assert "n_eff" in blocks.describe() and "autocorrelation" in blocks.describe()
    with pytest.raises(ValueError, match="block length"):
        inference.frame_blocks(frames)
    assert inference.design_blocks(["b", "a", "b"], "source clips").n == 2


def test_paired_block_test_is_exact_for_few_blocks():
    blocks = inference.Blocks(np.repeat(np.arange(5), 3), "given")
    a = np.linspace(1, 2, 15)
    result = inference.paired_block_test(a, np.zeros(15), blocks)
    assert result["p"] == pytest.approx(1 / 32)                 # all 2**5 sign flips, only the observed is as large
    assert result["blocks"] == 5
    assert inference.paired_block_test(a, a, blocks)["p"] == 1.0
    assert np.isnan(inference.paired_block_test(a, np.zeros(15), inference.Blocks(np.zeros(15), "one"))["p"])


def test_correct_holm_and_bh_skip_nan():
    q = inference.correct([0.01, 0.04, np.nan, 0.03], "holm")
    np.testing.assert_allclose(q, [0.03, 0.06, np.nan, 0.06])
    np.testing.assert_allclose(inference.correct([0.01, 0.04, 0.03], "fdr_bh"), [0.03, 0.04, 0.04])
    with pytest.raises(ValueError, match="unknown correction"):
        inference.correct([0.1], "bonferonni")
    assert inference.format_p(0.01, resolution=0.01) == "<=0.01"
    assert inference.format_p(float("nan")) == ""


def drift_movie(rng, n=600, segment=20, labels=5, dims=16):
    """A movie whose frames drift slowly (a random walk) and whose shots (``segment`` frames each) carry one of
    ``labels`` labels drawn at random, so that the same label recurs far apart in time."""
    drift = np.cumsum(rng.standard_normal((n, dims)), axis=0)
    shot_labels = rng.integers(labels, size=n // segment + 1)
    return drift, shot_labels[np.arange(n) // segment]


def test_exclusion_zone_knn_purity_of_a_temporal_neighbour_predictor_is_at_chance():
    """Each held-out frame predicted by the target of the nearest training frame (no content, only the movie's
    drift): plain purity is high, purity beyond +-segment frames is at chance (1 / labels); a predictor that
    carries the label keeps its purity behind the zone."""
    rng = np.random.default_rng(5)
    drift, labels = drift_movie(rng)
    held_out = np.sort(rng.choice(len(drift), 120, replace=False))
    training = np.setdiff1d(np.arange(len(drift)), held_out)
    nearest = training[np.abs(training[None, :] - held_out[:, None]).argmin(1)]
    neighbour_prediction = drift[nearest]
    plain = metrics.knn_purity(neighbour_prediction, labels[held_out], k=5)
    excluded = metrics.knn_purity(neighbour_prediction, labels[held_out], k=5, positions=held_out, exclude_within=20)
    assert plain > 0.6
    assert excluded < 0.2 + 0.1
    codes = np.hstack([np.eye(5)[labels[held_out]] * 10, 0.1 * neighbour_prediction])
    assert metrics.knn_purity(codes, labels[held_out], k=5, positions=held_out, exclude_within=20) > 0.9
    assert np.isnan(metrics.knn_purity(codes, labels[held_out], k=5, positions=held_out, exclude_within=len(drift)))


def test_exclusion_zone_cka_of_two_unrelated_slow_signals_is_low():
    """Two independent representations that are both smooth in time align (plain CKA) through the shared
    temporal autocorrelation alone; beyond the autocorrelation length they do not. Shared content aligns either way."""
    rng = np.random.default_rng(6)
    n = 400
    x, y = ar1(rng, 2, n, rho=0.95, dims=64)
    frames = np.arange(n)
    plain, excluded = metrics.linear_cka(x, y), metrics.linear_cka(x, y, positions=frames, exclude_within=60)
    assert plain > 0.3
    assert excluded < 0.5 * plain
    shared = x + 0.3 * y
    assert metrics.linear_cka(shared, x, positions=frames, exclude_within=60) > 0.8
    assert metrics.linear_cka(x, y, positions=frames, exclude_within=0) == pytest.approx(plain)
    with pytest.raises(ValueError, match="positions"):
        metrics.linear_cka(x, y, exclude_within=3)
    assert np.isnan(metrics.linear_cka(x, y, positions=frames, exclude_within=n))
