"""The Allen cache writer: everything is read back only through allensdk's own EcephysProjectCache.

conftest.py refuses non-loopback sockets, so any download attempt (a missing or invalid file)
fails these tests.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from neurrator.data.allen import open_cache
from neurrator.world.allen_cache import AllenCacheError, session_nwb_path, write_cache, write_session_nwb, write_tables
from neurrator.world.session import GENOTYPES, SESSION_TYPE, STIMULUS_INDEX, STRUCTURE_IDS, SimulatedSession

MOVIE_ONE_FRAMES, MOVIE_THREE_FRAMES, N_SCENES = 30, 20, 10
FRAME_S, SCENE_S = 1 / 30, 0.25
PROBE_AREAS = [("VISp", "CA1", "LGd"), ("VISl", "DG", "LP"), ("VISam", "CA3", "APN")]
N_CHANNELS, N_OUTSIDE = 24, 4  # the top N_OUTSIDE channels of each probe are outside the brain
INVALID_CHANNEL = 5  # local index of a channel marked valid_data=False on the first probe


# ------------------------------------------------------------------------------ builders --
def _probes_and_channels(session_id: int, n_probes: int):
    probes, channels = [], []
    for p in range(n_probes):
        probe_id = session_id * 10 + p
        probes.append(dict(id=probe_id, ecephys_session_id=session_id, name=f"probe{'ABC'[p]}", phase="3a",
                           sampling_rate=30000.0 + p, lfp_sampling_rate=2500.0,
                           lfp_temporal_subsampling_factor=2.0, has_lfp_data=False))
        for c in range(N_CHANNELS):
            outside = c >= N_CHANNELS - N_OUTSIDE
            area = None if outside else PROBE_AREAS[p][2 - c * 3 // (N_CHANNELS - N_OUTSIDE)]
            channels.append(dict(
                id=probe_id * 100 + c, ecephys_probe_id=probe_id, local_index=c,
                probe_horizontal_position=[43, 11, 59, 27][c % 4], probe_vertical_position=20 * (c // 2 + 1),
                anterior_posterior_ccf_coordinate=8000.0 + c, dorsal_ventral_ccf_coordinate=3000.0 - 10 * c,
                left_right_ccf_coordinate=7000.0, ecephys_structure_id=np.nan if outside else STRUCTURE_IDS[area],
                ecephys_structure_acronym=area, valid_data=(p, c) != (0, INVALID_CHANNEL)))
    return pd.DataFrame(probes), pd.DataFrame(channels)


def _units(session_id: int, channels: pd.DataFrame, rng, n_units: int = 20):
    """Units with metrics; every few fails one QC criterion, two sit outside the brain, one on an
    invalid channel, one is noise."""
    usable = channels["ecephys_structure_acronym"].notna() & channels["valid_data"]
    pools = {"inside": channels[usable], "outside": channels[channels["ecephys_structure_acronym"].isna()],
             "invalid": channels[~channels["valid_data"]]}
    rows = []
    for k in range(n_units):
        pool = pools["outside" if k in (4, 13) else "invalid" if k == 9 else "inside"]
        channel = pool.iloc[(k * 7) % len(pool)]
        rows.append(dict(
            id=session_id * 1000 + k, ecephys_channel_id=int(channel["id"]), local_index=k, cluster_id=k,
            quality="noise" if k == 17 else "good", firing_rate=5.0,
            amplitude_cutoff=0.3 if k % 6 == 1 else 0.02,
            presence_ratio=0.5 if k % 6 == 2 else 0.99,
            isi_violations=2.0 if k % 6 == 3 else 0.05,
            snr=3.0, isolation_distance=50.0, l_ratio=0.01, d_prime=4.0, nn_hit_rate=0.9, nn_miss_rate=0.01,
            max_drift=10.0, cumulative_drift=100.0, silhouette_score=0.1, waveform_duration=0.4,
            waveform_halfwidth=0.2, PT_ratio=0.5, repolarization_slope=0.5, recovery_slope=-0.1,
            amplitude=float(rng.uniform(50, 300)), spread=60.0, velocity_above=0.1, velocity_below=-0.1))
    return pd.DataFrame(rows)


def _passes_default_qc(unit, channels: pd.DataFrame) -> bool:
    channel = channels.set_index("id").loc[unit.ecephys_channel_id]
    return (unit.quality == "good" and unit.amplitude_cutoff <= 0.1 and unit.presence_ratio >= 0.95
            and unit.isi_violations <= 0.5 and channel["ecephys_structure_acronym"] is not None
            and bool(channel["valid_data"]))


def _stimulus_table(rng) -> pd.DataFrame:
    rows, t = [], 1.0

    def add(name, block, frame, duration):
        nonlocal t
        rows.append(dict(start_time=t, stop_time=t + duration, stimulus_name=name, stimulus_block=block,
                         stimulus_index=float(STIMULUS_INDEX[name]), frame=frame))
        t += duration

    def movie(name, block, n_frames, repeats):
        for _ in range(repeats):
            for f in range(n_frames):
                add(name, block, float(f), FRAME_S)

    add("spontaneous", np.nan, np.nan, 5.0)
    movie("natural_movie_three", 0.0, MOVIE_THREE_FRAMES, 2)
    add("spontaneous", np.nan, np.nan, 3.0)
    movie("natural_movie_one", 1.0, MOVIE_ONE_FRAMES, 2)
    for image in rng.permutation(np.repeat(np.arange(-1, N_SCENES), 2)):
        add("natural_scenes", 2.0, float(image), SCENE_S)
    movie("natural_movie_one", 3.0, MOVIE_ONE_FRAMES, 1)
    add("spontaneous", np.nan, np.nan, 3.0)
    return pd.DataFrame(rows)


def _optogenetic_table(t0: float, rng) -> pd.DataFrame:
    kinds = [("pulse", "a single square pulse", 0.005), ("pulse", "a single square pulse", 0.010),
             ("raised_cosine", "half-period of a cosine wave", 1.0)]
    trials = [(kind, level) for kind in kinds for level in (1.0, 2.0) for _ in range(3)]
    rows, t = [], t0
    for i in rng.permutation(len(trials)):
        (name, condition, duration), level = trials[i]
        rows.append(dict(start_time=t, stop_time=t + duration, condition=condition, level=level,
                         stimulus_name=name, duration=duration))
        t += duration + 1.5
    return pd.DataFrame(rows)


def make_session(session_id: int, genotype: str, n_probes: int, seed: int) -> SimulatedSession:
    rng = np.random.default_rng(seed)
    probes, channels = _probes_and_channels(session_id, n_probes)
    units = _units(session_id, channels, rng)
    stimuli = _stimulus_table(rng)
    opto = _optogenetic_table(stimuli["stop_time"].max() + 2.0, rng)
    end = opto["stop_time"].max() + 1.0
    spikes = {int(u): np.sort(rng.uniform(0, end, rng.integers(20, 200))) for u in units["id"]}
    return SimulatedSession(session_id=session_id, genotype=genotype, probes=probes, channels=channels,
                            units=units, spike_times=spikes, stimulus_table=stimuli,
                            optogenetic_stimulation=opto, specimen_id=session_id + 7, age_in_days=100.0 + seed)


def make_templates(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"natural_movie_one": rng.integers(0, 256, (MOVIE_ONE_FRAMES, 30, 60), dtype=np.uint8),
            "natural_movie_three": rng.integers(0, 256, (MOVIE_THREE_FRAMES, 30, 60), dtype=np.uint8),
            "natural_scenes": rng.integers(0, 256, (N_SCENES, 30, 60), dtype=np.uint8)}


# ------------------------------------------------------------------------------ fixtures --
@pytest.fixture(scope="module")
def written(tmp_path_factory):
    sessions = [make_session(100_000_000, GENOTYPES["wt"], n_probes=3, seed=1),
                make_session(732592105, GENOTYPES["Sst"], n_probes=2, seed=2)]
    templates = make_templates()
    cache_dir = tmp_path_factory.mktemp("allen_cache")
    start = time.perf_counter()
    manifest = write_cache(cache_dir, sessions, templates, progress=True)
    seconds_per_session = (time.perf_counter() - start) / len(sessions)
    return dict(sessions={s.session_id: s for s in sessions}, templates=templates, manifest=manifest,
                cache_dir=cache_dir, seconds_per_session=seconds_per_session)


@pytest.fixture(scope="module")
def cache(written):
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    return EcephysProjectCache.from_warehouse(manifest=str(written["manifest"]))


@pytest.fixture(scope="module")
def read_back(written, cache):
    """Each session as ``cache.get_session_data`` returns it (allensdk caches what was touched)."""
    return {session_id: cache.get_session_data(session_id) for session_id in written["sessions"]}


# --------------------------------------------------------------------------------- tests --
def test_layout_and_write_time(written):
    cache_dir = written["cache_dir"]
    for name in ("manifest.json", "sessions.csv", "probes.csv", "channels.csv", "units.csv"):
        assert (cache_dir / name).is_file()
    for session_id in written["sessions"]:
        assert session_nwb_path(cache_dir, session_id).is_file()
    assert not list(cache_dir.rglob("*.tmp")), "temporary files left behind"
    assert written["seconds_per_session"] < 20


def test_manifest_is_what_the_sdk_builds(written, tmp_path):
    from allensdk.brain_observatory.ecephys.ecephys_project_api import EcephysProjectFixedApi
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    reference = tmp_path / "manifest.json"
    EcephysProjectCache(fetch_api=EcephysProjectFixedApi(), stream_writer=lambda *a, **k: None,
                        manifest=str(reference))
    assert written["manifest"].read_text() == reference.read_text()


def test_session_table(written, cache):
    table = cache.get_session_table()
    assert sorted(table.index) == sorted(written["sessions"])
    for session_id, session in written["sessions"].items():
        assert table.loc[session_id, "full_genotype"] == session.genotype
        assert table.loc[session_id, "session_type"] == SESSION_TYPE
    assert set(table["full_genotype"]) == {GENOTYPES["wt"], GENOTYPES["Sst"]}


def test_units_default_qc(written, cache):
    units = cache.get_units()
    expected, rejected = {}, set()
    for session in written["sessions"].values():
        acronyms = session.channels.set_index("id")["ecephys_structure_acronym"]
        for unit in session.units.itertuples():
            if _passes_default_qc(unit, session.channels):
                expected[unit.id] = acronyms[unit.ecephys_channel_id]
            else:
                rejected.add(unit.id)
    assert rejected and expected
    assert set(units.index) == set(expected)
    assert units["ecephys_structure_acronym"].to_dict() == expected


def test_session_data_units_and_spikes(written, read_back):
    for session_id, session in written["sessions"].items():
        loaded = read_back[session_id]
        assert sorted(loaded.probes.index) == sorted(session.probes["id"])
        assert len(loaded.channels) == int(session.channels["valid_data"].sum())
        assert loaded.full_genotype == session.genotype  # from the NWB subject
        kept = [u.id for u in session.units.itertuples() if _passes_default_qc(u, session.channels)]
        assert sorted(loaded.units.index) == sorted(kept)
        acronyms = session.channels.set_index("id")["ecephys_structure_acronym"]
        peak = session.units.set_index("id")["ecephys_channel_id"]
        assert loaded.units["ecephys_structure_acronym"].to_dict() == {u: acronyms[peak[u]] for u in kept}
        assert sorted(loaded.spike_times) == sorted(kept)
        for unit_id in kept:
            np.testing.assert_array_equal(loaded.spike_times[unit_id], session.spike_times[unit_id])
            assert loaded.spike_times[unit_id].dtype == np.float64


def test_session_data_stimuli_and_optotagging(written, read_back):
    for session_id, session in written["sessions"].items():
        loaded = read_back[session_id]
        table = session.stimulus_table
        for name in ("natural_movie_one", "natural_movie_three", "natural_scenes"):
            got = loaded.get_stimulus_table([name]).sort_values("start_time")
            want = table[table["stimulus_name"] == name].sort_values("start_time")
            assert len(got) == len(want)
            np.testing.assert_array_equal(got["frame"].astype(float).to_numpy(), want["frame"].to_numpy())
            np.testing.assert_allclose(got["start_time"].to_numpy(), want["start_time"].to_numpy())
        scenes = loaded.get_stimulus_table(["natural_scenes"])
        assert (scenes["frame"].astype(float) == -1).sum() == 2
        assert len(loaded.get_stimulus_table(["natural_movie_one"])["stimulus_block"].unique()) == 2
        assert len(loaded.stimulus_presentations) == len(table)

        opto = loaded.optogenetic_stimulation_epochs
        want = session.optogenetic_stimulation
        assert len(opto) == len(want)
        np.testing.assert_allclose(opto["start_time"].to_numpy(), want["start_time"].to_numpy())
        np.testing.assert_allclose(opto["duration"].to_numpy(), want["duration"].to_numpy())
        pulses = opto[(opto["duration"] > 0.009) & (opto["duration"] < 0.02)]
        assert len(pulses) == int(((want["duration"] > 0.009) & (want["duration"] < 0.02)).sum()) > 0
        assert set(opto["stimulus_name"]) == {"pulse", "raised_cosine"}
        assert "half-period of a cosine wave" in set(opto["condition"])


def test_templates(written, cache):
    templates = written["templates"]
    for number, key in ((1, "natural_movie_one"), (3, "natural_movie_three")):
        movie = cache.get_natural_movie_template(number)
        assert movie.shape == templates[key].shape and movie.dtype == np.uint8
        np.testing.assert_array_equal(movie, templates[key])
    for i, image in enumerate(templates["natural_scenes"]):
        np.testing.assert_array_equal(cache.get_natural_scene_template(i), image)


def test_unreadable_nwb_raises_and_leaves_nothing(tmp_path):
    session = make_session(800000001, GENOTYPES["Vip"], n_probes=2, seed=3)
    session.units["not_an_allen_metric"] = 1.0  # allensdk's Unit() rejects unknown columns
    path = session_nwb_path(tmp_path, session.session_id)
    with pytest.raises(AllenCacheError, match="allensdk cannot read"):
        write_session_nwb(session, path)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []


def test_the_read_back_is_what_refuses_a_bad_session(tmp_path):
    """``validate=False`` (a world's later sessions) writes what the read-back would have refused."""
    session = make_session(800000003, GENOTYPES["Vip"], n_probes=2, seed=3)
    session.units["not_an_allen_metric"] = 1.0
    path = write_session_nwb(session, session_nwb_path(tmp_path, session.session_id), validate=False)
    assert path.is_file()
    with pytest.raises(AllenCacheError, match="allensdk cannot read"):
        write_session_nwb(session, tmp_path / "again.nwb")


def test_two_valued_stimulus_block_is_refused(tmp_path):
    session = make_session(800000002, GENOTYPES["Pvalb"], n_probes=2, seed=4)
    blocks = session.stimulus_table["stimulus_block"]
    session.stimulus_table["stimulus_block"] = blocks.where(blocks.isna() | (blocks < 1), 1.0)
    path = session_nwb_path(tmp_path, session.session_id)
    with pytest.raises(AllenCacheError, match="stimulus_block"):
        write_session_nwb(session, path)
    assert not path.exists()


def test_tables_list_exactly_the_given_sessions(written, tmp_path):
    session = next(iter(written["sessions"].values()))
    write_tables(tmp_path, [session])
    sessions = pd.read_csv(tmp_path / "sessions.csv", index_col="id")
    assert list(sessions.index) == [session.session_id]
    units = pd.read_csv(tmp_path / "units.csv", index_col="id")
    usable = session.channels[session.channels["ecephys_structure_acronym"].notna() & session.channels["valid_data"]]
    listed = session.units[session.units["ecephys_channel_id"].isin(usable["id"])]["id"]
    assert sorted(units.index) == sorted(listed) and len(listed) == len(session.units) - 3
    assert {"duration", "halfwidth", "ecephys_channel_id"} <= set(units.columns)


def test_open_cache(written, tmp_path):
    with pytest.raises(FileNotFoundError, match="neurrator simulate"):
        open_cache(tmp_path / "missing" / "manifest.json")
    cache = open_cache(written["manifest"])
    assert sorted(cache.get_session_table().index) == sorted(written["sessions"])
