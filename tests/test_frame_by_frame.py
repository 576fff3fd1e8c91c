"""Chapter 09's steps: sentences per frame from chapters 04 and 06, stretches for the strips, and the strip figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.book import narration_strips
from neurrator.book.explorer import SpikeRaster
from neurrator.evaluation import frame_by_frame
from test_explorer import binned_movie


class WordModel:
    """An SBERT stand-in: one fixed unit vector per word, a sentence the normalised sum of its words."""

    def encode(self, sentences, batch_size=64, **options):
        vocabulary = sorted({w for s in sentences for w in s.split()})
        rows = np.zeros((len(sentences), max(1, len(vocabulary))))
        for i, s in enumerate(sentences):
            for w in s.split():
                rows[i, vocabulary.index(w)] += 1
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_heldout_sentences_score_each_narration_against_its_reference(monkeypatch):
    from neurrator.evaluation import scoring

    monkeypatch.setattr(scoring, "embed_sentences", lambda model, s, batch_size=64: model.encode(list(s)))
    narrations = pd.DataFrame({"stimulus": "m", "regime": ["sparse_random_guard15", "contiguous_middle", "scene_identity"],
                               "frame": [4, 5, 6], "narration": ["a red car", "a dog", "a cat"],
                               "reference": ["a red car", "a red car", "a cat"],
                               "decoder": ["Neurrator", "Neurrator", "image classifier"]})
    table = frame_by_frame.heldout_sentences(narrations, WordModel())
    assert table["decoder"].tolist() == ["sparse random, guard 15", "contiguous middle"]      # the classifier left out
    assert table["score"].tolist() == pytest.approx([1.0, 1 / np.sqrt(6)])   # "a dog" shares one of 2 and 3 words
    with pytest.raises(ValueError, match="04_narrate_heldout"):
        frame_by_frame.heldout_sentences(narrations.assign(decoder="ridge"), WordModel())


def test_cell_type_sentences_and_explored_frames():
    points = pd.DataFrame({"cell_type": ["PV", "PV", "VIP"], "frame": [3, 9, 3], "narration": ["x", "y", "z"],
                           "matched": [0.1, 0.2, 0.3]})
    table = frame_by_frame.cell_type_sentences(points, "m")
    assert table["decoder"].tolist() == ["PV cells", "PV cells", "VIP cells"] and table["score"].tolist() == [0.1, 0.2, 0.3]
    assert set(table["kind"]) == {frame_by_frame.CELL_TYPE}
    held = pd.DataFrame({"stimulus": "m", "decoder": ["front only", "sparse random"], "kind": frame_by_frame.HELD_OUT,
                         "frame": [20, 5], "narration": "s", "score": 0.0})
    both = pd.concat([table, held], ignore_index=True)
    assert frame_by_frame.explored_frames(both, "m", ["sparse_random"]) == [3, 5, 9]          # front only not explored
    assert frame_by_frame.explored_frames(both, "m", ["sparse_random", "front_only"]) == [3, 5, 9, 20]
    assert frame_by_frame.explored_frames(both, "other", ["sparse_random"]) == []


def test_strip_frames_span_the_longest_stretch():
    held = [1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 40]
    assert narration_strips.longest_run(held).tolist() == list(range(10, 21))
    assert narration_strips.strip_frames(held, 6) == [10, 12, 14, 16, 18, 20]
    assert narration_strips.strip_frames([5, 7, 9], 6) == [5]                          # no stretch: one frame
    with pytest.raises(ValueError, match="no frames"):
        narration_strips.longest_run([])


def test_strip_summary_counts_changes():
    sentences = pd.DataFrame({"frame": [12, 10, 11, 13], "narration": ["b", "a", "a", "b"], "score": [0.5, 0.1, 0.2, 0.6]})
    summary = frame_by_frame.strip_summary(sentences, {10: "r", 11: "r", 12: "r", 13: "s"})
    assert summary == {"frames": 4, "first frame": 10, "last frame": 13, "sentence changes": 1, "reference changes": 1,
                       "distinct sentences": 2, "mean SBERT": 0.35}
    assert "changes 1 times (2 distinct sentences)" in frame_by_frame.strip_text(summary)


def test_condition_strip_draws_frames_raster_and_sentences():
    import matplotlib

    matplotlib.use("Agg")
    frames = np.arange(40)
    sentences = pd.DataFrame({"stimulus": "m", "decoder": "contiguous middle", "frame": frames[15:30],
                              "narration": [f"sentence {f // 5}" for f in frames[15:30]], "score": 0.5})
    images = {"m": np.repeat(np.linspace(0, 255, 40, dtype=np.uint8)[:, None, None], 30, 1).repeat(60, 2)}
    references = {"m": {int(f): f"reference {f // 10}" for f in frames}}
    raster = SpikeRaster.of_repeat(binned_movie(), {100: "VISp", 101: "LGd"})
    figure, summary = narration_strips.condition_strip(sentences, "contiguous_middle", images=images, references=references,
                                                       rasters={"m": raster}, length=4, raster_label="session 1")
    assert figure.get_figwidth() == narration_strips.FULL_WIDTH_IN
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any(t.startswith("sentence 3") for t in texts) and any("reference 1" in t for t in texts)
    assert [ax.get_title() for ax in figure.axes if ax.get_title().startswith("frame")] == [
        "frame 15", "frame 20", "frame 24", "frame 29"]
    assert summary["sentence changes"] == 2 and summary["frames"] == 15
    with pytest.raises(KeyError, match="front_only"):
        narration_strips.condition_strip(sentences, "front_only", images=images, references=references, rasters={})
