"""Chapter 06's steps (neurrator.evaluation.cell_types and the tagging / population helpers it uses), on tiny tables."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from neurrator.data import celltypes, optotagging, splits
from neurrator.evaluation import cell_types
from tests.test_scaling import WordModel   # a bag of hashed words: same words, cosine 1

TYPES = ["PV", "SST", "VIP"]
WORDS = {"PV": ["cat", "dog", "cow", "owl"], "SST": ["car", "bus", "van", "tram"], "VIP": ["lamp", "sun", "moon", "star"]}


def narrations(frames=12, draws=2, seed=0):
    """Each cell type says its own words about a frame; its controls say one shared word list, whatever the type."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in TYPES:
        for population, draw_list in [(t, [0]), (f"{t} control", range(draws))]:
            for d in draw_list:
                for f in range(frames):
                    own = WORDS[t] if population == t else ["tree", "road", "house", "boat"]
                    rows.append({"population": population, "cell_type": t, "draw": d, "frame": f,
                                 "narration": f"a {own[f % 4]} {('by a river', 'at night')[f % 2]}",
                                 "reference": f"frame {f}", "matched": 0.6 if population == t else 0.4,
                                 "random_caption": 0.3, "patch_cosine": rng.uniform(0.2, 0.4)})
    return pd.DataFrame(rows)


def light():
    """Two Cre lines and a wild type: the ratio tags a wild-type unit and misses a PV cell, the criteria do not."""
    return pd.DataFrame({
        "session_id": [1, 1, 1, 2, 2, 2, 3, 3], "genotype": ["Pvalb"] * 3 + ["Sst"] * 3 + ["wt"] * 2,
        "reliability": [0.9, 0.8, 0.05, 0.95, 0.1, 0.0, 0.1, 0.0],
        "tutorial ratio": [True, False, False, True, False, False, True, False],
        "three criteria": [True, True, False, True, False, False, False, False],
        "ChR2": [True, True, False, True, False, False, False, False]},
        index=pd.Index([10, 11, 12, 20, 21, 22, 30, 31], name="unit_id"))


def test_the_rule_table_scores_each_rule_against_the_planted_cells_and_auto_picks_the_better():
    table = optotagging.rule_table(light())
    assert table.loc[("three criteria", "Pvalb"), ["tagged", "hits", "precision", "recall"]].tolist() == [2, 2, 1.0, 1.0]
    assert table.loc[("tutorial ratio", "Pvalb"), "recall"] == 0.5
    assert table.loc[("tutorial ratio", "wt"), "precision"] == 0.0                       # wt: no ChR2 cell to hit
    assert np.isnan(table.loc[("tutorial ratio", "wt"), "recall"])
    assert optotagging.rule_f1(table, "three criteria") == 1.0
    chosen, why = optotagging.choose_rule(table)
    assert chosen == "three criteria" and "higher mean F1" in why
    assert optotagging.choose_rule(table, "tutorial ratio")[0] == "tutorial ratio"
    no_truth = optotagging.rule_table(light().drop(columns="ChR2"))
    assert "precision" not in no_truth and optotagging.choose_rule(no_truth)[0] == "three criteria"
    with pytest.raises(ValueError, match="tagging_rule"):
        optotagging.choose_rule(table, "both")
    texts = cell_types.tagging_texts(light(), table)
    assert (texts["wt_tutorial"], texts["wt_three"]) == (1, 0)
    assert texts["margin"].startswith("the planted ChR2 cells respond on 80% of pulses or more, every other unit on at most 10%")


