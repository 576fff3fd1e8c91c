"""The population-size sweep: grids, draws, resumable points, floor crossing and pairwise similarity."""

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import sidecar_path
from neurrator.data.binning import BinnedStimulus
from neurrator.data.pseudomice import build_pseudo_mouse
from neurrator.data.windows import SpikeWindows, sample_per_frame
from neurrator.evaluation import scaling
from neurrator.layout import DataLayout
from neurrator.models.training import ArrayTargets


def test_size_grid_ends_with_the_whole_pool_and_points_draw_it_once():
    assert scaling.size_grid(240, (10, 30, 100, 300)) == [10, 30, 100, 240]
    assert scaling.size_grid(30, (10, 30, 100)) == [10, 30]
    assert scaling.size_grid(0) == []
    points = scaling.sweep_points({"LGd": 40, "empty": 0}, sizes=(10, 30), draws=3)
    assert [(p.size, p.draw) for p in points] == [(10, 0), (10, 1), (10, 2), (30, 0), (30, 1), (30, 2), (40, 0)]
    assert len({p.name for p in points}) == len(points) and " " not in scaling.SweepPoint("higher visual", 10, 0).name
    with pytest.raises(ValueError, match="draws"):
        scaling.sweep_points({"LGd": 40}, draws=0)


def test_draws_are_seeded_by_the_point_and_differ_between_draws():
    columns = np.arange(100, 200)
    a = scaling.draw_columns(scaling.SweepPoint("VISp", 10, 0), columns, seed=0)
    assert np.array_equal(a, scaling.draw_columns(scaling.SweepPoint("VISp", 10, 0), columns[::-1], seed=0))
    assert len(set(a)) == 10 and set(a) <= set(columns) and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, scaling.draw_columns(scaling.SweepPoint("VISp", 10, 1), columns, seed=0))
    assert not np.array_equal(a, scaling.draw_columns(scaling.SweepPoint("VISp", 10, 0), columns, seed=1))
    assert np.array_equal(scaling.draw_columns(scaling.SweepPoint("VISp", 100, 0), columns), columns)
    with pytest.raises(ValueError, match="cannot draw 101"):
        scaling.draw_columns(scaling.SweepPoint("VISp", 101, 0), columns)


def test_pool_columns_follow_the_region_pools():
    units = pd.DataFrame({"column": [0, 1, 2, 3, 4], "region": ["VISp", "VISl", "CA1", "LGd", "VISam"]})
    assert scaling.pool_columns(units, "VISp").tolist() == [0]
    assert scaling.pool_columns(units, "higher visual").tolist() == [1, 4]
    assert scaling.pool_columns(units, "visual cortex").tolist() == [0, 1, 4]
    assert scaling.pool_columns(units, "all").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="unknown pool"):
        scaling.pool_columns(units, "V1")


def _gaps(curve: dict[int, float], frames=20, draws=3, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"pool": "p", "size": s, "draw": d, "frame": f, "matched": 0.3 + g + noise * rng.standard_normal(),
             "random_caption": 0.3} for s, g in curve.items() for d in range(draws) for f in range(frames)]
    return pd.DataFrame(rows)


