"""Chapter 03's steps: each held-out condition's windows and split, its decoder's predictions written and read
back, and the embedding metrics and texts of the chapter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import sidecar_path
from neurrator.data.binning import BinnedStimulus
from neurrator.data.splits import TRAIN, BinSplit, HeldOutCondition, heldout_conditions, heldout_windows
from neurrator.evaluation import heldout
from neurrator.layout import DataLayout
from neurrator.models.predictions import predict_to_file, read_predictions
from neurrator.models.training import ArrayTargets

N_FRAMES, BINS_PER_FRAME, REPEATS, N_UNITS = 40, 3, 4, 6


def binned_movie(name="movie", seed=0):
    rng = np.random.default_rng(seed)
    frame = np.tile(np.repeat(np.arange(N_FRAMES), BINS_PER_FRAME), REPEATS).astype(np.int32)
    repeat = np.repeat(np.arange(REPEATS), N_FRAMES * BINS_PER_FRAME).astype(np.int32)
    n = len(frame)
    return BinnedStimulus(name, np.arange(N_UNITS), rng.poisson(2, (n, N_UNITS)).astype(np.uint8),
                          np.arange(n) / 120.0 + repeat * 1.0, frame, repeat, np.zeros(n, np.int16),
                          (np.arange(n) // BINS_PER_FRAME).astype(np.int32),
                          (np.arange(n) % BINS_PER_FRAME).astype(np.int16))


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"an input")


def test_distance_to_training_counts_frames_to_the_nearest_trained_frame_outside_the_guard_band():
    held = np.zeros(10, bool)
    held[[4, 5]] = True
    split = BinSplit("sparse_random", np.zeros(0, np.int8), held, {}, guard_frames=1)   # frames 3 and 6 guarded
    assert split.distance_to_training().tolist() == [2, 2]                 # 4 -> 2, 5 -> 7
    assert split.distance_to_training([0, 9, 5]).tolist() == [0, 0, 2]
    assert BinSplit("x", np.zeros(0, np.int8), held, {}).distance_to_training().tolist() == [1, 1]


def test_a_condition_builds_its_windows_and_a_size_matched_control_trains_on_as_many():
    movie = binned_movie()
    conditions = heldout_conditions("movie", None, None, regimes=["sparse_random"], guard_frames=[2])
    runs = heldout_windows(conditions, {"movie": movie}, seed=0, fractions=(0.5, 0.25, 0.25), jitter=0,
                           neuron_dropout=0.0)
    assert list(runs) == ["sparse_random", "sparse_random_guard2", "sparse_random_sized_as_sparse_random_guard2"]
    plain, guarded, matched = runs.values()
    assert len(guarded.train) < len(plain.train) and len(matched.train) == len(guarded.train)
    assert guarded.split.guard_frames == 2 and matched.split.guard_frames == 0
    np.testing.assert_array_equal(matched.split.held_out, plain.split.held_out)
    # the windows are the ones regime_windows builds for the same regime
    direct = conditions["sparse_random"].windows(movie, seed=0, fractions=(0.5, 0.25, 0.25), jitter=0, neuron_dropout=0.0)
    np.testing.assert_array_equal(direct.test.centres, plain.test.centres)


def test_a_zero_shot_condition_trains_nothing_and_needs_its_models_zscoring():
    zero = heldout_conditions("a", "b", None, regimes=["sparse_random"], second_stimulus_regimes=[],
                              guard_frames=[])["zero_shot_transfer"]
    assert not zero.trains and zero.model == ("a", "sparse_random")
    assert heldout_windows({"zero_shot_transfer": zero}, {"b": binned_movie("b")}) == {}
    with pytest.raises(ValueError, match="zscore"):
        zero.windows(binned_movie("b"))
    stats = (np.zeros(N_UNITS, np.float32), np.ones(N_UNITS, np.float32))
    assert len(zero.windows(binned_movie("b"), zscore=stats).test) > 0


def test_a_condition_saves_the_split_its_model_reads_back(tmp_path):
    layout = DataLayout(tmp_path, "demo")
    conditions = heldout_conditions("movie", "other", None, regimes=["sparse_random"], second_stimulus_regimes=[],
                                    guard_frames=[])
    split = heldout_windows(conditions, {"movie": binned_movie()}, seed=1)["sparse_random"].split
    touch(layout.binned(7, "movie"))
    conditions["sparse_random"].save_split(split, layout, 7, made_by="03_train")
    assert layout.split(7, "movie", "sparse_random").is_file()
    for name in ("sparse_random", "zero_shot_transfer"):     # the transfer reads its model's split
        back = conditions[name].trained_split(layout, 7, made_by="03_train")
        np.testing.assert_array_equal(back.held_out, split.held_out)
        np.testing.assert_array_equal(back.centres[TRAIN], split.centres[TRAIN])
    assert conditions["sparse_random"].params(7) == {"session_id": 7, "stimulus": "movie", "regime": "sparse_random"}


class FakeDecoder:
    """Per-frame outputs: each frame's id in every cell, in blocks of two frames."""

    out_shape_ = (2, 3)
    classes_ = None
    zscore_ = None

    def predict_by_frame(self, windows):
        frames = np.asarray(windows)
        return frames, (np.full((len(frames[i:i + 2]), 2, 3), frames[i:i + 2, None, None], np.float32)
                        for i in range(0, len(frames), 2))


