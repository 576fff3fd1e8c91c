"""The population classifier without a permutation test, its comparison with size-matched control draws, and
correlations with a planted variable at the level where it is set (neurrator.evaluation.attribution)."""

import numpy as np
import pytest
from scipy import stats

from neurrator.evaluation.attribution import against_controls, level_correlation, which_population


def _embeddings(separable: bool, n_frames=40, seed=0):
    """Three populations narrate the same frames; with ``separable`` each adds its own direction."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(np.arange(n_frames), 3)
    labels = np.tile(["PV", "SST", "VIP"], n_frames)
    x = rng.normal(size=(n_frames, 16))[frames] + rng.normal(scale=0.3, size=(3 * n_frames, 16))
    if separable:
        x[np.arange(len(x)), [{"PV": 0, "SST": 1, "VIP": 2}[label] for label in labels]] += 3.0
    return x, labels, frames


def test_without_permutations_the_accuracy_is_the_same_and_p_is_nan():
    x, labels, frames = _embeddings(True)
    tested = which_population(x, labels, frames, n_permutations=19)
    plain = which_population(x, labels, frames, n_permutations=0)
    assert plain["accuracy"] == pytest.approx(tested["accuracy"]) and plain["folds"] == tested["folds"]
    assert np.isnan(plain["p"]) and np.isnan(plain["resolution"]) and np.isnan(plain["permuted_mean"])
    assert tested["resolution"] == pytest.approx(1 / 20) and tested["p"] == pytest.approx(tested["resolution"])
    with pytest.raises(ValueError, match="n_permutations"):
        which_population(x, labels, frames, n_permutations=-1)


def _control_accuracies(draws=10):
    return [which_population(*_embeddings(False, seed=100 + d), n_permutations=0)["accuracy"] for d in range(draws)]


def test_separable_cell_types_beat_every_control_draw_at_the_floor():
    controls = _control_accuracies()
    cell = which_population(*_embeddings(True), n_permutations=0)["accuracy"]
    result = against_controls(cell, controls)
    assert result["draws"] == 10 and result["resolution"] == pytest.approx(1 / 11)
    assert result["p"] == pytest.approx(result["resolution"])
    assert result["difference"] == pytest.approx(cell - np.mean(controls)) and result["difference"] > 0.4


def test_cell_types_like_the_controls_are_not_above_them():
    controls = _control_accuracies()
    cell = which_population(*_embeddings(False, seed=7), n_permutations=0)["accuracy"]
    assert against_controls(cell, controls)["p"] > 0.2


def test_the_control_rank_counts_ties_and_needs_draws():
    assert against_controls(0.8, [0.5, 0.8, 0.9, 0.6])["p"] == pytest.approx(3 / 5)
    assert against_controls(0.95, [0.5, 0.8, 0.9, 0.6])["p"] == pytest.approx(1 / 5)
    empty = against_controls(0.8, [])
    assert empty["draws"] == 0 and np.isnan(empty["p"])


def _clips(n_clips=12, frames_per_clip=8):
    return np.repeat(np.arange(n_clips), frames_per_clip)


def test_a_variable_set_per_clip_is_recovered_over_clips():
    rng = np.random.default_rng(0)
    clips = _clips()
    variable = rng.uniform(size=12)[clips]                       # set per clip, as the demo world's `vehicle`
    course = variable + rng.normal(scale=0.05, size=len(clips))
    result = level_correlation(course, variable, clips, seed=0)
    assert result["n"] == 12 and result["rho"] > 0.9
    assert result["p"] == pytest.approx(result["resolution"]) and result["resolution"] == pytest.approx(1 / 10000)


def test_frames_of_one_clip_are_not_independent_evidence():
    """A course that shares a random offset within each clip, unrelated to the variable: over frames the
    Spearman p is tiny (96 'independent' frames), over the 12 clips the correlation is not significant."""
    rng = np.random.default_rng(8)
    clips = _clips()
    variable = rng.uniform(size=12)[clips]
    course = rng.normal(size=12)[clips] + rng.normal(scale=0.1, size=len(clips))
    frame_level = stats.spearmanr(course, variable, alternative="greater")
    clip_level = level_correlation(course, variable, clips, seed=0)
    assert frame_level.pvalue < 0.01
    assert clip_level["n"] == 12 and clip_level["p"] > 0.05
    means = course.reshape(12, 8).mean(1)
    assert clip_level["rho"] == pytest.approx(stats.spearmanr(means, variable[::8]).statistic)


def test_level_correlation_is_nan_for_a_constant_side_and_exact_for_few_groups():
    clips = np.repeat(np.arange(5), 3)
    assert np.isnan(level_correlation(np.arange(15.0), np.ones(15), clips)["rho"])
    exact = level_correlation(np.arange(15.0), clips.astype(float), clips)
    assert exact["n"] == 5 and exact["rho"] == pytest.approx(1.0)
    assert exact["resolution"] == pytest.approx(1 / 120) and exact["p"] == pytest.approx(1 / 120)
