"""Chapter 07's steps (neurrator.evaluation.cell_type_features): the populations queried, their profiles over the
dictionary, each claim against the controls, the planted truth, and the prose and record made from them."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from neurrator.evaluation import cell_type_features as ctf
from neurrator.evaluation import inference, results

TYPES = ("PV", "SST", "VIP")


class _ReluSAE:
    """A stand-in SAE: codes are ReLU of a fixed linear map; ``quality`` reports the tokens' count."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=np.float32)
        self.config = type("Config", (), {"n_features": self.weights.shape[1], "k": 2})()
        self.model_ = type("Model", (), {"d_input": self.weights.shape[0]})()

    def transform(self, tokens):
        return np.maximum(np.asarray(tokens, dtype=np.float32) @ self.weights, 0)

    def quality(self, tokens):
        return {"r2": float(np.asarray(tokens).mean()), "dead_fraction": 0.0, "mean_active": 1.0}


def world(draws=3, features=40, planted=(30, 31, 32), seed=0):
    """Codes of three cell types and ``draws`` controls each: every population fires on features 0-7 (shared), and
    each on its own strong features; PV's are ``planted`` (the features the planted variable follows)."""
    rng = np.random.default_rng(seed)
    codes, members = {}, {}
    own = itertools.cycle(range(8, 30))
    for t in TYPES:
        members[t] = [t, *(f"{t} control {d}" for d in range(draws))]
        for m in members[t]:
            c = np.zeros((50, features))
            c[:, :8] = np.linspace(3, 2, 8) + rng.uniform(0, 0.1, (50, 8))
            strong = list(planted) if m == "PV" else [next(own) for _ in range(3)]
            c[:, strong] += 4 + rng.uniform(0, 0.1, (50, len(strong)))
            codes[m] = c
    return codes, members


def test_queried_populations_cap_the_draws_and_say_when_no_single_type_can_pass():
    populations = {"PV": np.array([0, 1]), "SST": np.array([2])}
    controls = {"PV": [np.array([3, 4]), np.array([5, 6]), np.array([7, 8])], "SST": [np.array([9]), np.array([10])]}
    q = ctf.queried_populations(populations, controls, limit=2)
    assert q.members == {"PV": ["PV", "PV control 0", "PV control 1"], "SST": ["SST", "SST control 0", "SST control 1"]}
    assert list(q.columns) == ["PV", "SST", "PV control 0", "PV control 1", "SST control 0", "SST control 1"]
    assert q.n_draws == 2 and q.made == 3 and q.control_names == ["PV control 0", "SST control 0"]
    assert "cannot go below 1/3 = 0.333, above 0.05" in q.draws_text() and "p floor 1/9" in q.draws_text()
    assert "querying 2 cell types and 2 size-matched control draws of each (chapter 06 made 3): 6" in q.describe()
    many = ctf.queried_populations(populations, {t: [np.array([0])] * 25 for t in populations}, limit=20)
    assert many.draws_text() == "20 draws per type, so a single type's p against its draws cannot go below 1/21 = 0.048"


def test_feature_profiles_find_each_types_unique_features_also_for_a_draw_in_its_place():
    codes, members = world()
    features = ctf.FeatureProfiles(codes, members, k=11)
    assert sorted(features.unique["PV"].tolist()) == [30, 31, 32]
    assert set(features.unique_as["PV control 0"]).isdisjoint({30, 31, 32})     # the draw plays PV, not PV's features
    summary = features.summary({m: np.arange(3) for m in codes})
    assert summary.loc["PV", "unique by magnitude"] == 3 and summary.loc["PV", "units"] == 3
    assert summary.loc["PV", "top-11 shared with its type's others"] == pytest.approx(8.0)   # the shared features only
    heat = features.strongest(["PV", "SST"], n=2)
    assert heat.to_numpy().max() == pytest.approx(1.0) and heat.shape[0] == 2


def test_versus_controls_holm_corrects_the_whole_table_and_the_pseudo_check_needs_two_draws():
    codes, members = world(draws=3)
    features = ctf.FeatureProfiles(codes, members, k=11)
    table = features.versus_controls(seed=0)
    assert table.index.get_level_values("statistic").unique().tolist() == ["unique features",
                                                                           "top-11 shared with its type's others"]
    assert (table["p (Holm)"] >= table["p"]).all() and table.loc[("unique features", "all types"), "draws"] == 63
    assert len(features.pseudo_cell_types(seed=0)) == len(table)
    few = ctf.FeatureProfiles(*world(draws=1), k=11)
    assert few.pseudo_cell_types().empty and ctf.pseudo_text(few.pseudo_cell_types()).startswith("not run")


