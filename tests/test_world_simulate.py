"""The simulated demo world, read back through allensdk offline, carries the planted codes."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import SMALL_WORLD
from neurrator.data.allen import open_cache
from neurrator.world.simulate import (WorldConfig, layout_session, load_ground_truth, simulate_session, simulate_world,
                                      world_is_current)
from neurrator.world.stimuli import STIMULUS_FOLDER, frame_contents, load_stimuli

CONFIG = WorldConfig(**SMALL_WORLD)


@pytest.fixture(scope="module")
def world(small_world):
    cache_dir = small_world[0]
    cache = open_cache(cache_dir / "manifest.json")
    truth = load_ground_truth(cache_dir)
    return cache_dir, cache, truth


@pytest.fixture(scope="module")
def sst_session(world):
    _, cache, truth = world
    sessions = cache.get_session_table()
    session_id = int(sessions.index[sessions["full_genotype"].str.startswith("Sst")][0])
    return cache.get_session_data(session_id), truth[truth["session_id"] == session_id].set_index("id")


def _movie_counts(session, unit_ids, stimulus="natural_movie_one"):
    """(repeats, frames, units) spike counts per movie frame, from the SDK's own tables."""
    table = session.get_stimulus_table([stimulus])
    frames = table["frame"].astype(int).to_numpy()
    repeat = np.cumsum(np.r_[1, np.diff(frames) < 0]) - 1
    n_frames = frames.max() + 1
    counts = np.zeros((repeat.max() + 1, n_frames, len(unit_ids)))
    for j, unit in enumerate(unit_ids):
        times = session.spike_times[unit]
        index = np.searchsorted(table["start_time"].to_numpy(), times, side="right") - 1
        valid = (index >= 0) & (times < table["stop_time"].to_numpy()[np.clip(index, 0, None)])
        np.add.at(counts[:, :, j], (repeat[index[valid]], frames[index[valid]]), 1)
    return counts


def test_cache_tables_match_the_simulation(world):
    cache_dir, cache, truth = world
    sessions = cache.get_session_table()
    assert len(sessions) == 3 and set(sessions["session_type"]) == {"brain_observatory_1.1"}
    assert sorted(sessions["full_genotype"]) == ["Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
                                                 "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt", "wt/wt"]
    units = cache.get_units()  # Allen default QC
    expected = truth[truth["passes_qc"]]
    assert set(units.index) == set(expected["id"])
    assert (units.loc[expected["id"], "ecephys_structure_acronym"].to_numpy() == expected["structure"].to_numpy()).all()
    assert {"VISp", "VISl", "LGd", "CA1"} <= set(units["ecephys_structure_acronym"])


def test_stimulus_tables_templates_and_opto(world, sst_session):
    cache_dir, cache, _ = world
    session, truth = sst_session
    stimuli = load_stimuli(cache_dir / STIMULUS_FOLDER)
    movie = session.get_stimulus_table(["natural_movie_one"])
    assert len(movie) == 900 * CONFIG.movie_one_repeats and movie["frame"].astype(int).max() == 899
    assert movie["stimulus_block"].nunique() == 2  # repeats split across two blocks
    three = session.get_stimulus_table(["natural_movie_three"])
    assert len(three) == CONFIG.movie_three_frames * CONFIG.movie_three_repeats
    scenes = session.get_stimulus_table(["natural_scenes"])
    assert len(scenes) == (CONFIG.n_scenes + 1) * CONFIG.scene_repeats and (scenes["frame"].astype(int) == -1).sum() == CONFIG.scene_repeats
    np.testing.assert_array_equal(cache.get_natural_movie_template(1), stimuli.movie_one)
    np.testing.assert_array_equal(cache.get_natural_scene_template(5), stimuli.scenes[5])
    contents = frame_contents(cache_dir / STIMULUS_FOLDER)
    assert [len(contents[name]) for name in ("natural_movie_one", "natural_movie_three", "natural_scenes")] == \
        [900, CONFIG.movie_three_frames, CONFIG.n_scenes]
    by_source = dict(zip(stimuli.sources["source"], stimuli.sources["content"]))
    assert contents["natural_movie_one"][0] == by_source[stimuli.frame_info["natural_movie_one"]["source"][0]]
    assert len(set(contents["natural_movie_one"])) > 3   # one description per source, several sources
    epochs = session.optogenetic_stimulation_epochs
    assert ((epochs["duration"] > 0.009) & (epochs["duration"] < 0.02)).sum() == 3 * CONFIG.opto_trials_per_condition


