"""The demo backend: real packaged EfficientNet-Lite0 targets and SmolLM2 narration, offline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurrator.vlm import load_backend
from neurrator.vlm.demo import DemoBackend, top_labels
from neurrator.vlm.efficientnet import imagenet_class_names
from neurrator.vlm.label_narrator import LabelSentenceWriter, first_sentence


def test_class_names_come_from_the_package():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and "Egyptian Mau" in names


def test_top_labels_keeps_the_best_and_filters_the_rest():
    names = ["cat", "Cat", "dog", "car", "bus"]
    probs = np.array([0.5, 0.2, 0.2, 0.06, 0.04])
    assert top_labels(probs, names) == ("cat", "dog", "car")          # case-insensitive duplicate dropped
    assert top_labels(probs, names, max_labels=2) == ("cat", "dog")
    assert top_labels(np.array([0.01, 0, 0, 0.02, 0.03]), names) == ("bus",)  # the best is always kept


def test_first_sentence():
    assert first_sentence(' "caption: a cat sits. Then more') == "A cat sits."
    assert first_sentence("no full stop") == "No full stop"


def test_targets_shape_determinism_and_grayscale(demo_backend, photos):
    grids = demo_backend.compute_targets(photos[:2])
    assert grids.shape == (2, 49, 1280) and grids.dtype == np.float32
    np.testing.assert_array_equal(grids, demo_backend.compute_targets(photos[:2]))
    rgb = np.repeat(photos[:2, ..., None], 3, axis=-1)
    np.testing.assert_allclose(demo_backend.compute_targets(rgb), grids, atol=1e-5)
    assert not np.allclose(grids[0], grids[1])
    with pytest.raises(TypeError, match="uint8"):
        demo_backend.compute_targets(photos.astype(np.float32))


def test_narration_reads_the_content_of_real_photos(demo_backend, photos):
    grids = demo_backend.compute_targets(photos)
    labels = demo_backend.labels(grids)
    sentences = demo_backend.narrate(grids)
    assert len(sentences) == len(photos) and all(s.endswith(".") and len(s.split()) >= 3 for s in sentences)
    cat, coffee = sentences[0].lower(), sentences[1].lower()
    assert "cat" in " ".join(labels[0]).lower() or "mau" in cat
    assert any(word in coffee for word in ("espresso", "coffee", "cup"))
    assert len(set(sentences)) >= 4  # different scenes, different sentences


def test_batched_equals_one_at_a_time_and_cache_skips_repeats(demo_backend, photos):
    grids = demo_backend.compute_targets(photos)
    writer = demo_backend.writer
    writer.cache.clear()
    before = writer.decoded
    batched = demo_backend.narrate(np.concatenate([grids, grids]), batch_size=3)
    assert writer.decoded - before == len(set(map(writer.decoder_input, demo_backend.labels(grids))))
    assert batched[: len(grids)] == batched[len(grids):] == demo_backend.narrate_one_at_a_time(grids)
    decoded = writer.decoded
    assert demo_backend.narrate(grids) == batched[: len(grids)] and writer.decoded == decoded  # all cached
    stored = json.loads(writer.cache_file.read_text())
    assert set(stored) >= {writer.decoder_input(l) for l in demo_backend.labels(grids)}


def test_a_second_backend_reuses_the_converted_model_and_cache(demo_backend, photos):
    grids = demo_backend.compute_targets(photos[:2])
    first = demo_backend.narrate(grids)
    again = DemoBackend(cache_dir=demo_backend.cache_dir)
    assert again.narrate(grids) == first and again.writer.decoded == 0


def test_sentence_cache_is_keyed_by_generation_settings_and_has_a_sidecar(demo_backend, photos):
    from neurrator.artifacts import read_sidecar

    demo_backend.narrate(demo_backend.compute_targets(photos[:1]))
    writer = demo_backend.writer
    assert read_sidecar(writer.cache_file)["params"] == json.loads(json.dumps(writer.settings))
    shorter = LabelSentenceWriter(demo_backend.cache_dir, max_new_tokens=writer.max_new_tokens - 8)
    assert shorter.cache_file != writer.cache_file and shorter.cache == {}   # other settings: no shared sentences
    writer.cache_file.write_text("{}")                                       # edited behind the sidecar's back
    assert LabelSentenceWriter(demo_backend.cache_dir, max_new_tokens=writer.max_new_tokens).cache == {}


def test_wrong_grid_shape_is_refused(demo_backend):
    with pytest.raises(ValueError, match=r"\(N, 49, 1280\)"):
        demo_backend.narrate(np.zeros((2, 576, 1024), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        demo_backend.labels(np.full((1, 49, 1280), np.nan, np.float32))


def test_load_backend_by_profile(demo_backend):
    assert isinstance(load_backend("demo", cache_dir=demo_backend.cache_dir), DemoBackend)
    with pytest.raises(ValueError, match="unknown profile"):
        load_backend("full")
    assert isinstance(demo_backend.writer, LabelSentenceWriter)
    spec = demo_backend.target_spec()
    assert json.loads(json.dumps(spec)) == spec and spec["backend"] == "demo"
