"""The demo world's natural stimuli: real packaged images and clips, assembled deterministically."""

import hashlib
import time

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import ArtifactError
from neurrator.world import stimuli as world_stimuli
from neurrator.world.stimuli import MOVIE_ONE, MOVIE_THREE, SCENES, build_stimuli, load_stimuli, read_frame_info, save_stimuli

SHORT_MOVIE_THREE = 120
SHAPE = (304, 608)


@pytest.fixture(scope="module")
def stimulus_set():
    return build_stimuli(movie_three_frames=SHORT_MOVIE_THREE, progress=False)


def _digest(stimulus_set) -> list[str]:
    return [hashlib.sha256(array.tobytes()).hexdigest() for array in stimulus_set.arrays().values()]


def _consecutive_correlations(movie: np.ndarray) -> np.ndarray:
    """Pearson correlation of each frame with the next (on every 4th pixel)."""
    vectors = movie[:, ::4, ::4].reshape(len(movie), -1).astype(np.float32)
    vectors -= vectors.mean(axis=1, keepdims=True)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", vectors[1:], vectors[:-1])


def test_shapes_and_types(stimulus_set):
    assert stimulus_set.movie_one.shape == (900, *SHAPE)
    assert stimulus_set.movie_three.shape == (SHORT_MOVIE_THREE, *SHAPE)
    assert stimulus_set.scenes.shape == (118, *SHAPE)
    assert all(array.dtype == np.uint8 for array in stimulus_set.arrays().values())


def test_the_same_seed_builds_the_same_stimuli(stimulus_set):
    again = build_stimuli(movie_three_frames=SHORT_MOVIE_THREE, progress=False)
    assert _digest(again) == _digest(stimulus_set)
    for name in stimulus_set.frame_info:
        pd.testing.assert_frame_equal(again.frame_info[name], stimulus_set.frame_info[name])
    pd.testing.assert_frame_equal(again.sources, stimulus_set.sources)


def test_movie_three_shares_no_source_with_movie_one_or_the_scenes(stimulus_set):
    sources = stimulus_set.sources
    three = sources[sources["stimulus"] == MOVIE_THREE]
    others = sources[sources["stimulus"] != MOVIE_THREE]
    assert not set(three["source"]) & set(others["source"])
    assert not {f.split(" (frames")[0] for f in three["file"]} & {f.split(" (frames")[0] for f in others["file"]}


def test_movie_one_mixes_clips_and_photo_moves_with_cuts_between_segments(stimulus_set):
    info = stimulus_set.frame_info[MOVIE_ONE]
    one = stimulus_set.sources.query("stimulus == @MOVIE_ONE")
    assert {"video clip", "photograph"} <= set(one["kind"])
    assert one["source"].str.startswith("bikes").sum() >= 2 and "carphone" in set(one["source"])

    correlation = _consecutive_correlations(stimulus_set.movie_one)
    segment = info["segment"].to_numpy()
    same = segment[1:] == segment[:-1]
    assert (~same).sum() >= 8  # several cuts ...
    assert np.array_equal(correlation < 0.4, ~same)  # ... exactly where segments change
    within = pd.Series(correlation[same]).groupby(segment[1:][same])
    assert within.median().min() > 0.85 and np.mean(correlation[same] > 0.8) > 0.95  # smooth inside segments
    durations = info.groupby("segment").size() / 30.0
    assert durations.between(1.8, 6.0).all()  # about 2-6 s each
    for _, frames in info.groupby("segment")["frame"]:  # every segment moves
        assert not np.array_equal(stimulus_set.movie_one[frames.min()], stimulus_set.movie_one[frames.max()])


def test_scenes_are_pairwise_distinct(stimulus_set):
    vectors = stimulus_set.scenes.reshape(len(stimulus_set.scenes), -1).astype(np.float32)
    vectors -= vectors.mean(axis=1, keepdims=True)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    correlation = vectors @ vectors.T
    np.fill_diagonal(correlation, 0)
    assert len(vectors) >= 100 and correlation.max() < 0.95
    assert stimulus_set.frame_info[SCENES]["source"].nunique() >= 20