def test_the_light_table_measures_every_session_and_adds_the_rules():
    from tests.test_optotagging_pseudomice import make_recording

    recordings = {1: make_recording(1), 2: make_recording(2, tagged=(), seed=1)}
    units = pd.DataFrame({"session_id": [1, 1, 2, 2], "unit_id": [10, 11, 10, 11]})
    table = optotagging.light_table(recordings, units, {1: "Sst", 2: "wt"}, optotagging.TaggingCriteria(),
                                    chr2=pd.Series({11: True}))
    assert table["session_id"].tolist() == [1, 1, 2, 2] and table["genotype"].tolist() == ["Sst", "Sst", "wt", "wt"]
    assert table["three criteria"].tolist() == [False, True, False, False]
    assert table["ChR2"].tolist() == [False, True, False, True]      # by unit id, absent ids False
    line = cell_types.describe_sessions(table, recordings, {1: "Sst", 2: "wt"})
    assert line == "4 cortical units in 2 sessions, 120 pulses per session (Sst: 1, wt: 1)"


def pseudo_units():
    rows = [{"session_id": s, "unit_id": u, "column": k, "region": "VISp"}
            for k, (s, u) in enumerate([(1, 10), (1, 11), (1, 12), (1, 13), (2, 20), (2, 21), (2, 22), (2, 23)])]
    return pd.DataFrame(rows)


def test_tagged_populations_get_size_matched_controls_and_need_two_cre_lines():
    units = pseudo_units()
    tags = pd.DataFrame({"session_id": units["session_id"].to_numpy(), "three criteria": [True, False, False, False, True, True, False,
                                                                                False]}, index=units["unit_id"].rename("unit_id"))
    labelled, pops, controls = celltypes.tagged_populations(units, tags, "three criteria", {1: "Pvalb", 2: "Sst"}, 3,
                                                            chr2=pd.Series({10: True, 20: True}))
    assert {t: c.tolist() for t, c in pops.items()} == {"PV": [0], "SST": [4, 5]}
    assert all(len(c) == len(pops[t]) and not set(c) & set(pops[t]) for t in pops for c in controls[t])
    summary = celltypes.population_summary(labelled, pops, controls)
    assert summary.loc["SST", ["sessions", "units", "truly ChR2", "controls truly ChR2"]].tolist() == [1, 2, 0.5, 0.0]
    with pytest.raises(ValueError, match="tags cells of 1 Cre line"):
        celltypes.tagged_populations(units, tags, "three criteria", {1: "Pvalb", 2: "wt"}, 3)


def test_fidelity_separates_tagged_populations_from_their_controls():
    movie, scene = narrations(), narrations(frames=6)
    table = cell_types.fidelity_table({"movie": movie, "scenes": scene})
    assert table.loc[("movie", "PV", "tagged population"), "matched"] == 0.6
    assert table.loc[("scenes", "SST", "size-matched controls"), "matched"] == 0.4
    texts = cell_types.fidelity_texts(table, movie, "movie", TYPES)
    assert texts["fidelity_gap"] == "PV +0.20, SST +0.20, VIP +0.20"
    assert texts["above_floor"] == "PV +0.30, SST +0.30, VIP +0.30"
    assert texts["distinct"] == "PV 4, SST 4, VIP 4" and texts["n_movie_frames"] == 12


def test_two_cell_types_agree_less_than_their_controls():
    pairwise = cell_types.pairwise_agreement(narrations(), TYPES, WordModel())
    assert list(pairwise.index) == ["PV–SST", "PV–VIP", "SST–VIP"]
    assert (pairwise["same frames (controls)"] > pairwise["same frames"]).all()
    assert (pairwise["cell types − controls"] < 0).all()
    texts = cell_types.pairwise_texts(pairwise)
    below = int((pairwise["CI high"] < pairwise["CI low (controls)"]).sum())
    assert texts["pair_diffs"].startswith("PV–SST -") and texts["pair_separate"].startswith(f"{below} of 3 pairs")
    assert texts["pair_blocks"].startswith("cell types: blocks of ") and "; controls: blocks of " in texts["pair_blocks"]


def test_distinctive_words_name_each_population_s_own_words():
    tagged, controls = cell_types.distinctive(narrations(), TYPES, top=3)
    assert set(tagged.loc[tagged["group"] == "SST", "word"]) <= set(WORDS["SST"])
    texts = cell_types.word_texts(tagged, controls, TYPES)
    assert texts["tagged_top_z"] != "n/a" and float(texts["tagged_top_z"]) > float(texts["control_top_z"])
    assert texts["top_words"].startswith("PV: ")


