"""Optotagging criterion on planted cells, and pseudo-mouse construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.data.binning import bin_spikes
from neurrator.data.optotagging import (TaggingCriteria, light_raster, light_response_metrics, tag_units,
                                        tagging_accuracy)
from neurrator.data.pseudomice import build_pseudo_mouse
from neurrator.data.recording import Recording


def make_recording(session_id=1, n_frames=6, repeats=3, tagged=(11,), artifact=(12,), seed=0, frame_s=1 / 30, slow=()):
    """Cortical units 10-13 and an LGd unit 14; 10 ms light pulses after a short movie."""
    rng = np.random.default_rng(seed)
    frames = np.tile(np.arange(n_frames), repeats)
    start = 1.0 + np.arange(len(frames)) * frame_s
    presentations = pd.DataFrame({"stimulus_name": "natural_movie_one", "start_time": start, "stop_time": start + frame_s,
                                  "frame": frames, "stimulus_block": 0, "repeat": np.repeat(np.arange(repeats), n_frames)})
    onsets = 10.0 + np.arange(120) * 1.7
    epochs = pd.DataFrame({"start_time": onsets, "stop_time": onsets + 0.01, "duration": 0.01, "level": 1.7,
                           "condition": "a single square pulse", "stimulus_name": "pulse"})
    units = pd.DataFrame({"region": ["VISp", "VISp", "VISl", "VISam", "LGd"], "quality": "good"},
                         index=pd.Index([10, 11, 12, 13, 14], name="unit_id"))
    spikes = {}
    for unit in units.index:
        times = np.sort(rng.uniform(0, onsets[-1] + 1, rng.poisson(6 * (onsets[-1] + 1))))
        if unit in tagged:
            times = np.r_[times, onsets + rng.uniform(0.002, 0.005, len(onsets))]
        if unit in artifact:
            times = np.r_[times, onsets, onsets + 0.01]      # exactly at light onset and offset
        if unit in slow:                                     # fires on every pulse, but 7-8.5 ms late
            times = np.r_[times, onsets + rng.uniform(0.007, 0.0085, len(onsets))]
        spikes[unit] = np.sort(times)
    return Recording(session_id, "Sst", units, spikes, presentations, epochs)


def test_tagging_finds_the_light_driven_cell_and_ignores_artifacts():
    rec = make_recording()
    tags = tag_units(rec)
    assert list(tags.index) == [10, 11, 12, 13]            # cortical units only
    assert tags["tagged"].to_dict() == {10: False, 11: True, 12: False, 13: False}
    assert tags.loc[11, "evoked_hz"] > 100 and tags.attrs["n_pulses"] == 120
    scores = tagging_accuracy(tags, pd.Series({11: True, 10: False, 12: False, 13: False}))
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    trial, time = light_raster(rec, 11)
    assert ((time > 0.001) & (time < 0.006)).sum() >= 120 and trial.max() == 119


def test_three_criteria_measure_reliability_latency_and_rate_multiple():
    rec = make_recording(slow=(13,))
    metrics = light_response_metrics(rec)
    assert metrics.loc[11, "reliability"] == 1.0 and 2.0 <= metrics.loc[11, "latency_ms"] <= 5.0
    assert metrics.loc[11, "rate_multiple"] > 10
    assert metrics.loc[12, "reliability"] < 0.2          # the artifact at onset and offset is not a response
    assert metrics.loc[13, "reliability"] == 1.0 and metrics.loc[13, "latency_ms"] > 7.0
    checks = TaggingCriteria().passes(metrics)
    assert checks["tagged"].to_dict() == {10: False, 11: True, 12: False, 13: False}
    assert checks.loc[13, "reliable"] and checks.loc[13, "strong"] and not checks.loc[13, "fast"]
    assert tag_units(rec).loc[13, "tagged"]               # the single ratio takes the late responder
    assert TaggingCriteria(max_latency_ms=9).passes(metrics).loc[13, "tagged"]   # thresholds are parameters
    np.testing.assert_array_equal(tag_units(rec)["ratio"], metrics["ratio"])


def test_a_unit_that_never_fires_near_a_pulse_fails_the_latency_criterion():
    rec = make_recording()
    rec.spike_times[10] = np.array([0.5, 1.5])          # nothing near any pulse
    metrics = light_response_metrics(rec)
    assert np.isnan(metrics.loc[10, "latency_ms"]) and metrics.loc[10, "reliability"] == 0.0
    assert np.isfinite(metrics.loc[10, "rate_multiple"])   # a silent baseline does not divide by zero
    assert not TaggingCriteria().passes(metrics).loc[10, "tagged"]


@pytest.mark.parametrize("bad", [{"min_reliability": 1.5}, {"max_latency_ms": 0}, {"min_rate_multiple": -1}])
def test_criteria_refuse_impossible_thresholds(bad):
    with pytest.raises(ValueError):
        TaggingCriteria(**bad)


def test_pulses_of_other_durations_are_not_used():
    rec = make_recording()
    rec.optogenetic_epochs["duration"] = 0.005
    assert tag_units(rec).attrs["n_pulses"] == 0


def test_pseudo_mouse_aligns_frames_across_sessions():
    a, b = make_recording(1, seed=1), make_recording(2, seed=2, repeats=4)
    binned = [bin_spikes(a, "natural_movie_one"), bin_spikes(b, "natural_movie_one")]
    mouse = build_pseudo_mouse(binned, [[11], [10, 12]], [1, 2])
    assert mouse.counts.shape == (6 * 3 * 4, 3)             # 3 common repeats x 6 frames x 4 bins
    assert list(mouse.units["session_id"]) == [1, 2, 2] and mouse.misalignment_ms < 1e-6
    np.testing.assert_array_equal(mouse.counts[:, 0], binned[0].counts[:, list(binned[0].unit_ids).index(11)])
    np.testing.assert_array_equal(mouse.frame, binned[0].frame)


def test_pseudo_mouse_refuses_different_frame_sequences_and_unknown_units():
    a, b = make_recording(1), make_recording(2, n_frames=5)
    with pytest.raises(ValueError, match="different natural_movie_one frame sequence"):
        build_pseudo_mouse([bin_spikes(a, "natural_movie_one"), bin_spikes(b, "natural_movie_one")], [[10], [10]], [1, 2])
    with pytest.raises(KeyError, match="no binned unit"):
        build_pseudo_mouse([bin_spikes(a, "natural_movie_one")] * 2, [[10], [99]], [1, 2])


def test_misalignment_is_measured():
    a, b = make_recording(1), make_recording(2, frame_s=1 / 30 + 0.0005)   # session 2's frames last 0.5 ms longer
    mouse = build_pseudo_mouse([bin_spikes(a, "natural_movie_one"), bin_spikes(b, "natural_movie_one")], [[10], [10]], [1, 2])
    assert 2.0 < mouse.misalignment_ms < 3.0                 # 5 frames x 0.5 ms by the last frame of a repeat


def make_scene_recording(session_id, order_seed, scene_s=0.25, t0=1.0, n_images=4, repeats=3):
    """Natural scenes in a random order (a blank first); repeat k is an image's k-th showing."""
    rng = np.random.default_rng(order_seed)
    frames = np.r_[-1, np.concatenate([rng.permutation(n_images) for _ in range(repeats)])]
    start = t0 + np.arange(len(frames)) * scene_s
    repeat = pd.Series(frames).groupby(frames).cumcount().to_numpy()
    presentations = pd.DataFrame({"stimulus_name": "natural_scenes", "start_time": start, "stop_time": start + scene_s,
                                  "frame": frames, "stimulus_block": 0, "repeat": repeat})
    units = pd.DataFrame({"region": ["VISp"], "quality": "good"}, index=pd.Index([10], name="unit_id"))
    spikes = {10: np.sort(rng.uniform(0, start[-1] + 1, 200))}
    return Recording(session_id, "Sst", units, spikes, presentations, pd.DataFrame())


