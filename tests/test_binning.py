"""Spike binning on the presentation timeline (neurrator.data.binning), on hand-built recordings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import ArtifactError, sidecar_path
from neurrator.data.binning import BIN_HZ, BinnedStimulus, bin_spikes, binning_params, frame_rates
from neurrator.data.recording import Recording

FRAME_S = 1 / 30
SCENE_S = 0.25
MOVIE_BLOCKS = ((10.0, 0, (0, 1)), (20.0, 1, (2,)))   # (start time, block, repeats): 3 repeats of 5 frames
SCENE_FRAMES = (3, -1, 7, 3, -1, 7)                   # natural scenes with blanks, from 30 s
SCENE_REPEATS = (0, 0, 0, 1, 1, 1)


def presentations_table() -> pd.DataFrame:
    """A spontaneous epoch, movie repeats 0-1 (block 0) and 2 (block 1), then six natural-scene trials (block 2)."""
    rows = [dict(stimulus_name="spontaneous", start_time=0.0, stop_time=9.0, frame=-1, stimulus_block=-1, repeat=0)]
    for t0, block, repeats in MOVIE_BLOCKS:
        for i, (repeat, frame) in enumerate((r, f) for r in repeats for f in range(5)):
            start = t0 + i * FRAME_S
            rows.append(dict(stimulus_name="natural_movie_one", start_time=start, stop_time=start + FRAME_S,
                             frame=frame, stimulus_block=block, repeat=repeat))
    for i, (frame, repeat) in enumerate(zip(SCENE_FRAMES, SCENE_REPEATS)):
        start = 30.0 + i * SCENE_S
        rows.append(dict(stimulus_name="natural_scenes", start_time=start, stop_time=start + SCENE_S,
                         frame=frame, stimulus_block=2, repeat=repeat))
    table = pd.DataFrame(rows)
    table.index = 5000 + np.arange(len(table))  # ids, not positions
    return table


def make_recording(spike_times: dict[int, np.ndarray], presentations: pd.DataFrame | None = None) -> Recording:
    units = pd.DataFrame({"region": "VISp", "firing_rate": 1.0}, index=pd.Index(list(spike_times), name="unit_id"))
    return Recording(session_id=1, genotype="wt/wt", units=units,
                     spike_times={u: np.sort(np.asarray(t, np.float64)) for u, t in spike_times.items()},
                     presentations=presentations_table() if presentations is None else presentations,
                     optogenetic_epochs=pd.DataFrame(columns=["start_time", "stop_time"]))


def reference_counts(recording: Recording, stimulus: str, bin_hz: float = BIN_HZ) -> np.ndarray:
    """Naive half-open counts, one bin at a time."""
    table = recording.stimulus(stimulus)
    out = []
    for start, stop in zip(table["start_time"], table["stop_time"]):
        n = int(round((stop - start) * bin_hz))
        for k in range(n):
            a, b = start + k * (stop - start) / n, (stop if k == n - 1 else start + (k + 1) * (stop - start) / n)
            out.append([np.count_nonzero((t >= a) & (t < b)) for t in recording.spike_times.values()])
    return np.array(out)


@pytest.fixture(scope="module")
def random_recording() -> Recording:
    rng = np.random.default_rng(0)
    return make_recording({u: rng.uniform(0, 35, rng.integers(50, 4000)) for u in (7, 8, 9)})


def test_shapes_labels_and_blanks(random_recording):
    movie = bin_spikes(random_recording, "natural_movie_one")
    assert movie.counts.shape == (15 * 4, 3) and movie.counts.dtype == np.uint8   # 4 bins per 1/30 s frame
    np.testing.assert_array_equal(movie.unit_ids, [7, 8, 9])
    np.testing.assert_array_equal(movie.bin_in_presentation[:8], [0, 1, 2, 3, 0, 1, 2, 3])
    np.testing.assert_array_equal(movie.frame[16:24], [4, 4, 4, 4, 0, 0, 0, 0])
    # the bin after a frame-4 -> frame-0 boundary belongs to the next repeat; the next block starts repeat 2
    assert movie.repeat[19] == 0 and movie.repeat[20] == 1 and movie.repeat[39] == 1 and movie.repeat[40] == 2
    assert movie.block[39] == 0 and movie.block[40] == 1 and movie.frame[40] == 0
    np.testing.assert_array_equal(movie.presentation[::4], np.arange(1, 16))      # rows of the presentations table
    np.testing.assert_allclose(movie.bin_start[:5], 10.0 + np.arange(5) / 120)
    assert movie.bin_start[40] == 20.0
    for name, dtype in [("bin_start", np.float64), ("frame", np.int32), ("block", np.int16),
                        ("presentation", np.int32), ("bin_in_presentation", np.int16)]:
        assert getattr(movie, name).dtype == dtype, name

    scenes = bin_spikes(random_recording, "natural_scenes")
    assert scenes.counts.shape == (6 * 30, 3)                                      # 30 bins per 250 ms scene
    np.testing.assert_array_equal(scenes.frame[::30], SCENE_FRAMES)               # blanks kept as -1
    np.testing.assert_array_equal(scenes.repeat[::30], SCENE_REPEATS)
    assert (scenes.block == 2).all() and scenes.bin_in_presentation.max() == 29
    assert bin_spikes(random_recording, "natural_movie_one", bin_hz=60).counts.shape == (30, 3)


@pytest.mark.parametrize("stimulus", ["natural_movie_one", "natural_scenes"])
def test_counts_match_naive_reference_and_total(random_recording, stimulus):
    binned = bin_spikes(random_recording, stimulus)
    np.testing.assert_array_equal(binned.counts, reference_counts(random_recording, stimulus))
    table = random_recording.stimulus(stimulus)
    for column, times in enumerate(random_recording.spike_times.values()):
        inside = ((times[:, None] >= table["start_time"].to_numpy()) & (times[:, None] < table["stop_time"].to_numpy()))
        assert binned.counts[:, column].sum() == inside.any(axis=1).sum()


def test_spikes_on_edges_count_once_in_the_later_bin():
    edges = bin_spikes(make_recording({1: []}), "natural_movie_one").bin_start
    on_edges = [edges[1], edges[4], edges[40], edges[41]]   # inner edge, frame boundary, block start, inner edge
    inside = [edges[2] + 0.001, edges[2] + 0.002, edges[10] + 0.004]
    last_stop = 20.0 + 5 * FRAME_S
    outside = [5.0, 10.0 - 1e-4, 15.0, 10.0 + 10 * FRAME_S, last_stop, 40.0]  # before, gap, block end, after
    binned = bin_spikes(make_recording({1: on_edges + inside + outside, 2: []}), "natural_movie_one")
    counts = binned.counts[:, 0]
    assert counts[[0, 1, 3, 4, 39, 40, 41]].tolist() == [0, 1, 0, 1, 0, 1, 1]
    assert counts[2] == 2 and counts[10] == 1
    assert counts.sum() == len(on_edges) + len(inside)
    assert binned.counts[:, 1].sum() == 0


def test_presentations_touching_up_to_rounding_are_fine():
    table = presentations_table()
    movie = np.flatnonzero(table["stimulus_name"] == "natural_movie_one")
    table.iloc[movie[3], table.columns.get_loc("start_time")] -= 1e-9  # starts a hair before the previous stop
    binned = bin_spikes(make_recording({1: [table["start_time"].iloc[movie[3]]]}, table), "natural_movie_one")
    assert binned.counts.shape == (60, 1) and binned.counts[(3 - 1) * 4 + 4, 0] == 1


def test_counts_above_255_promote_to_uint16():
    bin_start = bin_spikes(make_recording({1: []}), "natural_movie_one").bin_start
    width = 1 / 120
    at_255 = bin_start[5] + np.linspace(0, width, 255, endpoint=False)
    binned = bin_spikes(make_recording({1: at_255}), "natural_movie_one")
    assert binned.counts.dtype == np.uint8 and binned.counts[5, 0] == 255
    dense = bin_start[7] + np.linspace(0, width, 300, endpoint=False)
    binned = bin_spikes(make_recording({1: at_255, 2: [10.001], 3: dense}), "natural_movie_one")
    assert binned.counts.dtype == np.uint16
    assert binned.counts[5, 0] == 255 and binned.counts[0, 1] == 1 and binned.counts[7, 2] == 300


def test_unit_subset_and_errors(random_recording):
    subset = bin_spikes(random_recording, "natural_movie_one", unit_ids=[9, 7])
    full = bin_spikes(random_recording, "natural_movie_one")
    np.testing.assert_array_equal(subset.counts, full.counts[:, [2, 0]])
    with pytest.raises(KeyError, match="123456"):
        bin_spikes(random_recording, "natural_movie_one", unit_ids=[7, 123456])
    with pytest.raises(KeyError, match="natural_movie_three"):
        bin_spikes(random_recording, "natural_movie_three")
    table = presentations_table()
    movie = np.flatnonzero(table["stimulus_name"] == "natural_movie_one")
    table.iloc[movie[6], table.columns.get_loc("start_time")] -= 0.005
    with pytest.raises(ValueError, match="overlap"):
        bin_spikes(make_recording({1: []}, table), "natural_movie_one")


def test_save_load_roundtrip(tmp_path, random_recording):
    binned = bin_spikes(random_recording, "natural_scenes")
    path = binned.save(tmp_path / "natural_scenes_bins.npz", params={"session_id": 1})
    assert path == tmp_path / "natural_scenes_bins.npz" and sidecar_path(path).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    loaded = BinnedStimulus.load(path, params=binning_params("natural_scenes", session_id=1))
    assert loaded.stimulus == "natural_scenes" and loaded.bin_hz == BIN_HZ and loaded.nbytes == binned.nbytes
    for name in ("unit_ids", "counts", "bin_start", "frame", "repeat", "block", "presentation", "bin_in_presentation"):
        a, b = getattr(binned, name), getattr(loaded, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    with pytest.raises(ArtifactError, match="other parameters"):
        BinnedStimulus.load(path, params=binning_params("natural_scenes", session_id=2))
    sidecar_path(path).unlink()
    with pytest.raises(ArtifactError, match="sidecar"):
        BinnedStimulus.load(path)


def test_a_session_never_processed_names_the_processed_ones(tmp_path, random_recording):
    from neurrator.layout import DataLayout

    layout = DataLayout.resolve(tmp_path, "demo")
    binned = bin_spikes(random_recording, "natural_scenes")
    for session in (34, 17):
        binned.save(layout.binned(session, "natural_scenes"), params={"session_id": session})
    assert layout.processed_sessions("natural_scenes") == [17, 34] and layout.processed_sessions("natural_movie_one") == []
    assert layout.recorded_sessions() == []          # the recordings are another folder
    assert BinnedStimulus.of_session(layout, 17, "natural_scenes").counts.shape == binned.counts.shape
    with pytest.raises(ArtifactError, match=r"session 123 has no binned natural_scenes; the processed sessions are 17, 34 "
                                            r"\(run notebook 01_preprocess with this session among `sessions` to add it\)"):
        BinnedStimulus.of_session(layout, 123, "natural_scenes")


def test_many_units_across_column_groups():
    """More units than one write group (64): every column lands in its place, promotion in a later group too."""
    rng = np.random.default_rng(1)
    spikes = {1000 + u: rng.uniform(9, 31.6, rng.integers(0, 300)) for u in range(150)}
    bin_start = bin_spikes(make_recording({1: []}), "natural_movie_one").bin_start
    spikes[1000 + 140] = np.r_[spikes[1000 + 140], bin_start[3] + np.linspace(0, 1 / 120, 400, endpoint=False)]
    recording = make_recording(spikes)
    binned = bin_spikes(recording, "natural_movie_one")
    assert binned.counts.dtype == np.uint16 and binned.counts[3, 140] >= 400
    np.testing.assert_array_equal(binned.counts, reference_counts(recording, "natural_movie_one"))
    scenes = bin_spikes(recording, "natural_scenes").counts
    np.testing.assert_array_equal(scenes, reference_counts(recording, "natural_scenes"))


@pytest.mark.parametrize("stimulus", ["natural_movie_one", "natural_scenes"])
def test_spikes_one_ulp_around_every_inner_edge(stimulus):
    """Exact placement at float resolution: one ulp before an inner edge is the earlier bin, on or after it the later."""
    binned = bin_spikes(make_recording({1: []}), stimulus)
    inner = np.flatnonzero(binned.bin_in_presentation > 0)
    edges = binned.bin_start[inner]
    spikes = {1: np.nextafter(edges, -np.inf), 2: edges, 3: np.nextafter(edges, np.inf)}
    counts = bin_spikes(make_recording(spikes), stimulus).counts
    expected_before, expected_at = np.zeros(len(counts), int), np.zeros(len(counts), int)
    expected_before[inner - 1] = 1
    expected_at[inner] = 1
    np.testing.assert_array_equal(counts[:, 0], expected_before)
    np.testing.assert_array_equal(counts[:, 1], expected_at)
    np.testing.assert_array_equal(counts[:, 2], expected_at)


def test_exact_on_a_coarse_grid(monkeypatch, random_recording):
    """A lookup grid coarser than the bins (capped size, long gaps) only costs time, never exactness."""
    import neurrator.data.binning as binning

    fine = bin_spikes(random_recording, "natural_movie_one").counts
    monkeypatch.setattr(binning._EdgeLocator, "MAX_CELLS", 7)
    np.testing.assert_array_equal(bin_spikes(random_recording, "natural_movie_one").counts, fine)
    binned = bin_spikes(make_recording({1: []}), "natural_scenes")
    edges = binned.bin_start[binned.bin_in_presentation > 0]
    spikes = {1: np.nextafter(edges, -np.inf), 2: edges}
    coarse = bin_spikes(make_recording(spikes), "natural_scenes").counts
    assert coarse[:, 0].sum() == coarse[:, 1].sum() == len(edges)
    np.testing.assert_array_equal(np.flatnonzero(coarse[:, 1]), np.flatnonzero(binned.bin_in_presentation > 0))


def test_frame_rates_average_over_chosen_repeats():
    frame = np.array([0, 0, 1, 1, -1, 0, 0, 1, 1], np.int32)
    repeat = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1], np.int32)
    counts = np.array([[1], [3], [0], [0], [9], [5], [5], [2], [4]], np.uint8)
    n = len(frame)
    binned = BinnedStimulus("m", np.array([7]), counts, np.arange(n) / 120, frame, repeat, np.zeros(n, np.int16),
                            np.arange(n, dtype=np.int32), np.zeros(n, np.int16))
    assert frame_rates(binned).ravel().tolist() == [3.5, 1.5]             # the blank (frame -1) is left out
    assert frame_rates(binned, repeats=[0]).ravel().tolist() == [2.0, 0.0]
    assert frame_rates(binned, repeats=[1]).ravel().tolist() == [5.0, 3.0]