def test_the_classifier_tells_the_cell_types_apart_but_not_their_controls():
    movie = narrations(frames=8, draws=2)
    verdicts, against, table = cell_types.which_population(movie, TYPES, WordModel(), permutations=3)
    assert list(table.index) == ["cell types", "controls, draw 0", "controls, draw 1"]
    assert verdicts["cell types"]["accuracy"] > 0.8 and table["accuracy"].iloc[1:].max() < 0.6
    assert against["draws"] == 2 and against["p"] == pytest.approx(1 / 3) and against["difference"] > 0.2
    assert np.isnan(table.loc["controls, draw 1", "p vs chance"]) and np.isfinite(table.loc["cell types", "q vs chance"])
    shown = cell_types.classifier_p_values(table, against, 3)
    assert shown.at["cell types", "p vs chance"] == "<=0.25" and shown.at["controls, draw 1", "p vs chance"] == ""
    texts = cell_types.classifier_texts(verdicts, against, table, shown)
    assert texts["clf_cell"].startswith(f"{verdicts['cell types']['accuracy']:.2f} (p <=0.25") and texts["chance"] == "0.33"
    assert "draw 0 against chance" in texts["clf_control"]
    assert "2 control draws" in cell_types.classifier_notes(table, against, 3)


def test_concept_axes_add_a_lighting_axis_and_pool_the_controls():
    movie = narrations(frames=4)
    axes, names = cell_types.concept_axes(WordModel(), movie, ["a car", "bright lighting", "darkness or shadows"])
    assert names == ["a car", "bright lighting", "darkness or shadows", "lighting"]
    np.testing.assert_allclose(axes["lighting"], axes["bright lighting"] - axes["darkness or shadows"])
    means = cell_types.concept_means(axes, names)
    assert list(means.index) == ["PV", "PV controls", "SST", "SST controls", "VIP", "VIP controls"]
    assert means.loc["SST", "a car"] > means.loc["PV", "a car"]
    course = cell_types.axis_course(axes, "SST", "a car")
    assert list(course.index) == [0, 1, 2, 3] and course[0] > course[2]   # SST says "a car" at frame 0, "a van" at 2


def test_example_sentences_spread_over_the_frames():
    table = cell_types.example_sentences(narrations(frames=12), TYPES, examples=3)
    assert list(table.index) == [0, 6, 11] and list(table.columns) == [*TYPES, "reference"]
    assert table.at[6, "SST"] == "a van by a river" and table.at[11, "reference"] == "frame 11"


def planted_world(frames=24, clips=8):
    """A movie of ``clips`` clips; SST narrations and spikes follow a planted ``vehicle`` variable, nothing else does."""
    rng = np.random.default_rng(0)
    segment = np.arange(frames) // (frames // clips)
    vehicle = segment.astype(float)
    info = pd.DataFrame({"segment": segment, "vehicle": vehicle}, index=pd.Index(np.arange(frames), name="frame"))
    rows = []
    for t in TYPES:
        for population, draws in [(t, [0]), (f"{t} control", [0, 1])]:
            for d in draws:
                for f in range(frames):
                    car = population == "SST" and rng.random() < vehicle[f] / clips
                    rows.append({"population": population, "cell_type": t, "draw": d, "frame": f,
                                 "narration": "a car" if car else f"a tree {rng.integers(3)}"})
    movie = pd.DataFrame(rows)
    axes = movie.assign(**{"a car": (movie["narration"] == "a car").astype(float)})
    bins = np.arange(frames * 2)
    frame_of_bin = np.repeat(np.arange(frames), 2)
    counts = rng.poisson(2.0, (len(bins), 6)).astype(float)
    counts[:, 2] += 3 * vehicle[frame_of_bin]                       # column 2: the SST cell
    binned = SimpleNamespace(counts=counts, frame=frame_of_bin)
    split = SimpleNamespace(mask=lambda part: np.full(len(bins), part == splits.TEST))
    zscore = (np.zeros(6), np.ones(6))
    pops = {"PV": np.array([0]), "SST": np.array([2]), "VIP": np.array([4])}
    controls = {"PV": [np.array([1]), np.array([3])], "SST": [np.array([1]), np.array([3])],
                "VIP": [np.array([5]), np.array([3])]}
    return info, movie, axes, pops, controls, SimpleNamespace(binned=binned, split=split, zscore=zscore)