def test_lgd_is_repeat_locked_and_hippocampus_is_not(world, sst_session):
    session, truth = sst_session
    reliability = {}
    for code in ("lgd_dog", "v1_energy", "hpc_drift"):
        ids = truth.index[(truth["code"] == code) & (truth["firing_rate"] > 1) & truth["passes_qc"]].to_numpy()
        counts = _movie_counts(session, ids)
        first, second = counts[::2].mean(0), counts[1::2].mean(0)     # split halves of the repeats
        smooth = lambda x: pd.DataFrame(x).rolling(5, min_periods=1).mean().to_numpy()  # noqa: E731
        a, b = smooth(first), smooth(second)
        reliability[code] = np.nanmean([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(len(ids))])
    # calibrated gains (world version 3) modulate shallowly: with two repeats per half LGd reads about 0.27, V1 about
    # 0.13 and hippocampus about 0.01; a visual code lost to noise would read like hippocampus
    assert reliability["lgd_dog"] > 0.15 and reliability["v1_energy"] > 0.06
    assert reliability["hpc_drift"] < 0.03


def test_planted_cell_type_preferences(world, sst_session):
    cache_dir, _, _ = world
    session, truth = sst_session
    vehicle = load_stimuli(cache_dir / STIMULUS_FOLDER).frame_info["natural_movie_one"]["vehicle"].to_numpy(bool)
    sst = truth.index[(truth["code"] == "sst_vehicle") & truth["passes_qc"]].to_numpy()
    rates = _movie_counts(session, sst).mean(0)                      # (frames, units)
    assert (rates[vehicle].mean(0) > 1.3 * rates[~vehicle].mean(0)).mean() > 0.8


def test_optotagged_cells_respond_at_short_latency(sst_session):
    session, truth = sst_session
    epochs = session.optogenetic_stimulation_epochs
    onsets = epochs.loc[(epochs["duration"] > 0.009) & (epochs["duration"] < 0.02), "start_time"].to_numpy()

    def ratio(unit):
        rel = session.spike_times[unit][:, None] - onsets[None]
        evoked = ((rel > 0.001) & (rel < 0.009)).sum()
        baseline = ((rel > -0.010) & (rel < -0.002)).sum()
        return evoked / (baseline + 1)

    tagged = truth.index[truth["tagged"] & truth["passes_qc"]]
    untagged = truth.index[~truth["tagged"] & truth["passes_qc"]]
    assert len(tagged) >= 3 and (truth.loc[tagged, "cell_type"] == "SST").all()
    assert all(ratio(u) > 2 for u in tagged)
    assert np.mean([ratio(u) > 2 for u in untagged]) < 0.1   # chance only: artifacts sit exactly at onset


def test_session_simulation_is_deterministic():
    drives = {k: np.random.default_rng(1).random((n, CONFIG.units_per_session)).astype(np.float32)
              for k, n in (("natural_movie_one", 900), ("natural_movie_three", 60), ("natural_scenes", 24))}
    runs = [simulate_session(layout_session(1, "Vip", CONFIG), CONFIG, drives, (900, 60)) for _ in range(2)]
    (a, truth_a), (b, truth_b) = runs
    pd.testing.assert_frame_equal(truth_a, truth_b)
    assert a.spike_times.keys() == b.spike_times.keys()
    assert all(np.array_equal(a.spike_times[u], b.spike_times[u]) for u in a.spike_times)
    assert all((np.diff(t) >= 0.0015 - 1e-12).all() for t in a.spike_times.values())  # refractory period


def test_bad_genotype(tmp_path):
    with pytest.raises(ValueError, match=r"genotypes: unknown \['Gad2'\], use \['Pvalb', 'Sst', 'Vip', 'wt'\]"):
        WorldConfig(genotypes=("Gad2",))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, value", [("scene_repeats", [6, 7]), ("units_per_session", "240"),
                                         ("movie_one_repeats", -5), ("scene_repeats", 6.5), ("n_scenes", True)])