def test_readable_and_verdict_say_the_p_floor_and_who_passes():
    table = pd.DataFrame({"value": [5.0, 1.0], "control mean": [1.0, 1.0], "control min": [0.0, 0.0],
                          "control max": [2.0, 2.0], "draws": [19, 19], "p": [0.05, 0.5], "p floor": [0.05, 0.05],
                          "p (Holm)": [0.01, 0.5]}, index=pd.Index(["PV", "all types"], name="population"))
    shown = ctf.readable(table)
    assert "p floor" not in shown and shown.loc["PV", "p (Holm)"] == "0.010"
    text = ctf.verdict(pd.concat({"unique": table}), "unique", "beats its draws")
    assert text.startswith("PV 5 (draws 0–2, p ") and text.endswith(": after Holm's correction PV beats its draws")
    none = ctf.verdict(pd.concat({"unique": table.assign(**{"p (Holm)": 0.5})}), "unique", "beats its draws")
    assert none.endswith("no type, nor the types together, beats its draws")
    assert ctf.pseudo_text(table).startswith("1 of its 2 tests pass") and "cannot be trusted" in ctf.pseudo_text(table)


def test_the_planted_variable_is_recovered_where_the_unique_features_carry_it():
    codes, members = world(draws=24)                           # PV's p floor 1/25, under 0.05
    features = ctf.FeatureProfiles(codes, members, k=11)
    frame_acts = np.zeros((60, 40))
    frame_acts[:5, [30, 31, 32]] = 1.0                         # PV's features fire on frames 0-4 ...
    frame_acts[10:, :30] = np.random.default_rng(1).uniform(0, 1, (50, 30))
    variable = np.zeros(60)
    variable[:5] = 10.0                                        # ... which are the frames the variable is high on
    planted, null, per_feature = features.planted_truth({"PV": variable}, frame_acts, 5, null_sets=200, seed=0)
    row = planted.set_index("planted").loc["PV → rms_contrast"]
    assert row["unique features"] == 3 and row["statistic"] == pytest.approx(10.0) and row["p vs random sets"] < 0.05
    assert row["recovered"] and null.at["PV", "p"] == pytest.approx(1 / 25) and per_feature["PV"][30] == 10.0
    assert ctf.planted_verdict(planted.iloc[0]).startswith("PV → rms_contrast is recovered")
    assert all(x.empty for x in features.planted_truth({}, frame_acts, 5, null_sets=10)[:2])


def test_stability_table_has_one_row_per_population_and_the_block_structure():
    codes, members = world(draws=1)
    frames = np.repeat(np.arange(10), 5)
    features = ctf.FeatureProfiles(codes, members, k=11)
    table, overlaps, blocks = ctf.stability_table(codes, frames, list(TYPES), features.unique_as, 11, 20, seed=0)
    assert table.index.tolist() == list(codes) and len(overlaps) == 20 * len(codes)
    assert (table["top-k"] == 11).all() and table["single bins: mean"].notna().sum() == 3
    assert (table["block (frames)"] == blocks.length).all() and table["mean"].between(0, 1).all()


def test_concept_scores_and_welch_passes_follow_the_assignment():
    tops = {"A": np.array([0, 1, 2]), "B": np.array([3, 4, 5]), "B control 0": np.array([0, 3, 4])}
    frame_acts = np.eye(6)                                     # feature f fires on frame f only
    frame_concept = pd.DataFrame({"car": [1.0, 0.9, 0.95, 0.0, 0.1, 0.05], "dark": [0.2, 0.1, 0.3, 0.2, 0.3, 0.1]})
    scores = ctf.feature_concept_scores(tops, list(tops), frame_acts, frame_concept, n_features=3, n_frames=1)
    assert len(scores) == 9 and scores.loc[0, "car"] == 1.0
    welch = ctf.welch_tests(scores, {"A": "A", "B": "B"})
    assert set(welch["population"]) == {"A", "B"} and welch.set_index(["concept", "population"]).loc[("car", "A"), "t"] > 0
    passes = ctf.welch_passes(scores, {"A": "A", "B": "B control 0"})
    assert passes.index.tolist() == ["A", "B"]
    assert ctf.welch_tests(scores, {"A": "A"}).empty                # one population: nothing to compare
    assert ctf.readable_welch(welch).index.names == ["concept", "population"]