def test_the_planted_vehicle_code_comes_back_in_the_sst_cells_and_their_sentences():
    info, movie, axes, pops, controls, data = planted_world()
    spikes = cell_types.spike_course(data.binned, data.split, data.zscore, pops["SST"])
    assert len(spikes) == 24 and cell_types.frame_rho(spikes, info, "vehicle") > 0.8
    planted = cell_types.planted_truth(info, movie, axes, pops, controls, binned=data.binned, split=data.split,
                                       zscore=data.zscore, planted=[("SST", "a car", "vehicle"), ("PV", "lighting", "x")])
    assert list(planted["planted"]) == ["SST → vehicle"]            # no lighting axis: the PV code is not tested
    row = planted.iloc[0]
    assert row["clips (n_eff)"] == 8 and row["carrier ρ"] > 0.5 and row["spikes ρ"] > 0.9 and bool(row["recovered"])
    columns = list(planted.columns)
    assert columns.index("carrier q") == columns.index("carrier p") + 1 and columns.index("spikes q") == columns.index("spikes p") + 1
    assert columns.index("recovered") + 1 == columns.index("other types ρ")
    verdict = cell_types.planted_verdict(planted)
    assert verdict.startswith("SST → vehicle is recovered (axis ρ over 8 clips")
    lost = row.to_dict() | {"recovered": False, "carrier q": 0.5, "spikes q": 0.001}
    assert "the code is lost between the spikes and the sentence" in cell_types.explain(lost)
    assert "not tested" in cell_types.planted_verdict(cell_types.planted_truth(
        None, movie, axes, pops, controls, binned=data.binned, split=data.split, zscore=data.zscore))
    assert "Holm correction over its 2 tests" in cell_types.planted_notes(planted, movie)


def test_the_headline_keeps_the_recorded_columns_of_each_table():
    movie = narrations(frames=6)
    tagging = optotagging.rule_table(light())
    pairwise = pd.DataFrame({"same frames": [0.3], "CI low": [0.2], "block (frames)": [3], "blocks (n_eff)": [2],
                             "frames": [6]}, index=pd.Index(["PV–SST"], name="pair"))
    _, _, classifier = cell_types.which_population(movie, TYPES, WordModel(), permutations=0)
    info, pmovie, axes, pops, controls, data = planted_world()
    planted = cell_types.planted_truth(info, pmovie, axes, pops, controls, binned=data.binned, split=data.split,
                                       zscore=data.zscore, planted=[("SST", "a car", "vehicle")])
    record = cell_types.headline(tagging, pairwise, classifier, cell_types.fidelity_table({"movie": movie}), planted)
    assert list(record) == ["optotagging rules", "pairwise", "classifier", "fidelity", "planted truth"]
    assert list(record["classifier"]["rows"]) == ["cell types"]          # the control draws enter as their mean
    assert "block (frames)" not in record["pairwise"]["tolerances"]
    assert list(record["planted truth"]["rows"]) == ["SST → vehicle"]


