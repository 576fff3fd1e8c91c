"""Repeat splits, held-out regimes, leakage-proof windows and z-score statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurrator.data.splits import (
    REGIMES, TEST, TRAIN, UNUSED, VAL, guarded_frames, held_out_frames, split_bins, split_repeats, window_centres, zscore_stats,
)
from neurrator.data.windows import SpikeWindows

BINS_PER_FRAME = 4


def movie_bins(n_frames=900, repeats=6, blocks=(3, 3)):
    """Labels of a 30 Hz movie binned at 120 Hz: repeats in blocks separated by a time gap."""
    frame = np.tile(np.repeat(np.arange(n_frames), BINS_PER_FRAME), repeats)
    repeat = np.repeat(np.arange(repeats), n_frames * BINS_PER_FRAME)
    block = np.repeat(np.repeat(np.arange(len(blocks)), blocks), n_frames * BINS_PER_FRAME)
    bin_start = np.arange(len(frame)) / 120 + block * 100.0
    return frame, repeat, bin_start


def windows_frames(split, frame, which, window=20):
    centres = split.centres[which]
    offsets = np.arange(-(window // 2), window - window // 2)
    return frame[centres[:, None] + offsets[None]]


def test_split_repeats_is_seeded_and_complete():
    a, b = split_repeats(np.arange(10), seed=1), split_repeats(np.arange(10), seed=1)
    assert a == b and sorted(a) == list(range(10))
    # 15% of 10 repeats is 1.5, which round() takes to 2 (half to even) for validation and for test
    assert [list(a.values()).count(s) for s in (TRAIN, VAL, TEST)] == [6, 2, 2]
    twenty = split_repeats(np.arange(20), seed=1)                # 15% of 20 is exactly 3
    assert [list(twenty.values()).count(s) for s in (TRAIN, VAL, TEST)] == [14, 3, 3]
    assert split_repeats(np.arange(10), seed=2) != a
    with pytest.raises(ValueError, match="training repeat"):
        split_repeats(np.arange(2))


@pytest.mark.parametrize("regime", ["sparse_random", "contiguous_middle", "front_only"])
def test_no_held_out_frame_in_any_training_or_validation_window(regime):
    frame, repeat, bin_start = movie_bins()
    split = split_bins(frame, repeat, bin_start, regime=regime, seed=4)
    held = np.flatnonzero(split.held_out)
    for which in (TRAIN, VAL):
        seen = windows_frames(split, frame, which)
        assert not np.isin(seen, held).any(), f"held-out frame inside a {which} window"
    test_frames = np.unique(frame[split.centres[TEST]])
    assert np.isin(test_frames, held).all() and len(split.centres[TEST])
    if regime == "contiguous_middle":
        assert held.min() == 250 and held.max() == 449
        centre_frames = frame[split.centres[TRAIN]]
        assert centre_frames[(centre_frames < 250)].max() == 247   # the window end (frame 249) touches the hole
    if regime == "front_only":
        assert frame[split.centres[TRAIN]].max() < 200


def test_repeat_regime_and_windows_do_not_cross_blocks_or_splits():
    frame, repeat, bin_start = movie_bins(n_frames=30, repeats=6)
    split = split_bins(frame, repeat, bin_start, regime="repeat", seed=0)
    for which in (TRAIN, VAL, TEST):
        centres = split.centres[which]
        offsets = np.arange(-10, 10)
        labels = split.labels[centres[:, None] + offsets]
        assert (labels[:, 10] == which).all()
        if which != TEST:                  # test windows may take context from neighbouring repeats
            assert (labels == which).all()
        gaps = np.diff(bin_start[centres[:, None] + offsets], axis=1)
        assert gaps.max() < 1.5 / 120  # no window spans the gap between blocks


def test_scene_identity_and_blanks():
    images = np.tile(np.r_[-1, np.arange(40)], 5)
    frame = np.repeat(images, 30)
    repeat = np.repeat(np.repeat(np.arange(5), 41), 30)
    split = split_bins(frame, repeat, np.arange(len(frame)) / 120, regime="scene_identity", seed=0)
    assert (split.labels[frame == -1] == UNUSED).all()
    held = np.flatnonzero(split.held_out)
    assert len(held) == 4 and np.isin(frame[split.centres[TEST]], held).all()
    assert not np.isin(windows_frames(split, frame, TRAIN), np.r_[held, -1]).any()


def test_scene_sources_hold_out_every_image_of_a_source():
    sources = np.repeat(np.arange(10), 4)                     # 40 images, 10 sources of 4 crops each
    images = np.tile(np.r_[-1, np.arange(40)], 5)
    frame = np.repeat(images, 30)
    repeat = np.repeat(np.repeat(np.arange(5), 41), 30)
    by_source = split_bins(frame, repeat, np.arange(len(frame)) / 120, regime="scene_sources", seed=0,
                           frame_groups=sources)
    held = by_source.held_out
    assert held.sum() == 4 and len(set(sources[held])) == 1 and not set(sources[held]) & set(sources[~held])
    trained = np.unique(windows_frames(by_source, frame, TRAIN))
    assert not set(sources[trained[trained >= 0]]) & set(sources[held])
    # the crop-level split of the same images leaves sources on both sides
    crops = split_bins(frame, repeat, np.arange(len(frame)) / 120, regime="scene_identity", seed=0)
    assert set(sources[crops.held_out]) & set(sources[~crops.held_out])
    # without groups every image is its own source
    assert held_out_frames("scene_sources", np.arange(40), seed=0).sum() == 4
    with pytest.raises(ValueError, match="groups name a source"):
        held_out_frames("scene_sources", np.arange(40), groups=sources[:10])


def test_unknown_regime():
    with pytest.raises(ValueError, match="unknown regime"):
        held_out_frames("everything", np.arange(10))
    assert set(REGIMES) >= {"sparse_random", "contiguous_middle", "front_only", "zero_shot", "scene_identity"}


def test_window_centres_near_mask_edges():
    mask = np.zeros(40, bool)
    mask[5:25] = True
    centres = window_centres(mask, np.zeros(40, int), window=10)
    assert centres.min() == 10 and centres.max() == 20   # [c-5, c+5) inside [5, 25)


def test_zscore_uses_training_bins_only_and_changing_test_spikes_changes_nothing():
    frame, repeat, bin_start = movie_bins(n_frames=30, repeats=6)
    split = split_bins(frame, repeat, bin_start, regime="repeat", seed=0)
    rng = np.random.default_rng(0)
    counts = rng.poisson(2, size=(len(frame), 7)).astype(np.uint8)
    mean, std = zscore_stats(counts, split.mask(TRAIN))
    train_data = [SpikeWindows(counts, frame, split.centres[TRAIN], mean, std)[i][0] for i in range(5)]
    changed = counts.copy()
    changed[split.mask(TEST)] = 200                           # wildly different test repeats
    mean2, std2 = zscore_stats(changed, split.mask(TRAIN))
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(std, std2)
    for i in range(5):
        assert torch.equal(SpikeWindows(changed, frame, split.centres[TRAIN], mean2, std2)[i][0], train_data[i])
    np.testing.assert_allclose(mean, counts[split.mask(TRAIN)].mean(0), rtol=1e-5)


def test_window_items_jitter_and_dropout_are_deterministic():
    frame, repeat, bin_start = movie_bins(n_frames=30, repeats=6)
    split = split_bins(frame, repeat, bin_start, regime="sparse_random", seed=0)
    counts = np.random.default_rng(1).poisson(1, size=(len(frame), 50)).astype(np.uint8)
    mean, std = zscore_stats(counts, split.mask(TRAIN))
    data = SpikeWindows(counts, frame, split.centres[TRAIN], mean, std, jitter=2, neuron_dropout=0.1, seed=3)
    x, f = data[0]
    assert x.shape == (20, 50) and x.dtype == torch.float32 and isinstance(f, int)
    assert torch.equal(data[0][0], x)
    data.set_epoch(1)
    assert not torch.equal(data[0][0], x)
    dropped = [(data[i][0] == 0).all(0).float().mean().item() for i in range(200)]
    assert 0.05 < np.mean(dropped) < 0.15
    with pytest.raises(TypeError, match="uint8"):
        SpikeWindows(counts.astype(np.float32), frame, split.centres[TRAIN], mean, std)


def test_zero_shot_stimulus_is_entirely_held_out():
    frame, repeat, bin_start = movie_bins(n_frames=60, repeats=2, blocks=(1, 1))
    split = split_bins(frame, repeat, bin_start, regime="zero_shot", fractions=(0.5, 0.5, 0.0))
    assert split.held_out.all() and (split.labels == TEST).all()
    assert len(split.centres[TRAIN]) == 0 and len(split.centres[TEST]) > 0
    # the default 70/15/15 repeat split would need three repeats; a zero-shot stimulus needs none
    one_repeat = movie_bins(n_frames=60, repeats=1, blocks=(1,))
    assert (split_bins(*one_repeat, regime="zero_shot").labels == TEST).all()


def test_frame_level_regimes_train_on_two_repeats():
    """A movie shown twice (the demo's second movie) trains on one repeat and validates on the other; every
    repeat of a held-out frame tests. The repeat regime still needs a test repeat."""
    frame, repeat, bin_start = movie_bins(n_frames=200, repeats=2, blocks=(1, 1))
    split = split_bins(frame, repeat, bin_start, regime="sparse_random", seed=0)
    for which in (TRAIN, VAL):
        assert len(np.unique(repeat[split.mask(which)])) == 1
    assert set(np.unique(repeat[split.mask(TEST)])) == {0, 1}
    with pytest.raises(ValueError, match="training repeat"):
        split_bins(frame, repeat, bin_start, regime="repeat")
    # with eight repeats the training repeats are those of the 70/15/15 repeat split
    frame8, repeat8, start8 = movie_bins(n_frames=50, repeats=8, blocks=(4, 4))
    trains = np.unique(repeat8[split_bins(frame8, repeat8, start8, regime="sparse_random", seed=3).mask(TRAIN)])
    plain = split_repeats(np.arange(8), seed=3)
    assert list(trains) == sorted(r for r, part in plain.items() if part == TRAIN)


@pytest.mark.parametrize("regime", ["sparse_random", "contiguous_middle"])
def test_guard_band_keeps_training_windows_away_from_held_out_frames(regime):
    frame, repeat, bin_start = movie_bins()
    plain = split_bins(frame, repeat, bin_start, regime=regime, seed=4)
    guarded = split_bins(frame, repeat, bin_start, regime=regime, seed=4, guard_frames=15)
    np.testing.assert_array_equal(plain.held_out, guarded.held_out)
    np.testing.assert_array_equal(plain.centres[TEST], guarded.centres[TEST])
    held = np.flatnonzero(guarded.held_out)
    for which in (TRAIN, VAL):
        seen = np.unique(windows_frames(guarded, frame, which))
        assert np.abs(seen[:, None] - held[None]).min() > 15
        assert len(guarded.centres[which]) < len(plain.centres[which])
    # without the band, test windows share bins with training bins of their repeat; with it, none do
    assert plain.test_windows_sharing_training() > (0.5 if regime == "sparse_random" else 0)
    assert guarded.test_windows_sharing_training() == 0
    # the frames a model trains on: everything but the held-out frames and the band around them
    trained = guarded.trained_frames()
    assert np.abs(trained[:, None] - held[None]).min() > 15
    assert len(trained) == len(plain.trained_frames()) - guarded_frames(guarded.held_out, 15).sum()
    np.testing.assert_array_equal(plain.trained_frames(), np.flatnonzero(~plain.held_out))
    assert guarded.guard_frames == 15 and plain.guard_frames == 0
    # a 20-bin test window reaches 3 frames (12 bins) from its frame: a 3-frame band is the narrowest that clears it
    narrow = {g: split_bins(frame, repeat, bin_start, regime=regime, seed=4, guard_frames=g) for g in (2, 3)}
    assert narrow[3].test_windows_sharing_training() == 0 and narrow[2].test_windows_sharing_training() > 0
    with pytest.raises(ValueError, match="guard band"):
        split_bins(frame, repeat, bin_start, regime="repeat", guard_frames=5)
    with pytest.raises(ValueError, match=">= 0"):
        split_bins(frame, repeat, bin_start, regime=regime, guard_frames=-1)


def test_heldout_conditions_name_their_models_and_artifacts():
    from neurrator.data.splits import heldout_conditions

    conditions = heldout_conditions()
    assert list(conditions) == ["sparse_random", "contiguous_middle", "front_only", "sparse_random_guard3",
                                "sparse_random_guard15", "sparse_random_sized_as_sparse_random_guard15",
                                "second_movie", "second_movie_contiguous", "zero_shot_transfer", "scene_identity",
                                "scene_identity_crops"]
    matched = conditions["sparse_random_sized_as_sparse_random_guard15"]
    assert (matched.regime, matched.guard_frames, matched.train_windows_as) == ("sparse_random", 0, "sparse_random_guard15")
    assert matched.key == matched.name and matched.trains
    assert (conditions["scene_identity"].regime, conditions["scene_identity_crops"].regime) == ("scene_sources", "scene_identity")
    guard, second, zero = conditions["sparse_random_guard15"], conditions["second_movie"], conditions["zero_shot_transfer"]
    assert (guard.regime, guard.guard_frames, guard.key, guard.model) == \
        ("sparse_random", 15, "sparse_random_guard15", ("natural_movie_one", "sparse_random_guard15"))
    assert second.model == ("natural_movie_three", "sparse_random") and second.trains
    assert zero.model == ("natural_movie_one", "sparse_random") and not zero.trains and zero.regime == "zero_shot"
    few = heldout_conditions(regimes=["front_only"], second_stimulus_regimes=[], guard_frames=[], scenes=None)
    assert list(few) == ["front_only"]     # no sparse-random model: no zero-shot transfer
    with pytest.raises(ValueError, match="not a held-out regime"):
        heldout_conditions(regimes=["repeat"])
    with pytest.raises(ValueError, match="guard band > 0"):
        heldout_conditions(guard_frames=[0])