def test_movie_concept_scores_use_images_where_the_model_reads_them(monkeypatch):
    from neurrator.data import allen
    from neurrator.vlm import captions

    class Clip:
        def encode(self, texts, normalize_embeddings=True):
            return np.eye(2)[: len(texts)]

        def encode_images(self, frames):
            return np.asarray(frames, dtype=float)

    class Sentences:
        def encode(self, texts, normalize_embeddings=True):
            return np.array([[1.0, 0.0] if "car" in t else [0.0, 1.0] for t in texts])

    monkeypatch.setattr(allen, "open_cache", lambda path: None)
    monkeypatch.setattr(allen, "stimulus_frames", lambda cache, stimulus: np.array([[0.0, 2.0], [3.0, 0.0]]))
    monkeypatch.setattr(captions, "read_captions", lambda path: {0: "a car", 1: "a dark room", 2: "unused"})
    layout = type("Layout", (), {"allen_cache": "x", "captions": lambda self, s: s})()
    by_image = ctf.movie_concept_scores(Clip(), layout, "movie", 2, ["car", "dark"])
    np.testing.assert_allclose(by_image.to_numpy(), [[0, 2], [3, 0]])
    by_caption = ctf.movie_concept_scores(Sentences(), layout, "movie", 2, ["car", "dark"])
    np.testing.assert_allclose(by_caption.to_numpy(), [[1, 0], [0, 1]])


def test_corpus_labels_come_from_the_classifier_or_a_zero_shot_image_text_model():
    class Backend:
        def labels(self, grids):
            return [("cat", "dog")] * len(grids)

    class Clip:
        def encode(self, texts):
            out = np.zeros((len(texts), len(texts)))
            out[np.arange(len(texts)), np.arange(len(texts))] = 1
            return out

        def encode_images(self, frames):
            out = np.zeros((len(frames), 1000))
            out[0, 3], out[1, 7] = 1, 1
            return out

    from neurrator.vlm.efficientnet import imagenet_class_names

    assert ctf.corpus_labels(Backend(), np.zeros((2, 4, 3)), None) == ["cat", "cat"]
    names = imagenet_class_names()
    assert ctf.corpus_labels(Backend(), None, np.zeros((2, 8, 8)), Clip()) == [names[3], names[7]]