def test_narrate_populations_keys_every_population_and_control_draw(monkeypatch, tmp_path):
    from neurrator.evaluation import scaling

    calls = []

    def run_point(point, units, *, decoder, windows, seed, made_by, path, key, **inputs):
        calls.append((point, list(units), path.name, key["narrator"], made_by))
        return pd.DataFrame({"pool": [point.pool], "size": [point.size], "draw": [point.draw], "frame": [0]})

    class Layout:
        targets = tmp_path

        def captions(self, stimulus):
            return tmp_path / f"{stimulus}.csv"

        def decoder(self, population, stimulus, regime):
            return tmp_path / f"{population}_{stimulus}_{regime}.pt"

        def sweep_point(self, folder, name):
            return tmp_path / folder / f"{name}.csv"

    monkeypatch.setattr(scaling, "run_point", run_point)
    monkeypatch.setattr(scaling, "scoring_inputs", lambda **kw: {})
    monkeypatch.setattr(scaling, "point_key", lambda **kw: {"narrator": kw["narrator"], "sbert": kw["sbert"]})
    monkeypatch.setattr("neurrator.vlm.captions.read_captions", lambda path: {0: "a cat"})
    monkeypatch.setattr("neurrator.vlm.targets.PatchTargetStore.open", lambda self, name: None)
    monkeypatch.setattr("neurrator.vlm.targets.PatchTargetStore.path", lambda self, name: tmp_path / name)
    pops = {"PV": np.array([0, 1]), "SST": np.array([2])}
    controls = {"PV": [np.array([3, 4]), np.array([5, 6])], "SST": [np.array([7]), np.array([8])]}
    table = cell_types.narrate_populations(pops, controls, None, None, layout=Layout(), stimulus="movie", regime="r",
                                           backend=None, sbert_model=None, narrator="demo-narrator", sbert="demo")
    assert table["population"].tolist() == ["PV", "PV control", "PV control", "SST", "SST control", "SST control"]
    assert table["cell_type"].tolist() == ["PV"] * 3 + ["SST"] * 3 and table["draw"].tolist() == [0, 0, 1, 0, 0, 1]
    assert calls[2][1] == [5, 6] and calls[0][3] == "demo-narrator" and calls[0][4] == "06_cell_types"


def test_the_scene_encoder_needs_the_movie_s_units_and_keeps_its_artifact_key(monkeypatch, tmp_path):
    import neurrator.data.pseudomice as pseudomice
    import neurrator.data.windows as windows_module
    import neurrator.models.training as training

    units = pd.DataFrame({"session_id": [1, 1], "unit_id": [10, 11]})
    movie_mouse = SimpleNamespace(units=units, stimulus="natural_movie_one")
    scene_units = {"units": units}
    monkeypatch.setattr(pseudomice, "pan_session_mouse", lambda layout, stimulus, sessions: SimpleNamespace(
        units=scene_units["units"], as_binned=lambda: "binned"))
    monkeypatch.setattr(windows_module, "regime_windows", lambda binned, regime, **kw: ("windows", regime, kw["fractions"]))
    saved = {}
    monkeypatch.setattr(training, "fit_and_save", lambda runs, targets, enc, train, **kw: saved.update(kw) or "decoder")

    class Layout:
        targets = tmp_path

        def checkpoints(self, *parts):
            return tmp_path / "ck"

        def decoder(self, *parts):
            return tmp_path / "_".join(parts)

        def binned(self, session, stimulus):
            return tmp_path / f"{session}_{stimulus}"

    monkeypatch.setattr("neurrator.vlm.targets.PatchTargetStore.open", lambda self, name: None)
    monkeypatch.setattr("neurrator.vlm.targets.PatchTargetStore.path", lambda self, name: tmp_path / name)
    train = SimpleNamespace(jitter=2, neuron_dropout=0.1)
    decoder, runs = cell_types.train_scene_encoder(Layout(), movie_mouse, "natural_scenes", "repeat", None, train,
                                                   sessions=[1], fractions=[0.7, 0.15, 0.15])
    assert decoder == "decoder" and runs == ("windows", "repeat", (0.7, 0.15, 0.15))
    assert saved["params"] == {"population": "pan_session", "stimulus": "natural_scenes", "regime": "repeat", "columns": None}
    assert set(saved["inputs"]) == {"binned_1", "targets"} and saved["made_by"] == "06_cell_types"
    scene_units["units"] = units.iloc[:1]
    with pytest.raises(ValueError, match="natural_scenes and natural_movie_one are binned with different units"):
        cell_types.train_scene_encoder(Layout(), movie_mouse, "natural_scenes", "repeat", None, train, sessions=[1])