def test_a_bad_world_parameter_is_one_line_naming_it_its_range_and_the_value(name, value):
    with pytest.raises(ValueError, match=rf"^world parameter {name} must be a whole number >= \d+, got {re.escape(repr(value))}$"):
        WorldConfig(**{name: value})


def test_world_parameters_from_yaml_are_plain_ints_and_a_list_of_genotypes_is_kept_as_a_tuple():
    config = WorldConfig(units_per_session=np.int64(12), genotypes=["wt", "Sst"])
    assert type(config.units_per_session) is int and config.genotypes == ("wt", "Sst")
    with pytest.raises(ValueError, match="genotypes must be a non-empty list"):
        WorldConfig(genotypes="wt")


def test_simulated_session_ids_stay_out_of_the_allen_range():
    from neurrator.world.simulate import SIMULATED_SESSION_IDS, WorldConfig

    config = WorldConfig()
    ids = [config.first_session_id + 17 * k for k in range(len(config.genotypes))]
    assert all(SIMULATED_SESSION_IDS[0] <= i <= SIMULATED_SESSION_IDS[1] for i in ids)
    assert 715093703 not in ids                                   # a real Brain Observatory 1.1 session
    with pytest.raises(ValueError, match="no Allen session uses"):
        WorldConfig(first_session_id=715093703)


def test_a_world_is_reused_only_when_made_by_this_code_with_this_config(tmp_path, monkeypatch):
    from neurrator.artifacts import write_artifact
    from neurrator.world import simulate

    config = simulate.WorldConfig()
    assert not simulate.world_is_current(tmp_path, config)                 # nothing there
    (tmp_path / "manifest.json").write_text("{}")
    write_artifact(tmp_path / simulate.GROUND_TRUTH, lambda p: p.write_text("id\n"), made_by="neurrator simulate",
                   params=simulate._world_params(config))
    assert simulate.world_is_current(tmp_path, config)
    assert not simulate.world_is_current(tmp_path, simulate.WorldConfig(units_per_session=100))
    monkeypatch.setattr(simulate, "WORLD_VERSION", simulate.WORLD_VERSION + 1)
    assert not simulate.world_is_current(tmp_path, config)                 # the simulation code changed


def test_world_is_current_checks_every_session_file(small_world, tmp_path):
    cache_dir = tmp_path / "cache"
    shutil.copytree(small_world[0], cache_dir)
    assert world_is_current(cache_dir, CONFIG)
    assert not world_is_current(cache_dir, replace(CONFIG, seed=CONFIG.seed + 1))
    nwb = next(cache_dir.glob("session_*/session_*.nwb"))
    with open(nwb, "ab") as handle:                            # one session file changed since the world was made
        handle.write(b"\0")
    assert not world_is_current(cache_dir, CONFIG)
    nwb.unlink()                                               # or gone
    assert not world_is_current(cache_dir, CONFIG)


def test_an_interrupted_simulation_leaves_the_old_world_whole(small_world, tmp_path, monkeypatch):
    import neurrator.world.simulate as simulate

    cache_dir = tmp_path / "cache"
    shutil.copytree(small_world[0], cache_dir)
    before = sorted(p.relative_to(cache_dir) for p in cache_dir.rglob("*"))

    def half_a_world(staging, *args, **kwargs):
        (staging / "session_1").mkdir()
        (staging / "session_1" / "session_1.nwb").write_bytes(b"new")   # new sessions written, no ground truth yet
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate, "_simulate_into", half_a_world)
    with pytest.raises(KeyboardInterrupt):
        simulate_world(cache_dir, replace(CONFIG, scene_repeats=CONFIG.scene_repeats + 1), progress=False)
    assert sorted(p.relative_to(cache_dir) for p in cache_dir.rglob("*")) == before
    assert world_is_current(cache_dir, CONFIG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]   # no staging folder left behind


def test_the_simulate_command_refuses_a_bad_size_in_one_line(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "neurrator", "simulate", "--units", "-5", "--cache-dir", str(tmp_path / "c"),
                           "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: world parameter units_per_session must be a whole number >= 1, got -5"
    assert not (tmp_path / "c").exists()