def test_scene_misalignment_is_the_timing_difference_within_presentations():
    """Natural scenes: an aligned bin's start since its presentation's onset, compared between sessions."""
    a = bin_spikes(make_scene_recording(1, order_seed=1), "natural_scenes")
    same = bin_spikes(make_scene_recording(2, order_seed=2, t0=7.3), "natural_scenes")  # other order and clock
    mouse = build_pseudo_mouse([a, same], [[10], [10]], [1, 2])
    assert mouse.counts.shape == (4 * 3 * 30, 2) and mouse.misalignment_ms < 1e-6

    longer_s = 0.0006                                         # session 3's scenes last 0.6 ms longer
    b = bin_spikes(make_scene_recording(3, order_seed=3, scene_s=0.25 + longer_s), "natural_scenes")
    n_bins = 30                                               # both at 120 Hz: bin k starts k * 0.6 / 30 ms later
    assert (np.bincount(b.presentation) == n_bins).all()
    mouse = build_pseudo_mouse([a, b], [[10], [10]], [1, 2])
    assert mouse.misalignment_ms == pytest.approx((n_bins - 1) / n_bins * longer_s * 1000, abs=1e-6)
    # the bins' own width counts, not a nominal 120 Hz: at 60 Hz the last of 15 bins starts 14/15 x 0.6 ms late
    a60, b60 = (bin_spikes(make_scene_recording(i, order_seed=i, scene_s=s), "natural_scenes", bin_hz=60)
                for i, s in [(1, 0.25), (3, 0.25 + longer_s)])
    mouse = build_pseudo_mouse([a60, b60], [[10], [10]], [1, 2])
    assert mouse.misalignment_ms == pytest.approx(14 / 15 * longer_s * 1000, abs=1e-6)