def test_quality_table_and_codes_query_each_population_with_its_units_only():
    from neurrator.data.windows import SpikeWindows

    counts = np.random.default_rng(0).poisson(2.0, (40, 6)).astype(np.uint8)

    class Decoder:
        out_shape_ = (4, 6)

        def predict(self, windows, neuron_mask=None):
            mask = np.ones(6, np.float32) if neuron_mask is None else neuron_mask
            x = windows.counts[windows.centres].astype(np.float32) * mask
            return np.repeat(x[:, None, :], 4, axis=1)

    windows = SpikeWindows(counts, np.arange(40) // 4, np.arange(2, 38), np.zeros(6, np.float32), np.ones(6, np.float32), 3)
    sae = _ReluSAE(np.eye(6))
    table = ctf.quality_table(sae, Decoder(), windows, {"movie": np.ones((3, 4, 6))}, {"PV": np.array([1]), "all units": None})
    assert table.index.tolist() == ["movie (targets)", "PV (predicted)", "all units (predicted)"]
    assert table.at["movie (targets)", "tokens"] == 12 and table["tokens"].dtype.kind == "i"
    assert table.at["PV (predicted)", "R²"] < table.at["all units (predicted)", "R²"]     # five units masked out
    frames, codes = ctf.population_codes(Decoder(), windows, {"PV": np.array([1])}, sae)
    assert np.all(codes["PV"][:, [0, 2, 3, 4, 5]] == 0) and len(frames) == len(windows)
    with pytest.raises(ValueError, match="same profile's target store"):
        ctf.population_codes(Decoder(), windows, {"PV": None}, _ReluSAE(np.eye(5, 3)))


def test_tokens_and_the_sae_prose():
    grids = {"movie": np.ones((2, 3, 4), np.float16)}
    tokens = ctf.training_tokens(grids, np.zeros((1, 3, 4)))
    assert tokens.shape == (9, 4) and tokens.dtype == np.float32 and tokens[-1].sum() == 0
    history = pd.DataFrame({"nmse": [0.5, 0.2], "dead_fraction": [0.1, 0.25], "tokens_per_s": [100.0, 300.0]})
    assert ctf.training_text(history, 64) == ("after 2 epochs the training R² is 0.80 (gaining 0.30 in the last epoch) "
                                             "and 25% of the 64 features are dead")
    assert ctf.training_text(history.iloc[:1], 64) == "the SAE trained for one epoch (training R² 0.50)"
    sae = _ReluSAE(np.eye(4))
    sae.history_ = history
    assert ctf.sae_summary(sae, 300, trained=False).endswith("read back (same tokens, config and seed); training took "
                                                              "4 s at 200 tokens/s")


def test_the_record_has_the_planted_tables_only_where_there_is_a_planted_truth():
    null = pd.DataFrame({"value": [1.0], "control mean": [0.5], "draws": [5], "p": [0.2], "p floor": [1 / 6],
                         "p (Holm)": [0.2]}, index=pd.Index(["PV"], name="population"))
    quality = pd.DataFrame({"R²": [0.9], "silent features": [0.1], "active per token": [8.0], "tokens": [10]})
    welch = pd.DataFrame({"concept": ["car"], "population": ["PV"], "n": [3], "mean": [0.2], "others' mean": [0.1]})
    stability = pd.DataFrame({"mean": [0.9], "50%": [0.9], "top-k": [20]}, index=["PV"])
    args = (quality, pd.DataFrame({"units": [3]}), pd.concat({"unique features": null}), stability, ["PV"], null, welch,
            null)
    tables = ctf.record_tables(*args, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert "planted truth" not in tables and "pseudo cell types against the controls" not in tables
    planted = pd.DataFrame({"planted": ["PV → rms_contrast"], "unique features": [3], "p vs random sets": [0.01],
                            "p vs controls": [0.1]})
    tables = ctf.record_tables(*args, null, planted, null)
    assert {"planted truth", "leanings against the controls", "pseudo cell types against the controls"} <= set(tables)
    assert tables["SAE quality"] == results.table_record(quality.round(3), {
        "R²": results.COSINE, "silent features": results.COSINE, "active per token": results.COUNT, "tokens": results.EXACT})


def test_the_encoder_and_the_target_store_are_read_with_their_makers_named(tmp_path):
    from neurrator.artifacts import ArtifactError, write_artifact
    from neurrator.layout import DataLayout

    with pytest.raises(ArtifactError, match="05_scaling"):
        ctf.pan_session_encoder(DataLayout(tmp_path, "demo"), "natural_movie_one", "sparse_random")
    path = tmp_path / "movie.npy"
    def save(tmp):
        with open(tmp, "wb") as f:
            np.save(f, np.ones((2, 3, 4), np.float32))

    write_artifact(path, save, made_by="02_targets",
                   params={"backend": {"backend": "demo", "field_of_view": "squeeze"}})

    class Store:
        opened = []

        def open(self, stimulus, backend_spec=None):
            self.opened.append((stimulus, backend_spec))
            return type("Stored", (), {"shape": (2, 3, 4), "rows": lambda self, i: np.load(path)[i]})()

        def path(self, stimulus):
            return path

    assert ctf.target_field_of_view(Store(), "movie") == "squeeze"
    grids = ctf.stimulus_grids(Store(), ["movie"], backend_spec={"backend": "demo"})
    assert grids["movie"].shape == (2, 3, 4) and Store.opened[-1] == ("movie", {"backend": "demo"})


def test_the_prose_of_the_controls_names_the_family_and_says_when_nothing_was_planted():
    null = pd.DataFrame({"value": [0.9], "control mean": [0.8], "control min": [0.7], "control max": [0.85], "draws": [5],
                         "p": [1 / 6], "p floor": [1 / 6], "p (Holm)": [1 / 6]}, index=pd.Index(["PV"], name="population"))
    assert ctf.family_note("stability", null) == inference.family_note("mean overlap against the controls", 1, "holm",
                                                                        ctf.FAMILIES["stability"][2])
    assert ctf.planted_text(pd.DataFrame(), pd.DataFrame()) == "not tested: the paper profile has no planted truth"
    stability = pd.DataFrame({"mean": [0.91], "single bins: mean": [0.99], "in every resample": [4]}, index=["PV"])
    assert ctf.stability_text(stability, ["PV"]) == ("PV: mean overlap 0.91 over blocks (single bins: 0.99), 4 features "
                                                     "in every resample")
    welch = pd.DataFrame({"significant": [True, False, False]})
    text = ctf.welch_text(welch, null)
    assert text.startswith("1 of 3 (concept, population) Welch tests pass q < 0.05")
    assert text.endswith("no type, nor the types together, leans towards more concepts than its draws")


def test_welch_passes_against_the_controls_put_each_draw_in_its_types_place():
    rng = np.random.default_rng(0)
    rows = [{"population": m, "feature": f, "car": (1.0 if m == "A" else 0.0) + rng.normal(0, 0.01)}
            for m in ["A", "A control 0", "A control 1", "B", "B control 0"] for f in range(4)]
    null = ctf.welch_against_controls(pd.DataFrame(rows), {"A": ["A", "A control 0", "A control 1"],
                                                           "B": ["B", "B control 0"]}, seed=0)
    assert null.at["A", "value"] == 1 and null.at["A", "control mean"] < 1 and null.at["A", "draws"] == 2
    assert "p (Holm)" in null and null.at["A", "p"] <= 2 / 3 and null.loc["all types", "draws"] == 5


def test_specificity_ranks_the_features_a_type_fires_on_many_times_more_and_beats_its_draws_only_when_planted():
    from neurrator.evaluation import dictionary

    ratios = dictionary.specificity({"a": np.array([4.0, 1.0, 0.0, 0.001]), "b": np.array([1.0, 1.0, 2.0, 0.0])})
    assert ratios["a"].tolist()[:3] == [4.0, 1.0, 0.0]
    assert ratios["a"][3] == pytest.approx(1.0)          # nearly silent everywhere: both at the floor, no large ratio
    assert ratios["b"].tolist()[:3] == [0.25, 1.0, 2.0 / 0.04]  # others silent: the floor (1 % of the table's max)
    with pytest.raises(ValueError, match="at least two"):
        dictionary.specificity({"a": np.ones(3)})
    codes, members = world(draws=3)
    # PV's own features fire 4 units above the shared ones, everywhere else near 0: many times more strongly
    codes["PV"][:, [30, 31, 32]] += 20
    features = ctf.FeatureProfiles(codes, members, k=11)
    table = features.specific_table(pd.DataFrame({"label": "x", "share": 1.0}, index=range(40)), n=3)
    assert sorted(table.loc[table["population"] == "PV", "feature"]) == [30, 31, 32]
    assert (table.loc[table["population"] == "PV", "times more strongly"] > 10).all()
    null = features.specificity_versus_controls(n=3, seed=0)
    assert null.loc[("specificity", "PV"), "p"] == pytest.approx(0.25)    # the best of 1 + 3 draws
    assert null.loc[("specificity", "SST"), "p"] > 0.25                   # SST's own features are like its draws'
    assert ctf.verdict(null, "specificity", "beats its draws").startswith("PV ")


def test_features_are_named_by_the_scene_narrators_words_for_their_top_images_too():
    labels = pd.DataFrame({"label": ["cat", "car"], "share": [1.0, 0.5]}, index=pd.Index([0, 1], name="feature"))
    grids = np.zeros((4, 49, 2))
    scene = pd.DataFrame({"place": ["in the centre", "in the centre", "on the left", "on the right"],
                          "words": [["dimly lit"], ["dimly lit"], [], ["brightly lit"]]})
    narrator = type("Scene", (), {"scene": lambda self, g: scene})()
    named = ctf.with_scene_words(labels, {0: np.array([0, 1]), 1: np.array([2, 3])}, narrator, grids)
    assert named.at[0, "scene words"] == "in the centre, dimly lit" and named.at[0, "words share"] == 1.0
    assert named.at[1, "scene words"] == "on the left" and named.at[1, "words share"] == 0.5    # a tie: the stronger image
    assert ctf.with_scene_words(labels, {}, None, grids) is labels
