"""Chapters 00-02's steps as package functions: binning and tagging summaries, the world made on demand, both
caption references written in one call, and the store's cost table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.data import preprocessing, splits
from neurrator.data.binning import BinnedStimulus


def _binned(n_bins=480, units=3, frames=40, repeats=3):
    frame = np.tile(np.repeat(np.arange(frames), 4), repeats)[:n_bins].astype(np.int32)
    repeat = np.repeat(np.arange(repeats), frames * 4)[:n_bins].astype(np.int32)
    counts = np.random.default_rng(0).poisson(1.0, (n_bins, units)).astype(np.uint8)
    return BinnedStimulus("natural_movie_one", np.arange(units), counts, np.arange(n_bins) / 120.0, frame, repeat,
                          np.zeros(n_bins, np.int16), repeat.copy(), np.zeros(n_bins, np.int16))


def test_binned_and_window_tables():
    binned = _binned()
    table = preprocessing.binned_summary({"natural_movie_one": binned})
    assert table.iloc[0][["bins", "units", "repeats", "dtype"]].tolist() == [480, 3, 3, "uint8"]
    split = splits.split_bins(binned.frame, binned.repeat, binned.bin_start, regime="sparse_random", seed=0)
    counts = preprocessing.window_counts({"sparse_random": split})
    assert counts.loc["sparse_random", "train windows"] == len(split.centres[splits.TRAIN]) > 0
    assert counts.loc["sparse_random", "held-out frames"] == int(split.held_out.sum()) > 0


def test_tagging_summary_scores_against_planted_truth_and_phrases_the_cre_lines():
    tags = pd.DataFrame({"genotype": ["Pvalb", "Pvalb", "Pvalb", "wt", "wt"], "tagged": [True, True, False, True, False]},
                        index=[1, 2, 3, 4, 5])
    truth = pd.Series([True, False, True, False, False], index=[1, 2, 3, 4, 5])
    table = preprocessing.tagging_summary(tags, truth)
    assert table.loc["Pvalb", ["cortical_units", "tagged", "precision", "recall"]].tolist() == [3, 2, 0.5, 0.5]
    assert np.isnan(table.loc["wt", "recall"])          # nothing planted in wild type: recall undefined
    assert preprocessing.tagging_phrase(table) == "Pvalb 2 of 3, precision 0.50, recall 0.50"
    assert "precision" not in preprocessing.tagging_summary(tags).columns   # a real cache has no truth
    assert preprocessing.tagging_phrase(preprocessing.tagging_summary(tags)) == "Pvalb 2 of 3"


def test_storage_cost_halves_the_disk_and_keeps_one_batch_in_ram():
    from neurrator.vlm.targets import storage_cost

    cost = storage_cost({"x": (10_000, 1000, 100)}, batch=8)
    assert cost.loc["x"].tolist() == [4.0, 2.0, 3.2]
    assert cost.columns[-1] == "RAM for a batch of 8 (MB)"


def test_ensure_world_simulates_only_when_the_world_is_not_current(small_world, tmp_path, monkeypatch):
    import shutil

    from neurrator.world import simulate

    cache_dir, config = small_world
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    made = []
    monkeypatch.setattr(simulate, "simulate_world", lambda folder, cfg, progress=True: made.append(cfg))
    assert simulate.ensure_world(copy, config) is False and made == []
    (copy / "manifest.json").unlink()
    assert simulate.ensure_world(copy, config) is True and made == [config]


class _Targets(np.ndarray):
    path = None


def test_write_references_writes_both_and_removes_a_stale_content_file(tmp_path, monkeypatch):
    from neurrator.layout import DataLayout
    from neurrator.vlm import captions

    class Narrator:
        def narrate(self, grids, batch_size=32, progress=True):
            return [f"a frame of norm {np.linalg.norm(g):.0f}" for g in grids]

        def target_spec(self):
            return {"backend": "fake"}

    grids = np.stack([np.full((2, 3), i, np.float32) for i in range(4)]).view(_Targets)
    grids.path = tmp_path / "targets.npy"
    np.save(grids.path, np.asarray(grids))
    frames, targets = {"natural_scenes": np.zeros((4, 8, 8), np.uint8)}, {"natural_scenes": grids}
    with pytest.raises(Exception, match="neurrator simulate"):   # demo without its world: the fix is named
        captions.write_references(DataLayout.resolve(tmp_path, "demo"), frames, targets, Narrator(), progress=False)
    # the paper's model reference is BLIP-2 (not here): stand in the oracle; a real cache has no content reference
    monkeypatch.setattr(captions, "reference_captions", lambda profile, stack, target, backend, **o: (
        captions.oracle_captions(backend, target, progress=False), {"backend": "oracle"}))
    layout = DataLayout.resolve(tmp_path, "paper")
    stale = layout.captions("natural_scenes", "content")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")          # left by an earlier run
    reference, content = captions.write_references(layout, frames, targets, Narrator(), progress=False)
    assert reference["natural_scenes"][3] == "a frame of norm 7" and content == {}
    assert captions.read_captions(layout.captions("natural_scenes"))[3] == "a frame of norm 7"
    assert not stale.exists()