def test_floor_crossing_has_an_interval_and_needs_nearly_every_resample_to_cross():
    table = scaling.floor_crossing(_gaps({10: -0.1, 30: -0.02, 100: 0.1, 1000: 0.2}), n_boot=200)
    row = table.loc["p"]
    assert row["crosses"] and not row["from_start"]
    assert (row["below"], row["above"]) == (30, 100) and 30 < row["crossing"] < 100
    assert 30 < row["crossing CI low"] <= row["crossing"] <= row["crossing CI high"] < 100
    assert row["units"] == 1000 and row["gap at largest"] == pytest.approx(0.2, abs=0.01)
    assert row["gap CI low"] < 0.2 < row["gap CI high"]
    assert row["blocks (n_eff)"] == len(np.unique(np.arange(20) // row["block (frames)"]))
    never = scaling.floor_crossing(_gaps({10: -0.2, 100: -0.1}), n_boot=50).loc["p"]
    assert not never["crosses"] and np.isnan(never["crossing"]) and np.isinf(never["crossing CI low"])
    start = scaling.floor_crossing(_gaps({10: 0.2, 100: 0.3}), n_boot=50).loc["p"]
    assert start["crosses"] and start["from_start"] and start["crossing"] == 10
    # a mean just above the floor, inside the noise, is not a crossing; nor is a crossing that falls back
    noisy = scaling.floor_crossing(_gaps({10: 0.0, 100: 0.002}, noise=0.2), n_boot=200).loc["p"]
    assert not noisy["crosses"] and np.isinf(noisy["crossing CI high"])
    dips = scaling.floor_crossing(_gaps({10: 0.2, 30: -0.1, 100: 0.2}), n_boot=100).loc["p"]
    assert (dips["below"], dips["above"]) == (30, 100)


def test_crossing_interval_widens_when_frames_move_together():
    """Frames that share their gap in runs of 10 (one shot): resampling blocks gives a wider interval of the
    crossing than the same number of independent frames would."""
    rng = np.random.default_rng(1)
    shared = np.repeat(rng.standard_normal(8), 10) * 0.05          # 80 frames, 8 shots
    independent = rng.standard_normal(80) * 0.05

    def table(per_frame):
        rows = [{"pool": "p", "size": s, "draw": d, "frame": f, "matched": 0.3 + g + per_frame[f], "random_caption": 0.3}
                for s, g in {10: -0.05, 30: 0.0, 100: 0.05}.items() for d in range(2) for f in range(80)]
        return scaling.floor_crossing(pd.DataFrame(rows), n_boot=300).loc["p"]

    runs, iid = table(shared), table(independent)
    assert runs["block (frames)"] >= 10 > iid["block (frames)"]
    width = lambda r: np.log10(min(r["crossing CI high"], 1e4)) - np.log10(r["crossing CI low"])
    assert width(runs) > width(iid)


def test_crossing_of_interpolates_and_needs_to_stay_above():
    assert scaling.crossing_of(np.array([10, 100]), np.array([-0.1, 0.1])) == pytest.approx(np.sqrt(10 * 100))
    assert scaling.crossing_of(np.array([10, 100]), np.array([0.1, 0.2])) == 10
    assert np.isinf(scaling.crossing_of(np.array([10, 100, 1000]), np.array([0.1, 0.2, -0.1])))


class WordModel:
    """Embeds a sentence by its words (a bag of hashed words, unit norm): same words, cosine 1."""

    def encode(self, sentences, **_):
        out = np.zeros((len(sentences), 64))
        for i, s in enumerate(sentences):
            for w in s.lower().strip(".").split():
                out[i, sum(map(ord, w)) % 64] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def test_pairwise_similarity_is_high_for_the_same_frames_and_floored_by_shuffling():
    frames = range(12)
    words = ["cat", "car", "tree", "boat", "house", "dog", "lamp", "road", "bird", "chair", "river", "cloud"]
    a = pd.DataFrame([{"draw": d, "frame": f, "narration": f"a {words[f]}"} for d in range(2) for f in frames])
    b = a.copy()
    other = a.assign(narration=[f"the {words[(f + 5) % 12]}" for f in a["frame"]])
    same, shuffled = scaling.pairwise_similarity({"A": a, "B": b, "C": other}, WordModel())
    assert same.loc["A", "B"] == pytest.approx(1.0) and same.loc["B", "A"] == same.loc["A", "B"]
    assert shuffled.loc["A", "B"] < 0.6
    assert same.loc["A", "C"] < 0.6
    assert same.loc["A", "A"] == pytest.approx(1.0)                  # draw 0 vs draw 1: the same sentences here


class MaskDecoder:
    """Predicts, per window, a grid filled with the sum of the unmasked inputs; counts its calls."""

    def __init__(self):
        self.calls = 0

    def predict(self, windows, neuron_mask=None, by_frame=True):
        self.calls += 1
        x, frames = windows.batch(np.arange(len(windows)))
        mask = np.ones(x.shape[-1]) if neuron_mask is None else neuron_mask
        value = (x.numpy()[:, windows.half] * mask).sum(1)
        ids = np.unique(frames)
        grids = np.stack([np.full((2, 3), value[frames == f].mean() + 1.0, np.float32) for f in ids])
        return ids, grids


class SignBackend:
    name = "sign"

    def narrate(self, grids, batch_size=32):
        return ["A bright scene." if g.mean() > 1 else "A dark scene." for g in grids]


def test_a_point_is_computed_once_then_read_back_and_redone_when_its_units_change(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (200, 6)).astype(np.uint8)
    frames = np.repeat(np.arange(10), 20)
    windows = SpikeWindows(counts, frames, np.arange(10, 190, 7), np.zeros(6), np.ones(6))
    targets = ArrayTargets(np.ones((10, 2, 3), np.float32))
    refs = {f: ("A bright room." if f % 2 else "A dark night.") for f in range(10)}
    inputs = dict(backend=SignBackend(), sbert_model=WordModel(), references=refs, caption_pool=list(refs.values()),
                  targets=targets, candidates=np.ones((10, 3)))
    decoder, layout = MaskDecoder(), DataLayout(tmp_path, "demo")
    point = scaling.SweepPoint("VISp", 2, 0)
    path = layout.sweep_point("test", point.name)
    first = scaling.run_point(point, np.array([0, 1]), decoder=decoder, windows=windows, path=path, key={"decoder": "x"},
                              **inputs)
    assert sidecar_path(path).is_file() and decoder.calls == 1
    assert set(first.columns) >= {"pool", "size", "draw", "frame", "narration", "matched", "random_caption", "patch_cosine", "rank"}
    assert (first["pool"] == "VISp").all() and first["patch_cosine"].round(6).eq(1.0).all()
    again = scaling.run_point(point, np.array([0, 1]), decoder=decoder, windows=windows, path=path, key={"decoder": "x"},
                              **inputs)
    assert decoder.calls == 1 and again.equals(first)                 # read back, not recomputed
    scaling.run_point(point, np.array([2, 3]), decoder=decoder, windows=windows, path=path, key={"decoder": "x"}, **inputs)
    assert decoder.calls == 2                                         # other units: computed again
    scaling.run_point(point, np.array([2, 3]), decoder=decoder, windows=windows, path=path, key={"decoder": "y"}, **inputs)
    assert decoder.calls == 3                                         # another decoder file: computed again


def test_sample_per_frame_spreads_over_each_frames_windows_deterministically():
    counts = np.zeros((100, 3), np.uint8)
    frames = np.repeat(np.arange(5), 20)
    windows = SpikeWindows(counts, frames, np.arange(10, 90), np.zeros(3), np.ones(3), jitter=2, neuron_dropout=0.1)
    sampled = sample_per_frame(windows, 2)
    per_frame = pd.Series(frames[sampled.centres]).value_counts()
    assert per_frame.max() == 2 and set(per_frame.index) == set(np.unique(frames[windows.centres]))
    assert np.array_equal(sampled.centres, sample_per_frame(windows, 2).centres)
    assert sampled.jitter == 0 and sampled.neuron_dropout == 0
    assert len(sample_per_frame(windows, None)) == len(windows)
    with pytest.raises(ValueError, match="positive"):
        sample_per_frame(windows, 0)


def _binned(counts, stimulus="natural_movie_one"):
    n = len(counts)
    return BinnedStimulus(stimulus, np.arange(counts.shape[1]) + 100, counts, np.arange(n) / 120.0,
                          np.tile(np.arange(n // 2), 2).astype(np.int32), np.repeat([0, 1], n // 2).astype(np.int32),
                          np.zeros(n, np.int16), np.repeat([0, 1], n // 2).astype(np.int32),
                          np.zeros(n, np.int16))


def test_a_pseudo_mouse_becomes_one_binned_population_and_units_can_be_selected():
    rng = np.random.default_rng(1)
    a, b = _binned(rng.integers(0, 3, (40, 3)).astype(np.uint8)), _binned(rng.integers(0, 3, (40, 2)).astype(np.uint8))
    mouse = build_pseudo_mouse([a, b], [a.unit_ids, b.unit_ids], [1, 2])
    binned = mouse.as_binned()
    assert binned.counts.shape == (40, 5) and binned.unit_ids.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(binned.counts[:, 3:], b.counts) and np.array_equal(binned.presentation, a.presentation)
    subset = binned.select_units([4, 0])
    assert np.array_equal(subset.counts, binned.counts[:, [4, 0]]) and subset.unit_ids.tolist() == [4, 0]
    assert np.array_equal(subset.frame, binned.frame)
    with pytest.raises(IndexError, match="unit positions"):
        binned.select_units([5])


def test_layout_names_a_pseudo_mouse_folder_and_refuses_odd_names(tmp_path):
    layout = DataLayout(tmp_path, "demo")
    assert layout.decoder("pan_session", "m", "r").parent.name == "pan_session"
    assert layout.decoder(12, "m", "r").parent.name == "session_12"
    for bad in ("../x", "session_3", "a b"):
        with pytest.raises(ValueError, match="pseudo-mouse name"):
            layout.decoder(bad, "m", "r")


def test_the_memoized_encoder_embeds_each_sentence_once_and_returns_the_same_rows():
    from neurrator.evaluation.sbert import MemoizedEncoder

    class Counting(WordModel):
        def __init__(self):
            self.seen = []

        def encode(self, sentences, **options):
            self.seen += list(sentences)
            return super().encode(sentences, **options)

    inner = Counting()
    memo = MemoizedEncoder(inner)
    first = memo.encode(["a cat", "a dog", "a cat"], normalize_embeddings=True, batch_size=4)
    again = memo.encode(["a dog", "a bird"], normalize_embeddings=True, batch_size=64)
    assert inner.seen == ["a cat", "a dog", "a bird"]
    assert np.array_equal(first, WordModel().encode(["a cat", "a dog", "a cat"]))
    assert np.array_equal(again[0], first[1])
    memo.encode(["a cat"], normalize_embeddings=False)               # other settings: embedded again
    assert inner.seen[-1] == "a cat"


def test_run_sweep_runs_every_task_in_order_and_needs_narrator_factories_on_a_cluster(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (200, 6)).astype(np.uint8)
    windows = SpikeWindows(counts, np.repeat(np.arange(10), 20), np.arange(10, 190, 7), np.zeros(6), np.ones(6))
    refs = {f: ("A bright room." if f % 2 else "A dark night.") for f in range(10)}
    inputs = dict(decoder=MaskDecoder(), windows=windows, key={"decoder": "x"}, backend=SignBackend(),
                  sbert_model=WordModel(), references=refs, caption_pool=list(refs.values()),
                  targets=ArrayTargets(np.ones((10, 2, 3), np.float32)), candidates=np.ones((10, 3)))
    layout = DataLayout(tmp_path, "demo")
    points = [scaling.SweepPoint("VISp", 2, d) for d in range(3)]
    tasks = [(p, np.array([d, d + 1]), layout.sweep_point("s", p.name)) for d, p in enumerate(points)]
    tables = scaling.run_sweep(tasks, **inputs)
    assert [t["draw"].iloc[0] for t in tables] == [0, 1, 2]
    assert tables[1].equals(scaling.run_point(points[1], np.array([1, 2]), path=tasks[1][2], **inputs))
    with pytest.raises(ValueError, match="narrator_factories"):
        scaling.run_sweep(tasks, client=object(), **inputs)


def _agreeing(pattern):
    """Two pools narrate frame ``f`` alike where ``pattern[f]`` (the same sentence), otherwise differently."""
    words = ["cat", "car", "tree", "boat", "house", "dog", "lamp", "road", "bird", "chair", "river", "cloud"]
    a = pd.DataFrame({"draw": 0, "frame": np.arange(len(pattern)),
                      "narration": [f"a {words[f % 12]}" for f in range(len(pattern))]})
    b = a.assign(narration=[s if agree else f"the {words[(f + 5) % 12]}" for f, (s, agree) in
                            enumerate(zip(a["narration"], pattern))])
    return scaling.pairwise_similarity({"A": a, "B": b}, WordModel(), intervals=True)


def test_pairwise_intervals_contain_the_mean_and_widen_when_frames_agree_in_runs():
    """The same frames agreeing in shots of 10 (runs) or scattered (the same count): the mean is the same,
    the blocks and the interval are longer for the runs."""
    shots = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1], bool)
    runs = np.repeat(shots, 10)
    scattered = np.random.default_rng(0).permutation(runs)
    same, _, table = _agreeing(runs)
    row = table.set_index(["a", "b"]).loc[("A", "B")]
    assert list(table.columns) == ["a", "b", "same frames", "CI low", "CI high", "block (frames)", "blocks (n_eff)",
                                   "frames"]
    assert row["same frames"] == pytest.approx(same.loc["A", "B"]) and row["frames"] == 120
    assert row["CI low"] < row["same frames"] < row["CI high"]
    assert row["block (frames)"] >= 10 and row["blocks (n_eff)"] == int(np.ceil(120 / row["block (frames)"]))
    other = _agreeing(scattered)[2].set_index(["a", "b"]).loc[("A", "B")]
    assert other["same frames"] == pytest.approx(row["same frames"])
    assert other["block (frames)"] < row["block (frames)"]
    assert other["CI high"] - other["CI low"] < row["CI high"] - row["CI low"]
