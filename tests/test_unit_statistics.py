"""Per-unit statistics (neurrator.data.unit_statistics) and the calibration against published values
(neurrator.evaluation.calibration), on small synthetic sessions whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neurrator.data import unit_statistics as us
from neurrator.data.recording import Recording
from neurrator.evaluation import calibration

FRAME_S = 1 / 30
N_FRAMES, N_REPEATS, N_SCENES, SCENE_REPEATS = 300, 6, 10, 8


def _session(spikes: dict[int, np.ndarray], regions: dict[int, str]) -> Recording:
    """A movie of N_FRAMES frames repeated N_REPEATS times from t=0, then natural scenes (blank included)."""
    rows = [{"stimulus_name": "natural_movie_one", "start_time": (r * N_FRAMES + f) * FRAME_S,
             "stop_time": (r * N_FRAMES + f + 1) * FRAME_S, "frame": f, "stimulus_block": 0, "repeat": r}
            for r in range(N_REPEATS) for f in range(N_FRAMES)]
    t0 = N_REPEATS * N_FRAMES * FRAME_S + 1.0
    order = np.concatenate([np.random.default_rng(r).permutation(np.arange(-1, N_SCENES)) for r in range(SCENE_REPEATS)])
    rows += [{"stimulus_name": "natural_scenes", "start_time": t0 + i * 0.25, "stop_time": t0 + (i + 1) * 0.25,
              "frame": int(f), "stimulus_block": 1, "repeat": i // (N_SCENES + 1)} for i, f in enumerate(order)]
    units = pd.DataFrame({"region": pd.Series(regions)}).rename_axis("unit_id")
    return Recording(1, "wt", units, {u: np.sort(s) for u, s in spikes.items()}, pd.DataFrame(rows), pd.DataFrame())


def _movie_spikes(rate_of_frame: np.ndarray, rng, shift_per_repeat: bool = False) -> list[float]:
    times = []
    for r in range(N_REPEATS):
        rate = np.roll(rate_of_frame, rng.integers(N_FRAMES)) if shift_per_repeat else rate_of_frame
        for f, hz in enumerate(rate):
            n = rng.poisson(hz * FRAME_S)
            times += list((r * N_FRAMES + f + rng.uniform(0, 1, n)) * FRAME_S)
    return times


@pytest.fixture(scope="module")
def session():
    rng = np.random.default_rng(0)
    movie_rate = 2 + 40 * np.exp(-0.5 * ((np.arange(N_FRAMES) - 150) / 6.0) ** 2)     # one sharp movie field
    spikes = {1: _movie_spikes(movie_rate, rng), 2: _movie_spikes(movie_rate, rng, shift_per_repeat=True),
              3: _movie_spikes(np.full(N_FRAMES, 8.0), rng)}
    rec = _session({u: np.array(s) for u, s in spikes.items()}, {1: "VISp", 2: "CA1", 3: "CA1"})
    # scenes: unit 1 answers scene 3 only, 50 ms after onset; units 2 and 3 fire at random
    scenes = rec.stimulus("natural_scenes")
    extra = {1: [], 2: [], 3: []}
    for start, frame in zip(scenes["start_time"], scenes["frame"]):
        if frame == 3:
            extra[1] += list(start + 0.050 + rng.normal(0, 0.0005, 6))
        for u in (2, 3):
            extra[u] += list(start + rng.uniform(0, 0.25, rng.poisson(2)))
    return _session({u: np.concatenate([spikes[u], extra[u]]) for u in spikes}, {1: "VISp", 2: "CA1", 3: "CA1"})


def test_reliability_separates_a_movie_locked_unit_from_the_same_rate_unlocked(session):
    stats = us.unit_statistics(session, [1, 2, 3], n_null=100, alpha=0.01)
    assert stats.loc[1, "reliability_movie"] > 0.5 and stats.loc[1, "responsive"]
    # the same field at a random time in each repeat: as reliable as chance, never responsive
    assert abs(stats.loc[2, "reliability_movie"]) < 0.2 and not stats.loc[2, "responsive"]
    assert not stats.loc[3, "responsive"] and stats.loc[3, "reliability_p"] > 0.01
    assert stats.loc[1, "reliability_p"] == pytest.approx(1 / 101)
    # one sharp movie field: the rest of the movie far below its peak; a flat rate: close to it
    assert stats.loc[1, "movie_modulation"] < 0.3 < stats.loc[3, "movie_modulation"]
    # identical repeats are perfectly reliable; a silent repeat makes it undefined
    counts = np.tile(np.random.default_rng(1).poisson(3, 90), (4, 1))
    assert us.reliability(counts, 30) == pytest.approx(1.0)
    counts[0] = 0
    assert np.isnan(us.reliability(counts, 30))


def test_scene_statistics_follow_allensdk_definitions(session):
    stats = us.unit_statistics(session, [1, 3], n_null=20)
    # one scene out of ten: lifetime sparseness near 1; unselective firing: near 0
    assert stats.loc[1, "lifetime_sparseness_ns"] > 0.9 and stats.loc[3, "lifetime_sparseness_ns"] < 0.3
    assert stats.loc[1, "time_to_peak_ns_ms"] == pytest.approx(50, abs=1.5)
    # six spikes on every presentation of its scene: no variance; Poisson firing: Fano near 1
    assert stats.loc[1, "fano_ns"] < 0.2 and 0.3 < stats.loc[3, "fano_ns"] < 3
    # one contiguous movie block: the rate is its spikes over its duration (allensdk's overall_firing_rate)
    assert stats.loc[1, "firing_rate_movie"] == pytest.approx(us.movie_counts(session, 1).sum() / (N_REPEATS * N_FRAMES * FRAME_S))
    assert np.isnan(us.time_to_peak(np.array([]), np.array([0.0])))


def test_noise_correlations_remove_the_scene_and_keep_shared_trial_noise():
    rng = np.random.default_rng(2)
    scenes = np.repeat(np.arange(20), 30)
    drive = rng.uniform(1, 6, 20)[scenes]                 # both units driven by the same scenes
    shared = rng.normal(0, 1, len(scenes))                 # trial-to-trial noise they share
    start = np.arange(len(scenes)) * 0.5
    spikes = {}
    for u, weight in ((1, 1.0), (2, 1.0), (3, 0.0)):
        n = rng.poisson(np.clip(drive * np.exp(0.5 * weight * shared), 0, None))
        spikes[u] = np.sort(np.concatenate([s + rng.uniform(0, 0.25, k) for s, k in zip(start, n)]))
    table = pd.DataFrame({"stimulus_name": "natural_scenes", "start_time": start, "stop_time": start + 0.25,
                          "frame": scenes, "stimulus_block": 0, "repeat": 0})
    rec = Recording(1, "wt", pd.DataFrame({"region": ["VISp"] * 3}, index=[1, 2, 3]), spikes, table, pd.DataFrame())
    corr = us.noise_correlations(rec, [1, 2, 3])
    assert corr[0, 1] > 0.2                               # shared noise is seen
    assert abs(corr[0, 2]) < 0.15 and abs(corr[1, 2]) < 0.15   # the common scene drive is not
    means = us.mean_pair_correlation(corr, np.array(["a", "a", "b"]))
    assert means["a"] == pytest.approx(corr[0, 1]) and np.isnan(means["b"])


def _stats(regions: list[str], responsive: list[bool], depth: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"region": regions, "responsive": responsive, "movie_modulation": depth,
                         "group": regions})


def test_the_published_table_says_inside_only_where_the_interval_holds_the_value():
    one_third = _stats(["CA1"] * 300, [i % 3 == 0 for i in range(300)], 0.64 + np.random.default_rng(0).normal(0, 0.05, 300))
    table = calibration.published_table(one_third, [e for e in calibration.PUBLISHED if e.group == "CA1"])
    assert table["verdict"].eq("inside").all() and table["simulated units"].tolist() == [300, 100]
    assert "2326/6914" in table.iloc[0]["quote"] and table.iloc[0]["source"].startswith("Purandare")
    none = _stats(["CA1"] * 300, [False] * 300, [0.3] * 300)
    table = calibration.published_table(none, [e for e in calibration.PUBLISHED if e.group == "CA1"])
    # 0 of 300 is far from a third; no responsive unit: no value
    assert table["verdict"].tolist() == ["simulated lower", "too few simulated units"]
    assert "simulated lower for CA1" in calibration.verdict_text(table)
    # a tagged interneuron does not count for its region (the published units are putatively excitatory)
    tagged = _stats(["CA1"] * 300, [True] * 300, [0.3] * 300).assign(group="PV")
    assert calibration.published_table(tagged, calibration.PUBLISHED[:1])["simulated units"].iloc[0] == 0
    # every published value names its source and the words it comes from
    assert all(e.source and e.quote and e.statistic in calibration.STATISTICS for e in calibration.PUBLISHED)


def test_calibration_units_take_areas_from_wild_type_sessions_and_types_from_tagged_units():
    units = pd.DataFrame({"session_id": [1, 1, 1, 2, 2, 2], "genotype": ["wt", "wt", "wt", "Sst", "Sst", "Sst"],
                          "region": ["VISp", "CA1", "VISp", "VISp", "VISl", "LP"],
                          "passes_qc": [True, True, False, True, True, True]}, index=[10, 11, 12, 20, 21, 22])
    tags = pd.DataFrame({"session_id": [2, 2], "tagged": [True, False]}, index=[20, 21])
    chosen = calibration.calibration_units(units, tags)
    assert chosen["group"].to_dict() == {10: "VISp", 11: "hippocampus", 20: "SST"}


def test_gain_table_shows_every_family_before_and_after():
    from neurrator.world.population import GAIN_RANGE

    table = calibration.gain_table()
    assert set(table.index) == set(GAIN_RANGE)
    assert table.loc["cortex", "world v2"] == "0.6–1.1" and table.loc["cortex", "world v3"] != "0.6–1.1"
    assert table.loc["hippocampus"].tolist() == ["0–0", "0–0"]


def test_gain_sweep_reads_the_benchmark_and_adds_the_published_row(tmp_path):
    assert calibration.gain_sweep(tmp_path) is None          # a project without the measurement
    rows = [{"gain": g, "repeats": r, "area": a, "units": 10, "responsive": 0.9, "non-peak / peak (responsive)": v,
             "non-peak / peak (all)": v + 0.1, "published": p} for g, v in [("v2", 0.1), ("v3", 0.4)] for r in (8, 20)
            for a, p in [("V1", 0.35), ("LGN", 0.57)]]
    path = tmp_path / calibration.GAIN_SWEEP
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"rows": rows}))
    table = calibration.gain_sweep(tmp_path)
    assert list(table.index)[:2] == [("v2", 8), ("v2", 20)] and table.index[-1] == ("published", "")
    assert table.loc[("v3", 20), ("non-peak / peak (responsive)", "V1")] == 0.4
    assert table.loc[("published", ""), ("non-peak / peak (responsive)", "LGN")] == 0.57
    assert np.isnan(table.loc[("published", ""), ("responsive", "LGN")])
    assert np.isnan(table.loc[("published", ""), ("non-peak / peak (all)", "LGN")])   # published for responsive units