def test_predictions_are_streamed_to_a_file_and_read_back(tmp_path):
    path = tmp_path / "p.npz"
    back = predict_to_file(FakeDecoder(), [3, 5, 8], path, made_by="03_train", params={"regime": "x"})
    assert back.frame_ids.tolist() == [3, 5, 8]
    np.testing.assert_array_equal(np.asarray(back.outputs)[:, 0, 0], [3, 5, 8])
    assert read_predictions(path, made_by="03_train").classes is None


def test_predict_condition_names_its_model_as_the_input(tmp_path):
    layout = DataLayout(tmp_path, "demo")
    condition = HeldOutCondition("zero_shot_transfer", "b", "zero_shot", transfer_from=("a", "sparse_random"))
    touch(layout.decoder(3, "a", "sparse_random"))
    heldout.predict_condition(condition, FakeDecoder(), [1, 2], layout=layout, session_id=3, made_by="03_train")
    sidecar = json.loads(sidecar_path(layout.predictions(3, "b", "zero_shot")).read_text())
    assert "decoder" in sidecar["inputs"] and sidecar["made_by"] == "03_train"
    assert sidecar["params"]["stimulus"] == "b" and sidecar["params"]["regime"] == "zero_shot"


def test_train_condition_names_the_decoder_after_its_condition(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(heldout, "fit_and_save", lambda data, targets, *configs, **kw: seen.update(kw) or "decoder")

    class Store:
        def open(self, stimulus):
            return f"targets of {stimulus}"

        def path(self, stimulus):
            return tmp_path / stimulus

    condition = HeldOutCondition("sparse_random_guard3", "movie", "sparse_random", guard_frames=3)
    layout = DataLayout(tmp_path, "demo")
    assert heldout.train_condition(condition, None, layout=layout, session_id=1, store=Store(), configs=(1, 2),
                                   made_by="03_train", objective="infonce") == "decoder"
    assert seen["path"] == layout.decoder(1, "movie", "sparse_random_guard3", "infonce")
    assert seen["name"] == "movie sparse_random_guard3 (infonce)" and seen["made_by"] == "03_train"
    assert seen["params"] == {"session_id": 1, "stimulus": "movie", "regime": "sparse_random_guard3"}


def test_embedding_metrics_of_perfect_predictions_beat_their_controls():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(30, 4, 8)).astype(np.float32)
    frames = np.arange(0, 30, 3)
    predicted = type("P", (), {"frame_ids": frames, "outputs": ArrayTargets(targets[frames])})()
    captions = {f: f"caption {f // 6}" for f in range(30)}
    row, ranks = heldout.embedding_metrics(predicted, ArrayTargets(targets), targets.mean(1), captions, exclude_within=2)
    assert row["held-out frames"] == 10 and row["exclusion (± frames)"] == 2
    assert row["patch cosine"] == pytest.approx(1.0, abs=1e-3) and row["patch cosine (shuffled)"] < 0.5
    assert row["R@1"] == 1.0 and ranks.tolist() == [1] * 10
    assert row["CKA"] > row["CKA (shuffled)"]


def test_chapter_texts():
    curve = heldout.learning_curve_texts(None)
    assert set(curve.values()) == {"—"} and "sparse_random_ridge_heldout" in curve and "curve_margin" in curve
    summary = pd.DataFrame({"stopped early": [True, False], "best validation": [0.512, 0.4],
                            "below plateau": [0.031, np.nan]}, index=["sparse_random (patches)", "contiguous_middle (patches)"])
    assert heldout.training_texts(summary) == {"n_stopped_early": "1 of 2", "sparse_random_best_val": "0.51",
                                               "sparse_random_gap": "0.03", "contiguous_middle_best_val": "0.40",
                                               "contiguous_middle_gap": "—"}
    held = np.array([True, True, False, False])
    split = BinSplit("scene_sources", np.zeros(0, np.int8), held, {})
    assert heldout.source_holdout_text(split, np.array([0, 1, 1, 2])) == (
        "2 images from 2 sources, 1 of which also have an image in training")
    table = pd.DataFrame({"KNN purity": [0.5], "KNN purity (shuffled)": [0.2], "KNN purity (excl.)": [0.3],
                          "KNN purity (excl., shuffled)": [0.25], "CKA": [0.9], "CKA (excl.)": [0.4],
                          "CKA (shuffled)": [0.1], "median rank": [3.0], "median rank (excl.)": [40.0],
                          "median rank (chance)": [450.0], "exclusion (± frames)": [5]}, index=["sparse_random"])
    texts = heldout.exclusion_texts(table, {"movie": 5, "scenes": 0})
    assert texts["exclusion_text"] == "movie 5" and texts["rank_effect"] == "sparse random: 3 → 40 (450)"
    assert texts["exclusion_effect"].startswith("sparse random: purity 0.50 (0.20) → 0.30 (0.25), CKA 0.90")
