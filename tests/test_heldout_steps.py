"""Chapter 04's steps: narrate each condition's predictions, score them against each reference, and the tables
and texts on distance to training, guard bands and the diagnostics of failing conditions."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from neurrator.data.splits import TEST, TRAIN, BinSplit, HeldOutCondition, heldout_conditions
from neurrator.evaluation import heldout
from neurrator.evaluation.narration import classifier_narrations
from neurrator.layout import DataLayout
from neurrator.models.predictions import Predictions
from neurrator.models.training import ArrayTargets


class FakeModel:
    """A random unit vector per sentence, stable across calls."""

    def encode(self, sentences, batch_size=32, normalize_embeddings=False, convert_to_numpy=True,
               show_progress_bar=None):
        x = np.array([np.random.default_rng(zlib.crc32(s.encode())).standard_normal(32) for s in sentences])
        return x / np.linalg.norm(x, axis=1, keepdims=True)


class EchoBackend:
    """Narrates a grid as the number in its first cell."""

    def narrate(self, grids, batch_size=32, progress=False):
        return [f"frame {int(g[0, 0])}" for g in np.asarray(grids)]


def predictions(frames):
    frames = np.asarray(frames)
    return Predictions(frames, np.broadcast_to(frames[:, None, None], (len(frames), 2, 2)).astype(np.float32))


def test_every_condition_is_narrated_with_its_references():
    conditions = {"a": HeldOutCondition("a", "m", "sparse_random"), "b": HeldOutCondition("b", "n", "front_only")}
    references = {"m": {f: f"m{f}" for f in range(5)}, "n": {f: f"n{f}" for f in range(5)}}
    table = heldout.narrate_conditions(EchoBackend(), conditions, {"a": predictions([1, 3]), "b": predictions([4])},
                                       references, session_id=9, progress=False)
    assert table["narration"].tolist() == ["frame 1", "frame 3", "frame 4"]
    assert table["reference"].tolist() == ["m1", "m3", "n4"] and table["regime"].tolist() == ["a", "a", "b"]
    assert set(table["decoder"]) == {"Neurrator"} and set(table["session_id"]) == {9}


def test_the_classifier_narrates_the_caption_of_the_training_image_it_names():
    predicted = Predictions(np.array([5, 6]), np.array([[0.1, 0.9], [0.8, 0.2]], np.float32), classes=np.array([1, 2]))
    table = classifier_narrations(predicted, {f: f"scene {f}" for f in range(7)}, stimulus="s", regime="scene_identity",
                                  session_id=1)
    assert table["narration"].tolist() == ["scene 2", "scene 1"]
    assert table["reference"].tolist() == ["scene 5", "scene 6"] and set(table["decoder"]) == {"image classifier"}


def test_narrations_are_scored_against_each_reference_their_stimulus_has():
    narrations = pd.DataFrame({"regime": ["a"] * 4 + ["b"] * 2, "decoder": "Neurrator", "stimulus": ["m"] * 4 + ["n"] * 2,
                               "frame": [0, 1, 2, 3, 0, 1], "narration": ["x", "y", "x", "z", "u", "v"]})
    model_refs = {"m": {f: f"m{f}" for f in range(4)}, "n": {f: f"n{f}" for f in range(2)}}
    scored = heldout.score_against_references(FakeModel(), narrations, {"model": model_refs,
                                                                        "content": {"m": {f: "c" for f in range(4)}}})
    assert scored.groupby(["regime", "reference"], sort=False).size().to_dict() == {
        ("a", "model"): 4, ("a", "content"): 4, ("b", "model"): 2}
    assert scored.loc[scored["reference"] == "content", "reference_caption"].eq("c").all()
    assert {"matched", "shuffled", "random_caption", "word_salad"} <= set(scored.columns)
    sourced = heldout.with_sources(scored, "n", np.array([7, 8]))
    assert sourced.loc[sourced["stimulus"] == "n", "source"].tolist() == [7, 8]
    assert sourced.loc[sourced["stimulus"] == "m", "source"].isna().all() and "source" not in scored
    assert heldout.with_sources(scored, "n", None).loc[sourced["stimulus"] == "n", "source"].tolist() == ["0", "1"]


def test_content_references_are_read_where_they_exist_and_required_in_a_simulated_world(tmp_path):
    from neurrator.vlm import captions

    layout = DataLayout(tmp_path, "demo")
    path = layout.captions("m", "content")
    captions.write_captions(path, "m", [0], ["a cat"], spec={})
    assert heldout.read_content_references(layout, ["m", "n"], required=False) == {"m": {0: "a cat"}}
    with pytest.raises(FileNotFoundError, match="02_targets"):
        heldout.read_content_references(layout, ["m", "n"], required=True)


def summary(rows):
    return pd.DataFrame(rows, columns=["regime", "decoder", "reference", "matched", "shuffled", "matched - shuffled",
                                       "above every control"])


def test_table_texts_and_the_side_by_side_view():
    table = summary([("sparse_random", "Neurrator", "model", 0.6, 0.3, 0.3, True),
                     ("front_only", "Neurrator", "model", 0.3, 0.3, 0.0, False),
                     ("sparse_random", "Neurrator", "content", 0.5, 0.45, 0.05, False)])
    texts = heldout.table_a1_texts(table, partial_content=True)
    assert texts["above_model"] == "sparse_random (Neurrator)" and texts["not_above_model"] == "front_only (Neurrator)"
    assert texts["above_content"] == "none" and texts["references_used"] == "model and content: sparse_random"
    assert texts["sparse_random_score"] == "0.60 against 0.30" and texts["second_movie_score"] == "not run"
    assert heldout.table_a1_texts(table, partial_content=False)["references_used"] == "model and content"
    wide = heldout.side_by_side(table)
    assert wide.loc[("sparse_random", "Neurrator"), ("matched", "content")] == 0.5
    assert list(wide.columns[:3]) == [("matched", "model"), ("matched - shuffled", "model"), ("above every control", "model")]


def test_scores_by_distance_to_training():
    scores = pd.DataFrame({"matched": [1.0, 0.0, 0.5, 0.5], "shuffled": 0.1, "random_caption": 0.2,
                           "narration": ["a", "a", "b", "c"]})
    distance = np.array([1, 1, 150, 400])
    curve = heldout.by_distance(scores, distance, window=1)
    assert curve.index.tolist() == [1, 150, 400] and curve["matched"].tolist() == [0.5, 0.5, 0.5]
    bands = heldout.distance_bands(scores, distance, [0, 100, 300, 500], ["near", "mid", "far"], "band")
    assert bands.index.tolist() == ["near", "mid", "far"] and bands.index.name == "band"
    assert bands["frames"].tolist() == [2, 1, 1] and bands["distinct sentences"].tolist() == [1, 1, 1]
    assert bands["matched"].tolist() == [0.5, 0.5, 0.5]
    assert heldout.distance_bands(scores, np.array([1, 1, 2, 3]), [0, 100, 300], ["near", "mid"], "b").index.tolist() == ["near"]


def test_surroundings_and_the_guard_band_texts():
    held = np.zeros(20, bool)
    held[[5, 15]] = True
    labels = np.array([TRAIN] * 10 + [TEST] * 10, np.int8)
    split = BinSplit("sparse_random", labels, held, {TRAIN: np.arange(7), TEST: np.array([12])}, guard_frames=2)
    table = summary([("sparse_random_guard2", "Neurrator", "model", 0.5, 0.4, 0.1, False)])
    row = heldout.surroundings(split, table, "sparse_random_guard2")
    assert row["training windows"] == 7 and row["held-out frames"] == 2 and row["frames trained on"] == 10
    assert row["min frames to training"] == 3.0 and row["matched - shuffled (model)"] == 0.1
    assert "matched - shuffled (content)" not in row
    conditions = heldout_conditions("m", None, None, regimes=["sparse_random"], guard_frames=[2])
    around = pd.DataFrame({"matched - shuffled (model)": [0.3, 0.1, 0.25], "training windows": [900, 300, 300],
                           "test windows with training bins": [0.8, 0.0, 0.8]}, index=list(conditions))
    texts = heldout.guard_texts(around, conditions)
    assert texts["guard_summary"] == ("with a 2-frame band the margin over shuffling is 0.10 against 0.30 "
                                      "without it (model reference)")
    assert texts["matched_summary"].startswith("trained unguarded on as few windows (300) as `sparse_random_guard2`")
    assert texts["sparse_sharing"] == "80%"
    alone = heldout.guard_texts(around.iloc[[1]], conditions)
    assert alone["sparse_sharing"] == "n/a" and alone["matched_summary"] == "no size-matched control in this run"


def test_failure_texts_name_collapsed_and_uncovered_conditions():
    diagnostics = pd.DataFrame({
        "encoder: cos to own target": [0.9, 0.2, 0.3], "encoder: cos to training mean": [0.5, 0.8, 0.1],
        "ridge: cos to own target": [0.8, 0.4, 0.2], "ridge: cos to training mean": [0.5, 0.3, 0.1],
        "nearest training frame: matched": [0.6, 0.3, 0.7], "nearest training frame: shuffled": [0.3, 0.28, 0.3]},
        index=pd.Index(["ok", "collapsed", "covered"], name="regime"))
    table = summary([("ok", "Neurrator", "model", 0, 0, 0, True), ("collapsed", "Neurrator", "model", 0, 0, 0, False),
                     ("covered", "Neurrator", "model", 0, 0, 0, False)])
    texts = heldout.failure_texts(diagnostics, table, 0.1)
    assert texts["failing_conditions"] == "collapsed, covered" and texts["encoder_collapsed"] == "collapsed"
    assert texts["ridge_collapsed"] == "none" and texts["ridge_closer"] == "1 of 3"
    assert texts["failing_uncovered"] == "collapsed" and texts["failing_covered"] == "covered"


def test_table_a1_parses_p_values_and_examples_pick_one_per_regime():
    table = summary([("a", "Neurrator", "model", 0.5, 0.2, 0.3, True)]).assign(
        **{"block (frames)": 3, "blocks (n_eff)": 4, "distinct sentences": 2, "p": "<0.001", "q (Holm)": ""})
    a1 = heldout.table_a1(table)
    assert a1.index.names == ["regime", "decoder", "reference"] and "above every control" not in a1
    assert a1["p"].iloc[0] == pytest.approx(0.0005) and np.isnan(a1["q (Holm)"].iloc[0])
    scores = pd.DataFrame({"regime": ["a", "a", "b"], "frame": [1, 2, 3], "reference_caption": "model"})
    picks = heldout.examples(scores, scores.iloc[[2]].assign(reference_caption="a dog"), seed=0)
    assert picks["regime"].tolist() == ["a", "b"] and picks["content"].tolist()[1] == "a dog"
    assert picks["content"].tolist()[0] is None


class Store:
    def __init__(self, grids):
        self.grids = grids

    def open(self, stimulus):
        return ArrayTargets(self.grids[stimulus])


def test_diagnose_sets_encoder_ridge_and_the_nearest_training_frame_side_by_side():
    from neurrator.data.binning import BinnedStimulus
    from neurrator.data.splits import heldout_windows

    rng = np.random.default_rng(0)
    n_frames, per_frame, repeats = 30, 2, 4
    frame = np.tile(np.repeat(np.arange(n_frames), per_frame), repeats).astype(np.int32)
    repeat = np.repeat(np.arange(repeats), n_frames * per_frame).astype(np.int32)
    n = len(frame)
    binned = BinnedStimulus("m", np.arange(5), rng.poisson(3, (n, 5)).astype(np.uint8), np.arange(n) / 120 + repeat,
                            frame, repeat, np.zeros(n, np.int16), (np.arange(n) // per_frame).astype(np.int32),
                            (np.arange(n) % per_frame).astype(np.int16))
    conditions = heldout_conditions("m", None, None, regimes=["sparse_random"], guard_frames=[])
    split = heldout_windows(conditions, {"m": binned}, seed=0, fractions=(0.5, 0.25, 0.25))["sparse_random"].split
    grids = rng.normal(size=(n_frames, 3, 4)).astype(np.float32)
    held = np.flatnonzero(split.held_out)
    row = heldout.diagnose(conditions["sparse_random"], split, Predictions(held, grids[held]), binned={"m": binned},
                           store=Store({"m": grids}), references={"m": {f: f"caption {f}" for f in range(n_frames)}},
                           model=FakeModel())
    assert row["training frames"] == n_frames - len(held)
    assert row["encoder: cos to own target"] == pytest.approx(1.0, abs=1e-5)
    assert row["encoder: cos to training mean"] < 0.9 and row["ridge: cos to own target"] < 0.9
    # every caption differs, so the nearest training frame's caption is no better than a shuffled one
    assert row["nearest training frame: matched"] < 0.5


def test_table_a1_record_judges_intervals_by_their_blocks():
    """A bound over 2 blocks may move by a block mean between CPUs (front only: 0.30 -> 0.37); over 20 blocks it may not."""
    from neurrator.evaluation import results

    def recorded(high_few, high_many):
        table = summary([("front_only", "Neurrator", "model", 0.3, 0.28, 0.02, False),
                         ("sparse_random", "Neurrator", "model", 0.7, 0.34, 0.36, True)]).assign(
            **{"n": [700, 90], "block (frames)": [350, 5], "blocks (n_eff)": [2, 20], "distinct sentences": 9,
               "distinct": 0.2, "random caption": 0.3, "word salad": 0.02, "p": "0.25", "q (Holm)": "1.0",
               "matched CI low": [0.29, 0.61], "matched CI high": [high_few, high_many]})
        return {"tables": {"Table A1": heldout.table_a1_record(table)}}

    published = recorded(0.30, 0.78)
    assert results.compare(published, recorded(0.37, 0.78)) == []
    (moved,) = results.compare(published, recorded(0.30, 0.90))
    assert moved.startswith("Table A1 [sparse_random / Neurrator / model, matched CI high]: 0.9 vs published 0.78")
