"""Chapter 08's steps (neurrator.evaluation.baseline_steps, models.baselines.BaselineRecipe): the recipe, the MLP
saved and read back, narration with its floor, Tables A1-A3 and the glued texts."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from neurrator.artifacts import ArtifactError, read_sidecar, write_artifact
from neurrator.evaluation import baseline_steps as steps
from neurrator.layout import DataLayout
from neurrator.models.baselines import BaselineRecipe, CebraKNN, PCAKNN
from neurrator.models.training import EncoderConfig, TrainConfig
from test_baselines import _world
from test_scaling import WordModel


def test_the_recipe_comes_from_a_cebra_preset_and_builds_every_estimator():
    recipe = BaselineRecipe.from_preset({"dimensions": [8, 32], "iterations": 300, "batch_size": 256},
                                        ridge_alphas=(1, 10), pca_components=5, knn_k=3, seed=7)
    cebra = recipe.cebra_knn()
    assert isinstance(cebra, CebraKNN) and (cebra.output_dimension, cebra.max_iterations, cebra.batch_size) == (32, 300, 256)
    assert (cebra.k, cebra.seed) == (3, 7) and recipe.cebra_knn(8).output_dimension == 8
    assert recipe.ridge().alphas == [1.0, 10.0] and isinstance(recipe.pca_knn(), PCAKNN)
    assert list(recipe.frame_id_models()) == ["Ridge", "PCA + KNN", "CEBRA-8 + KNN", "CEBRA-32 + KNN"]


def test_window_table_counts_each_regimes_windows():
    windows = {"r": SimpleNamespace(train=range(5), val=range(2), test=range(3),
                                    split=SimpleNamespace(held_out=np.array([True, False, True])))}
    table = steps.window_table(windows, 11)
    assert table.loc["r"].to_dict() == {"training windows": 5, "validation windows": 2, "test windows": 3,
                                        "held-out frames": 2, "units": 11}


def test_the_mlp_is_saved_with_its_params_and_read_back_not_retrained(tmp_path):
    train, val, test, targets = _world()
    layout = DataLayout(tmp_path, "demo")
    from neurrator.vlm.targets import PatchTargetStore

    for made_by, path in (("01_preprocess", layout.binned(5, "m")), ("02_targets", PatchTargetStore(layout.targets).path("m"))):
        write_artifact(path, lambda tmp: Path(tmp).write_bytes(b"input"), made_by=made_by)   # the sidecar's inputs
    data = SimpleNamespace(train=train, val=val)
    config = TrainConfig(lr=3e-3, batch_size=32, max_epochs=1, windows_per_epoch=64, val_windows=16, seed=0)
    options = dict(layout=layout, session_id=5, stimulus="m", regime="sparse_random", made_by="08_baselines")
    mlp = steps.fit_mlp(data, targets, EncoderConfig(d_model=16, dropout=0.0), config, **options)
    path = layout.decoder(5, "m", "sparse_random", "mlp_patches")
    sidecar = read_sidecar(path)
    assert sidecar["made_by"] == "08_baselines"
    assert sidecar["params"] == {"session_id": 5, "stimulus": "m", "regime": "sparse_random", "objective": "mlp_patches"}
    assert set(sidecar["inputs"]) == {"binned", "targets"} and mlp.n_params_ > 0 and mlp.fit_seconds_ > 0
    again = steps.fit_mlp(data, targets, EncoderConfig(d_model=16, dropout=0.0), config, **options)
    assert again.history_["seconds"].tolist() == mlp.history_["seconds"].tolist()      # the finished run, read back
    ids, grids = steps.heldout_grids(again, test)
    assert grids.shape == (len(ids), 3, 8)


class EchoBackend:
    name = "echo"

    def narrate(self, grids, batch_size=32, progress=False):
        return ["a cat" if g.mean() > 0 else "a dog" for g in grids]


def test_narrate_methods_adds_the_encoders_narrations_and_a_random_sentence_floor():
    references = {0: "a cat", 1: "a dog", 2: "a bird"}
    encoder = pd.DataFrame({"regime": "r", "frame": [0, 1, 2], "narration": ["a cat", "a dog", "a bird"],
                            "reference": ["a cat", "a dog", "a bird"], "decoder": "Neurrator", "stimulus": "m"})
    grids = np.stack([np.full((2, 3), v, np.float32) for v in (1.0, -1.0, 1.0)])
    predicted = {"r": {"Neurrator": (np.arange(3), grids), "Ridge": (np.arange(3), grids)}}
    narrated = steps.narrate_methods(EchoBackend(), WordModel(), predicted, encoder, references, stimulus="m",
                                     session_id=1, seed=0)
    assert narrated.groupby("method", sort=False).size().to_dict() == {"Neurrator": 3, "Ridge": 3, "random sentence": 3}
    floor = narrated[narrated["method"] == "random sentence"]
    assert (floor["narration"] != floor["reference"]).all()
    ridge = narrated[narrated["method"] == "Ridge"].set_index("frame")["matched"]
    assert ridge[0] == pytest.approx(1.0) and ridge[1] == pytest.approx(1.0) and ridge[2] < 0.9


def _narrated(gap: float, frames: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = 0.5 + 0.05 * rng.standard_normal(frames)
    rows = [pd.DataFrame({"regime": "r", "method": m, "frame": np.arange(frames), "narration": [f"s{i % 7}" for i in
                          range(frames)], "matched": base + d + 0.01 * rng.standard_normal(frames)})
            for m, d in (("Neurrator", 0.0), ("Ridge", -gap), ("random sentence", -0.3))]
    return pd.concat(rows, ignore_index=True)


def test_table_a1_tests_each_method_against_the_encoder():
    table = steps.table_a1(_narrated(0.2), ["r"], ["Neurrator", "Ridge", "random sentence"], seed=0)
    assert np.isnan(table.loc[("r", "Neurrator"), "p vs Neurrator"]) and table.loc[("r", "Ridge"), "p vs Neurrator"] < 0.05
    assert table.loc[("r", "Ridge"), "SBERT matched"] == pytest.approx(table.loc[("r", "Neurrator"), "SBERT matched"] - 0.2,
                                                                       abs=0.01)
    assert table["frames"].tolist() == [60, 60, 60] and "2 tests" in steps.a1_family(table)
    assert steps.a1_text(table, ["r"]).startswith("r: the encoder 0.50, the best baseline Ridge 0.30, the floor 0.20")
    close = steps.table_a1(_narrated(0.0), ["r"], ["Neurrator", "Ridge", "random sentence"], seed=0)
    assert close.loc[("r", "Ridge"), "p vs Neurrator"] > 0.05


def test_table_a2_credits_a_perfect_prediction_and_the_exclusion_zone_keeps_it_first():
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(40, 8))
    ids = np.arange(0, 40, 2)
    embedded = {"perfect": (ids, candidates[ids]), "noise": (ids, rng.normal(size=(len(ids), 8)))}
    table = steps.table_a2(embedded, candidates, {i: f"caption {i % 4}" for i in range(40)}, exclusion_frames=3)
    assert table.loc["perfect", "R@10"] == 1.0 and table.loc["perfect", "median rank"] == 1.0
    assert table.loc["perfect", "median rank (±3 excluded)"] == 1.0 and table.loc["noise", "median rank"] > 3
    assert table.loc["perfect", "CKA"] == pytest.approx(1.0) and table["frames"].tolist() == [20, 20]
    assert steps.a2_text(table.rename(index={"perfect": "Neurrator"}), 3).startswith(
        "the lowest median rank is Neurrator's (1.0; the encoder 1.0)")


def test_neighbour_lookup_and_its_texts():
    train, _, test, targets = _world()
    knn = PCAKNN(n_components=4, k=3).fit(train, targets)
    fitted = {"a": {"PCA + KNN": knn, "CEBRA + KNN": knn}, "b": {"PCA + KNN": knn, "CEBRA + KNN": knn}}
    windows = {"a": SimpleNamespace(test=test), "b": SimpleNamespace(test=test)}
    lookup, gaps = steps.neighbour_lookup(fitted, windows, exclusion_frames=2)
    assert list(lookup.index) == [("a", "PCA + KNN"), ("a", "CEBRA + KNN"), ("b", "PCA + KNN"), ("b", "CEBRA + KNN")]
    assert (gaps["frame gap"] >= 1).all() and lookup["neighbours within ±2 frames"].between(0, 1).all()
    a1 = pd.DataFrame({"SBERT matched": [0.5, 0.6, 0.4, 0.5, 0.5, 0.5]}, index=pd.MultiIndex.from_product(
        [["a", "b"], ["Neurrator", "PCA + KNN", "CEBRA + KNN"]]))
    texts = steps.lookup_texts(lookup, a1, ["a", "b"], "a", exclusion_frames=2)
    assert texts["knn_lead"] == "a +0.10, b +0.00" and texts["lookup_text"].startswith("in a, ")
    assert texts["lookup_blocks"].startswith("b: ") and steps.lookup_texts(lookup, a1, ["a"], "a", 2)[
        "lookup_blocks"] == "no other regime was run"


def test_table_a3_orders_methods_and_adds_chance():
    a3 = pd.DataFrame({"session": [1, 1, 2, 2], "method": ["Ridge", "PCA + KNN"] * 2, "R@1": [0.2, 0.4, 0.4, 0.6],
                       "parameters": [10, 20, 11, 21]})
    table = steps.table_a3(a3, ["PCA + KNN", "Ridge"], n_frames=4)
    assert list(table.index) == ["PCA + KNN", "Ridge", "chance"]
    assert table.loc["Ridge", "mean"] == pytest.approx(0.3) and table.loc["PCA + KNN", "parameters (first session)"] == 20
    assert table.loc["chance", 1] == 0.25 and np.isnan(table.loc["chance", "parameters (first session)"])


def test_paper_texts_side_by_side_and_encoder_gap():
    order = ["Neurrator", "Ridge", "random sentence"]
    a1 = pd.DataFrame({"SBERT matched": [0.5, 0.3, 0.2, 0.22, 0.25, 0.21]},
                      index=pd.MultiIndex.from_product([["sparse_random", "front_only"], order]))
    texts = steps.paper_texts(a1, ["sparse_random", "front_only"], "sparse_random", {0: "a b", 1: "a b", 2: "c"})
    assert texts == {"n_distinct_captions": 2, "caption_example": "a b", "floor_sparse": "0.20", "front_gap": "+0.04",
                     "ordering_text": "Neurrator > Ridge > random sentence"}
    assert steps.paper_texts(a1, ["sparse_random"], "sparse_random", {0: "x"})["front_gap"] == "(front only not run)"
    a2 = pd.DataFrame({"R@10": [0.4, 0.1], "median rank": [5, 30]}, index=["Neurrator", "Ridge"])
    side = steps.against_paper(a1, a2, "sparse_random", order)
    assert list(side.columns[:2]) == ["SBERT, sparse random", "SBERT, sparse random (this run)"]
    assert side.loc["Neurrator", "SBERT, sparse random"] == 0.426 and side.loc["Ridge", "median rank (this run)"] == 30
    summary = pd.DataFrame({"below plateau": [0.03, np.nan]}, index=["sparse_random", "front_only"])
    assert steps.encoder_gap_text(summary) == "0.03 (sparse random)"
    assert steps.encoder_gap_text(pd.DataFrame(index=["x"])) == "(no plateau measured for this session)"


def test_a_missing_encoder_names_chapter_03(tmp_path):
    with pytest.raises(ArtifactError, match="run notebook 03_train first"):
        steps.read_encoders(DataLayout(tmp_path, "demo"), 1, "m", ["sparse_random"], binned=None)
    with pytest.raises(ArtifactError, match="run notebook 02_targets first"):
        steps.read_targets(DataLayout(tmp_path, "demo"), "m")