def test_frame_info_describes_every_frame(stimulus_set):
    columns = ["frame", "source", "segment", "vehicle", "animal", "person", "mean_luminance", "rms_contrast"]
    for name, array in stimulus_set.arrays().items():
        info = stimulus_set.frame_info[name]
        assert list(info.columns) == columns and len(info) == len(array)
        assert np.array_equal(info["frame"], np.arange(len(array)))
        assert np.allclose(info["mean_luminance"], array.reshape(len(array), -1).mean(axis=1))
    one = stimulus_set.frame_info[MOVIE_ONE]
    for flag in ("vehicle", "animal", "person"):
        assert 0 < one[flag].mean() < 1  # some frames with, some without
    assert stimulus_set.frame_info[SCENES]["segment"].is_unique


def test_luminance_varies_between_segments(stimulus_set):
    by_segment = stimulus_set.frame_info[MOVIE_ONE].groupby("segment")["mean_luminance"].mean()
    assert by_segment.min() < 50 and by_segment.max() > 110  # dark and bright segments
    assert stimulus_set.frame_info[SCENES]["rms_contrast"].gt(0.01).all()  # no blank scene


def test_every_source_has_a_package_version_and_a_licence_note(stimulus_set):
    sources = stimulus_set.sources
    assert not sources.duplicated(["stimulus", "source"]).any()
    assert sources["package"].str.fullmatch(r"[\w-]+ \d+(\.\d+)+").all()
    assert sources["licence"].str.len().gt(20).all() and sources["content"].str.len().gt(5).all()
    per_stimulus = sources.groupby("stimulus")["n_frames"].sum()
    assert per_stimulus.to_dict() == {name: len(a) for name, a in stimulus_set.arrays().items()}


@pytest.mark.parametrize("n_frames", [1, SHORT_MOVIE_THREE, 900, 3600])
def test_movie_three_plan_fills_any_length_cycling_through_its_sources(n_frames):
    material = world_stimuli._Material()
    plan = world_stimuli._plan(world_stimuli.MOVIE_THREE_SOURCES, n_frames, material, np.random.default_rng(3))
    assert sum(length for _, length, _ in plan) == n_frames
    names = [source.name for source, _, _ in plan]
    assert all(a != b for a, b in zip(names, names[1:]))  # a cut at every join
    if n_frames == 3600:
        assert min(names.count(s.name) for s in world_stimuli.MOVIE_THREE_SOURCES) >= 3
        assert all(60 <= length <= 180 for _, length, _ in plan[:-1])


def test_save_and_load_round_trip(stimulus_set, tmp_path):
    save_stimuli(stimulus_set, tmp_path)
    loaded = load_stimuli(tmp_path)
    assert _digest(loaded) == _digest(stimulus_set) and loaded.params == stimulus_set.params
    for name, table in stimulus_set.frame_info.items():
        pd.testing.assert_frame_equal(loaded.frame_info[name], table)
    pd.testing.assert_frame_equal(loaded.sources, stimulus_set.sources)
    tables = read_frame_info(tmp_path)                   # the planted truth per frame, without the frames
    for name, table in stimulus_set.frame_info.items():
        pd.testing.assert_frame_equal(tables[name], table, check_dtype=False)


def test_loading_without_stimuli_names_the_command_that_builds_them(tmp_path):
    with pytest.raises(ArtifactError, match="neurrator simulate"):
        load_stimuli(tmp_path)
    with pytest.raises(ArtifactError, match="neurrator simulate"):
        read_frame_info(tmp_path)


def test_full_default_build(stimulus_set, record_property):
    start = time.perf_counter()
    full = build_stimuli(progress=False)
    record_property("build_seconds", round(time.perf_counter() - start, 1))
    assert full.movie_three.shape == (900, *SHAPE)
    assert _digest(full)[0::2] == _digest(stimulus_set)[0::2]  # movie one and scenes do not depend on movie three
