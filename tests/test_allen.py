"""neurrator.data.allen against a small simulated world read through allensdk (offline; conftest refuses the network)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from neurrator.data import allen
from neurrator.layout import DataLayout
from neurrator.artifacts import ArtifactError, check_artifact, sidecar_path
from neurrator.data.recording import Recording
from neurrator.world.simulate import WorldConfig, load_ground_truth

from conftest import SMALL_WORLD

CONFIG = WorldConfig(**SMALL_WORLD)
MOVIE_ONE_FRAMES = 900


# ------------------------------------------------------------------------------ fixtures --
@pytest.fixture(scope="module")
def cache_dir(small_world):
    return small_world[0]


@pytest.fixture(scope="module")
def truth(cache_dir):
    return load_ground_truth(cache_dir).set_index("id")


@pytest.fixture(scope="module")
def cache(cache_dir):
    return allen.open_cache(cache_dir)


@pytest.fixture(scope="module")
def sessions(cache):
    return allen.list_sessions(cache)


@pytest.fixture(scope="module")
def recording(cache, sessions):
    session_id = int(sessions.loc[sessions["genotype"] == "Pvalb", "session_id"].iloc[0])
    return allen.load_recording(cache, session_id, progress=False)


def _cache_copy(cache_dir, target):
    """The cache's manifest and tables only (no session files), to break one session's NWB in."""
    target.mkdir()
    for path in cache_dir.glob("*.csv"):
        shutil.copy(path, target / path.name)
    shutil.copy(cache_dir / "manifest.json", target / "manifest.json")
    return target


def _units(regions, **columns) -> pd.DataFrame:
    n = len(regions)
    base = dict(region=regions, quality=["good"] * n, amplitude_cutoff=[0.01] * n, presence_ratio=[0.99] * n,
                isi_violations=[0.1] * n, valid_data=[True] * n)
    base.update(columns)
    return pd.DataFrame(base, index=pd.Index(np.arange(100, 100 + n), name="unit_id"))


# ------------------------------------------------------------------------------ the cache --
def test_open_cache_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neurrator simulate") as err:
        allen.open_cache(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        allen.open_cache(tmp_path)
    paper = DataLayout.resolve(tmp_path / "data", "paper")
    with pytest.raises(FileNotFoundError, match=r"the paper profile reads a real Allen .* -p cache_dir") as err:
        allen.open_cache(paper)
    assert "simulate" not in str(err.value)                 # the demo world is not what the paper profile needs
    assert not paper.root.exists()                          # and the failed run left no empty data/paper/ behind
    with pytest.raises(FileNotFoundError, match="neurrator simulate"):
        allen.open_cache(DataLayout.resolve(tmp_path / "data", "demo"))


def test_short_genotype():
    assert allen.short_genotype("wt/wt") == "wt"
    assert allen.short_genotype("Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt") == "Pvalb"
    assert allen.short_genotype("Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt") == "Vip"
    assert allen.short_genotype(np.nan) == "unknown"


def test_list_sessions(sessions, truth):
    assert list(sessions.columns) == ["session_id", "genotype", "full_genotype", "session_type", "unit_count"]
    assert sorted(sessions["genotype"]) == sorted(CONFIG.genotypes)
    assert set(sessions["session_type"]) == {"brain_observatory_1.1"}
    assert sessions.set_index("genotype").loc["wt", "full_genotype"] == "wt/wt"
    assert sessions.set_index("genotype").loc["Pvalb", "full_genotype"].startswith("Pvalb-IRES-Cre/wt;Ai32")
    passing = truth[truth["passes_qc"]].groupby("session_id").size()
    assert sessions.set_index("session_id")["unit_count"].to_dict() == passing.to_dict()


# ---------------------------------------------------------------------------- load_recording --
def test_units_match_the_truth(recording, truth):
    units = recording.units
    session_truth = truth[truth["session_id"] == recording.session_id]
    assert recording.genotype == "Pvalb" and recording.extra["full_genotype"].startswith("Pvalb-IRES-Cre")
    assert units.index.name == "unit_id" and units.index.is_unique
    assert sorted(units.index) == sorted(session_truth.index)
    assert units["region"].to_dict() == session_truth["structure"].to_dict()
    assert units["channel_id"].to_dict() == session_truth["channel_id"].to_dict()
    assert {"probe", "quality", "firing_rate", "amplitude_cutoff", "presence_ratio", "isi_violations"} <= set(units)
    assert set(units["probe"]) <= {f"probe{c}" for c in "ABCDEF"}
    qc = allen.passes_qc(units)
    assert qc.dtype == bool
    assert qc.to_dict() == session_truth["passes_qc"].astype(bool).to_dict()
    assert 0 < (~qc).sum() < len(units)  # some units fail QC, so QC really is applied after loading


def test_spike_times(recording):
    assert sorted(recording.spike_times) == sorted(recording.units.index)
    for times in recording.spike_times.values():
        assert times.dtype == np.float64 and len(times) > 0
        assert np.all(np.diff(times) >= 0)


def test_presentations(recording):
    table = recording.presentations
    assert list(table.columns) == ["stimulus_name", "start_time", "stop_time", "frame", "stimulus_block", "repeat"]
    assert table["start_time"].is_monotonic_increasing
    assert table["frame"].dtype == np.int64 and table["stimulus_block"].dtype == np.int64
    assert table["repeat"].dtype == np.int64
    assert set(table["stimulus_name"]) == {"natural_movie_one", "natural_movie_three", "natural_scenes"}

    movie = recording.stimulus("natural_movie_one")
    assert len(movie) == CONFIG.movie_one_repeats * MOVIE_ONE_FRAMES
    assert movie["stimulus_block"].nunique() == 2  # the world splits the repeats into two blocks
    assert sorted(movie["repeat"].unique()) == list(range(CONFIG.movie_one_repeats))
    for repeat, rows in movie.groupby("repeat"):
        assert rows["frame"].tolist() == list(range(MOVIE_ONE_FRAMES))
        assert rows["stimulus_block"].nunique() == 1
    first_block = movie["stimulus_block"].min()
    assert movie.loc[movie["stimulus_block"] > first_block, "repeat"].min() == \
        movie.loc[movie["stimulus_block"] == first_block, "repeat"].max() + 1  # numbering continues

    three = recording.stimulus("natural_movie_three")
    assert len(three) == CONFIG.movie_three_repeats * CONFIG.movie_three_frames
    assert sorted(three["repeat"].unique()) == list(range(CONFIG.movie_three_repeats))

    scenes = recording.stimulus("natural_scenes")
    assert len(scenes) == CONFIG.scene_repeats * (CONFIG.n_scenes + 1)
    assert sorted(scenes["frame"].unique()) == list(range(-1, CONFIG.n_scenes))
    assert (scenes["frame"] == -1).sum() == CONFIG.scene_repeats
    for image, rows in scenes.groupby("frame"):
        assert rows["repeat"].tolist() == list(range(CONFIG.scene_repeats))
    with pytest.raises(KeyError, match="natural_movie_one"):
        recording.stimulus("static_gratings")


def test_optogenetic_epochs(recording):
    opto = recording.optogenetic_epochs
    assert len(opto) == 3 * 3 * CONFIG.opto_trials_per_condition
    assert {"start_time", "stop_time", "duration", "level", "condition", "stimulus_name"} <= set(opto)
    assert set(opto["stimulus_name"]) == {"pulse", "raised_cosine"}
    pulses = opto[(opto["duration"] > 0.009) & (opto["duration"] < 0.02)]
    assert len(pulses) == 3 * CONFIG.opto_trials_per_condition
    assert opto["start_time"].min() > recording.presentations["stop_time"].max()


def test_missing_stimulus_names_what_the_session_has(cache, recording):
    with pytest.raises(KeyError, match="drifting_gratings") as err:
        allen.load_recording(cache, recording.session_id, stimuli=("natural_movie_one", "drifting_gratings"),
                             progress=False)
    assert "natural_scenes" in str(err.value) and "natural_movie_three" in str(err.value)


# ------------------------------------------------------------------- broken session files --
def test_garbage_nwb_is_refused_and_kept(cache_dir, recording, tmp_path):
    copy = _cache_copy(cache_dir, tmp_path / "cache")
    cache = allen.open_cache(copy)
    nwb = allen.session_nwb_path(cache, recording.session_id)
    assert nwb.parent.parent == copy
    nwb.parent.mkdir()
    garbage = b"this is not an NWB file\x00" * 100
    nwb.write_bytes(garbage)
    with pytest.raises(allen.SessionFileError) as err:
        allen.load_recording(cache, recording.session_id, progress=False)
    message = str(err.value)
    assert str(nwb) in message and "HDF5" in message and "delete" in message
    assert nwb.read_bytes() == garbage  # the SDK never saw it


def _cache_with_hdf5_session(cache_dir, recording, tmp_path, identifier, groups=()):
    """A cache copy whose session NWB is replaced by a bare HDF5 file holding ``identifier`` and ``groups``."""
    import h5py

    cache = allen.open_cache(_cache_copy(cache_dir, tmp_path / "cache"))
    nwb = allen.session_nwb_path(cache, recording.session_id)
    nwb.parent.mkdir()
    with h5py.File(nwb, "w") as handle:
        handle["identifier"] = identifier
        for group in groups:
            handle.create_group(group)
    return cache, nwb


def test_hdf5_that_is_not_the_session(cache_dir, recording, tmp_path):
    cache, nwb = _cache_with_hdf5_session(cache_dir, recording, tmp_path, "12345")
    with pytest.raises(allen.SessionFileError, match="not this session"):
        allen.load_recording(cache, recording.session_id, progress=False)
    assert nwb.is_file()


def test_sdk_failure_is_a_clear_error_and_deletes_nothing(cache_dir, recording, tmp_path):
    """An HDF5 file that passes the pre-check but is no NWB: the SDK fails, nothing is deleted or fetched."""
    cache, nwb = _cache_with_hdf5_session(cache_dir, recording, tmp_path, str(recording.session_id),
                                          ["units", "units/spike_times"])
    with pytest.raises(RuntimeError, match=f"allensdk could not read session {recording.session_id}") as err:
        allen.load_recording(cache, recording.session_id, progress=False)
    assert str(nwb) in str(err.value)
    assert nwb.is_file()
    assert cache.fetch_tries == 2  # restored after the call


def test_a_session_file_without_spike_times_names_what_is_missing_and_is_kept(cache_dir, recording, tmp_path):
    import h5py

    cache = allen.open_cache(_cache_copy(cache_dir, tmp_path / "cache"))
    nwb = allen.session_nwb_path(cache, recording.session_id)
    nwb.parent.mkdir()
    shutil.copyfile(allen.session_nwb_path(allen.open_cache(cache_dir), recording.session_id), nwb)
    with h5py.File(nwb, "r+") as handle:                   # a valid NWB whose units lost their spike times
        del handle["units/spike_times"], handle["units/spike_times_index"]
    with pytest.raises(allen.SessionFileError, match=r"units table has no spike times .*replace it"):
        allen.load_recording(cache, recording.session_id, progress=False)
    assert nwb.is_file()


def test_missing_nwb_is_not_downloaded(cache_dir, recording, tmp_path):
    cache = allen.open_cache(_cache_copy(cache_dir, tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="download") as err:
        allen.load_recording(cache, recording.session_id, progress=False)
    assert f"session_{recording.session_id}.nwb" in str(err.value)


def test_unsorted_spike_times_name_the_unit(recording, tmp_path):
    allen.check_spike_times({1: np.array([0.1, 0.2, 0.2, 0.3])})  # ties are allowed
    with pytest.raises(ValueError, match="unit 7"):
        allen.check_spike_times({1: np.array([0.1, 0.2]), 7: np.array([0.1, 0.5, 0.4])})
    with pytest.raises(ValueError, match="unit 8.*NaN"):
        allen.check_spike_times({8: np.array([0.1, np.nan])})
    unit = int(recording.units.index[3])
    broken = {**recording.spike_times, unit: recording.spike_times[unit][::-1].copy()}
    bad = Recording(recording.session_id, recording.genotype, recording.units, broken,
                    recording.presentations, recording.optogenetic_epochs, dict(recording.extra))
    with pytest.raises(ValueError, match=f"unit {unit}"):
        allen.save_recording(bad, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


# --------------------------------------------------------------------------- infer_repeats --
def test_infer_repeats_movie_blocks_shuffled():
    frames = np.r_[np.tile(np.arange(5), 2), np.arange(5)]
    table = pd.DataFrame(dict(stimulus_name="natural_movie_one", frame=frames.astype(float),
                              stimulus_block=np.r_[np.full(10, 3.0), np.full(5, 7.0)],
                              start_time=np.r_[np.arange(10.0), 100 + np.arange(5.0)]))
    expected = np.repeat([0, 1, 2], 5)
    np.testing.assert_array_equal(allen.infer_repeats(table), expected)
    order = np.random.default_rng(0).permutation(len(table))
    shuffled = table.iloc[order]
    np.testing.assert_array_equal(allen.infer_repeats(shuffled), expected[order])
    # a new block that starts at frame 0 right after a full repeat, with no frame decrease lost
    single = pd.DataFrame(dict(stimulus_name="natural_movie_three", frame=[0, 1, 2, 3, 4],
                               stimulus_block=[1, 1, 1, 2, 2], start_time=[0, 1, 2, 3, 4]))
    np.testing.assert_array_equal(allen.infer_repeats(single), [0, 0, 0, 1, 1])


def test_infer_repeats_scenes_with_blanks_and_two_stimuli():
    rng = np.random.default_rng(1)
    order = np.concatenate([rng.permutation(np.arange(-1, 6)) for _ in range(3)])
    scenes = pd.DataFrame(dict(stimulus_name="natural_scenes", frame=order, stimulus_block=np.r_[[2] * 14, [5] * 7],
                               start_time=1000 + np.arange(len(order)) * 0.25))
    movie = pd.DataFrame(dict(stimulus_name="natural_movie_one", frame=np.tile(np.arange(4), 2),
                              stimulus_block=1, start_time=np.arange(8.0)))
    table = pd.concat([scenes, movie], ignore_index=True)
    shuffle = rng.permutation(len(table))
    table = table.iloc[shuffle].reset_index(drop=True)
    repeats = allen.infer_repeats(table)
    assert repeats.dtype == np.int64 and len(repeats) == len(table)
    got = table.assign(repeat=repeats)
    for image, rows in got[got["stimulus_name"] == "natural_scenes"].sort_values("start_time").groupby("frame"):
        assert rows["repeat"].tolist() == [0, 1, 2], image
    moving = got[got["stimulus_name"] == "natural_movie_one"].sort_values("start_time")
    assert moving["repeat"].tolist() == [0] * 4 + [1] * 4


# ----------------------------------------------------------------------------- QC and pools --
def test_passes_qc_rules():
    units = _units(["VISp", "VISp", "LGd", None, "None", np.nan, "CA1", "VISl", "VISl", "VISam"],
                   quality=["good", "noise"] + ["good"] * 8,
                   amplitude_cutoff=[0.01] * 6 + [0.2, 0.01, 0.01, 0.01],
                   presence_ratio=[0.99] * 7 + [0.5, 0.99, 0.99],
                   isi_violations=[0.1] * 8 + [0.9, 0.1],
                   valid_data=[True] * 9 + [False])
    np.testing.assert_array_equal(allen.passes_qc(units).to_numpy(),
                                  [True, False, True, False, False, False, False, False, False, False])
    relaxed = allen.passes_qc(units, amplitude_cutoff_maximum=None, presence_ratio_minimum=0.4,
                              isi_violations_maximum=1.0)
    np.testing.assert_array_equal(relaxed.to_numpy(),
                                  [True, False, True, False, False, False, True, True, True, False])
    assert allen.QC_DEFAULTS == dict(amplitude_cutoff_maximum=0.1, presence_ratio_minimum=0.95,
                                     isi_violations_maximum=0.5)
    with pytest.raises(TypeError, match="snr_minimum"):
        allen.passes_qc(units, snr_minimum=1)


def test_select_units_pools(recording):
    units, qc = recording.units, allen.passes_qc(recording.units)
    for pool, regions in allen.REGION_POOLS.items():
        if pool == "hippocampus" or regions is None:
            continue
        ids = allen.select_units(units, pool)
        assert len(ids) > 0 and set(units.loc[ids, "region"]) <= set(regions) and qc[ids].all()
    assert set(allen.select_units(units, "visual cortex")) == \
        set(allen.select_units(units, "VISp")) | set(allen.select_units(units, "higher visual"))
    assert set(allen.select_units(units, "all")) == set(units.index[qc])
    assert len(allen.select_units(units, "all", qc=False)) == len(units)
    assert set(units.loc[allen.select_units(units, "hippocampus"), "region"]) <= {"CA1", "CA3", "DG"}
    assert set(allen.select_units(units, ["LGd", "LP"], qc=False)) == set(units.index[units["region"].isin(["LGd", "LP"])])


def test_select_units_empty_pool_lists_regions():
    units = _units(["VISp", "VISl", "CA1", "LGd"], amplitude_cutoff=[0.01, 0.01, 0.01, 0.5])
    with pytest.raises(ValueError) as err:
        allen.select_units(units, "LGd")
    message = str(err.value)
    assert "'LGd'" in message and "amplitude_cutoff_maximum" in message
    assert "VISp" in message and "CA1" in message
    assert list(allen.select_units(units, "LGd", qc=False)) == [103]
    with pytest.raises(ValueError, match="unknown region pool 'V1'"):
        allen.select_units(units, "V1")


# ---------------------------------------------------------------------------- processed copy --
def test_save_read_roundtrip(recording, data_dir):
    path = DataLayout.resolve(profile="demo").recording(recording.session_id)
    assert path == data_dir / "demo" / "recordings" / f"session_{recording.session_id}.npz"
    allen.save_recording(recording, path)
    meta = check_artifact(path, made_by="01_preprocess")
    assert meta["params"]["stimuli"] == list(recording.extra["stimuli"])
    assert meta["params"]["source"] == recording.extra["nwb_sha256"] == allen.session_file_identity(recording.extra["nwb_path"])
    back = allen.read_recording(path, params=allen.recording_params(recording))
    assert (back.session_id, back.genotype) == (recording.session_id, recording.genotype)
    pd.testing.assert_frame_equal(back.units, recording.units)
    pd.testing.assert_frame_equal(back.presentations, recording.presentations)
    pd.testing.assert_frame_equal(back.optogenetic_epochs, recording.optogenetic_epochs)
    assert list(back.spike_times) == list(recording.spike_times)
    for unit, times in recording.spike_times.items():
        assert back.spike_times[unit].dtype == np.float64
        np.testing.assert_array_equal(back.spike_times[unit], times)
    assert back.extra == recording.extra
    with pytest.raises(ArtifactError, match="other parameters"):
        allen.read_recording(path, params={**allen.recording_params(recording), "stimuli": ["natural_scenes"]})


def test_empty_optogenetic_table_roundtrips(recording, tmp_path):
    empty = allen._opto_table(None)
    plain = Recording(recording.session_id, "wt", recording.units, recording.spike_times, recording.presentations,
                      empty, {})
    allen.save_recording(plain, tmp_path / "plain.npz")
    back = allen.read_recording(tmp_path / "plain.npz")
    assert back.optogenetic_epochs.empty and list(back.optogenetic_epochs.columns) == list(empty.columns)


def test_read_missing_or_broken_copy(recording, tmp_path):
    with pytest.raises(ArtifactError, match="01_preprocess"):
        allen.read_recording(tmp_path / "session_1.npz")
    path = allen.save_recording(recording, tmp_path / "session.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ArtifactError, match="01_preprocess"):
        allen.read_recording(path)
    path.write_bytes(b"\x00" * len(data))  # same size, garbage
    with pytest.raises(ArtifactError, match="01_preprocess"):
        allen.read_recording(path)
    allen.save_recording(recording, path)
    sidecar_path(path).unlink()  # a crash between data and sidecar
    with pytest.raises(ArtifactError, match="01_preprocess"):
        allen.read_recording(path)


def test_ensure_recording_reads_the_copy_or_loads_once(recording, cache_dir, data_dir, monkeypatch):
    calls = []

    def fake_load(cache, session_id, stimuli, progress):
        calls.append((session_id, tuple(stimuli)))
        return recording

    monkeypatch.setattr(allen, "load_recording", fake_load)
    layout = DataLayout.resolve(profile="demo", cache_dir=cache_dir)
    first = allen.ensure_recording(layout, recording.session_id, progress=False)
    assert first is recording and len(calls) == 1
    assert layout.recording(recording.session_id).is_file()
    again = allen.ensure_recording(layout, recording.session_id, progress=False)
    assert len(calls) == 1  # read from the processed copy
    pd.testing.assert_frame_equal(again.units, recording.units)


def test_a_moved_data_directory_reuses_its_copies_and_a_changed_session_file_does_not(recording, cache_dir, tmp_path,
                                                                                      monkeypatch):
    calls = []
    monkeypatch.setattr(allen, "load_recording", lambda *a, **k: calls.append(a[1]) or recording)
    first = tmp_path / "first"
    shutil.copytree(cache_dir, first / "cache")
    allen.ensure_recording(DataLayout.resolve(first / "data", "demo", first / "cache"), recording.session_id,
                           progress=False)
    assert len(calls) == 1
    shutil.move(first, tmp_path / "moved")                     # data directory and cache moved together
    moved = DataLayout.resolve(tmp_path / "moved" / "data", "demo", tmp_path / "moved" / "cache")
    allen.ensure_recording(moved, recording.session_id, progress=False)
    assert len(calls) == 1                                     # read from the processed copy, not the cache again
    nwb = allen.session_nwb_path(allen.open_cache(moved.allen_cache), recording.session_id)
    with open(nwb, "ab") as handle:                            # the session file changed (e.g. a re-simulated world)
        handle.write(b"\0")
    allen.ensure_recording(moved, recording.session_id, progress=False)
    assert len(calls) == 2


def test_session_pools_counts_each_processed_session(recording, data_dir):
    layout = DataLayout.resolve(profile="demo")
    with pytest.raises(FileNotFoundError, match="01_preprocess"):
        allen.session_pools(layout)
    allen.save_recording(recording, layout.recording(recording.session_id))
    pools = allen.session_pools(layout)
    assert list(pools.index) == [recording.session_id] and pools.index.name == "session"
    expected = allen.units_per_pool(recording.units)
    assert pools.loc[recording.session_id, "VISp"] == expected["VISp"]
    assert pools.loc[recording.session_id, "visual units"] == expected["visual cortex"] + expected["LGd"]
    assert 0 < pools.loc[recording.session_id, "visual units"] < pools.loc[recording.session_id, "all"]


def test_region_pool_splits_units_without_overlap():
    from neurrator.data.allen import DISJOINT_POOLS, REGION_POOLS, region_pool

    assert [region_pool(r) for r in ("LGd", "VISp", "VISam", "CA1", "LP", None)] == [
        "LGd", "VISp", "higher visual", "hippocampus", "other", "other"]
    members = [r for pool in DISJOINT_POOLS for r in REGION_POOLS[pool]]
    assert len(members) == len(set(members))          # no region in two pools
