"""Artifacts the chain hands from one chapter to the next: session selection, the persisted split,
the optotagging table, a damaged processed recording."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import ArtifactError
from neurrator.data import allen, optotagging, splits
from neurrator.layout import DataLayout


def _sessions():
    return pd.DataFrame({"session_id": [30, 10, 20], "genotype": ["wt", "Sst", "Vip"], "unit_count": [500, 900, 900]})


def test_sessions_are_selected_by_id_or_by_unit_count():
    table = _sessions()
    assert allen.select_sessions(table) is table
    assert allen.select_sessions(table, 2)["session_id"].tolist() == [10, 20]        # ties broken by id
    assert allen.select_sessions(table, [30, 10])["session_id"].tolist() == [30, 10]
    with pytest.raises(ValueError, match=r"\[99\] are not"):
        allen.select_sessions(table, [99])
    with pytest.raises(ValueError, match="at least one"):
        allen.select_sessions(table, 0)


def test_a_missing_session_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"session 715093703: .*get_session_data\(715093703\).*sessions"):
        allen.check_session_file(tmp_path / "session_715093703.nwb", 715093703)


def test_the_split_round_trips_and_is_checked(tmp_path):
    frame = np.tile(np.repeat(np.arange(40), 4), 6)
    repeat = np.repeat(np.arange(6), 160)
    start = np.arange(len(frame)) / 120 + repeat
    split = splits.split_bins(frame, repeat, start, regime="sparse_random", seed=3)
    path = DataLayout(tmp_path, "demo").split(1, "movie", "sparse_random")
    splits.save_split(split, path, made_by="03_train", params={"session_id": 1})
    back = splits.read_split(path, params={"regime": "sparse_random", "guard_frames": 0, "session_id": 1}, made_by="03_train")
    assert back.regime == split.regime and back.guard_frames == 0
    assert np.array_equal(back.labels, split.labels) and np.array_equal(back.held_out, split.held_out)
    assert all(np.array_equal(back.centres[k], split.centres[k]) for k in split.centres)
    with pytest.raises(ArtifactError, match="other parameters"):
        splits.read_split(path, params={"regime": "sparse_random", "guard_frames": 0, "session_id": 2}, made_by="03_train")
    guarded = splits.split_bins(frame, repeat, start, regime="sparse_random", seed=3, guard_frames=2)
    splits.save_split(guarded, path, made_by="03_train", params={"session_id": 1})
    assert splits.read_split(path, made_by="03_train").guard_frames == 2
    with pytest.raises(ArtifactError, match="guard_frames"):   # a split with another band is not the one asked for
        splits.read_split(path, params={"regime": "sparse_random", "guard_frames": 0, "session_id": 1}, made_by="03_train")
    with pytest.raises(ArtifactError, match="03_train"):
        splits.read_split(path.with_name("absent.npz"), made_by="03_train")


def test_optotagging_table_has_a_sidecar(tmp_path):
    tags = pd.DataFrame({"region": ["VISp", "VISl"], "ratio": [3.5, 0.4], "tagged": [True, False]},
                        index=pd.Index([7, 9], name="unit_id"))
    path = optotagging.save_tags(tags, tmp_path / "optotagging.csv", sessions=[1, 2])
    pd.testing.assert_frame_equal(optotagging.read_tags(path, sessions=[1, 2]), tags)
    with pytest.raises(ArtifactError, match="01_preprocess"):
        optotagging.read_tags(path, sessions=[1])


def test_a_column_that_cannot_be_restored_is_an_error_not_silence(tmp_path):
    units = pd.DataFrame({"region": pd.Categorical(["VISp", "LGd"])}, index=pd.Index([1, 2], name="unit_id"))
    arrays = {}
    schema = allen._pack_table(units, "units", arrays)
    schema["columns"][1]["dtype"] = "int64"            # text that claims to be integers
    with pytest.raises(ArtifactError, match="'region'.*int64.*01_preprocess"):
        allen._unpack_table(json.loads(json.dumps(schema)), arrays)
