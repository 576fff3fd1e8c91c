"""Distinctive words (log-odds with an informative Dirichlet prior), the population classifier, concept axes."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator.evaluation.attribution import which_population
from neurrator.evaluation.concepts import concept_scores, load_text_embedder
from neurrator.evaluation.words import distinctive_words, log_odds_z, word_counts


def test_words_are_counted_without_stop_words():
    counts = word_counts({"a": ["The car is on the road", "a car"], "b": ["A dog in the park"]})
    assert counts.loc["a", "car"] == 2 and counts.loc["b", "dog"] == 1
    assert "the" not in counts.columns and "is" not in counts.columns


def test_log_odds_finds_the_word_one_group_overuses():
    groups = {"SST": ["a car on the street"] * 20 + ["a quiet street"] * 20,
              "PV": ["a dog on the street"] * 20 + ["a quiet street"] * 20,
              "VIP": ["a dark room"] * 20 + ["a quiet street"] * 20}
    table = distinctive_words(groups, top=3)
    top = table[table["rank"] == 1].set_index("group")["word"].to_dict()
    assert top["SST"] == "car" and top["PV"] == "dog" and top["VIP"] in {"dark", "room"}
    assert table.loc[(table["group"] == "SST") & (table["word"] == "car"), "z"].item() > 1.96
    z = log_odds_z(word_counts(groups))
    assert z.loc["SST", "car"] > 0 > z.loc["PV", "car"]           # a word SST overuses, the others underuse
    assert abs(z.loc["SST", "quiet"]) < 1.0                          # shared equally: not distinctive


def test_equal_groups_have_no_distinctive_words():
    same = ["a car on a street", "a dog in a park"] * 10
    z = log_odds_z(word_counts({"a": same, "b": same, "c": same}))
    np.testing.assert_allclose(z.to_numpy(), 0, atol=1e-12)
    assert word_counts({"a": ["the"], "b": [""]}).shape[1] == 0     # only stop words: nothing to count


def _embeddings(separable: bool, n_frames=40, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.repeat(np.arange(n_frames), 3)
    labels = np.tile(["PV", "SST", "VIP"], n_frames)
    content = rng.normal(size=(n_frames, 16))[frames]               # what the frame shows, shared by all three
    who = {"PV": 0, "SST": 1, "VIP": 2}
    x = content + rng.normal(scale=0.3, size=content.shape)
    if separable:
        x[np.arange(len(x)), [who[l] for l in labels]] += 3.0
    return x, labels, frames


def test_the_classifier_tells_separable_populations_apart():
    x, labels, frames = _embeddings(True)
    result = which_population(x, labels, frames, n_permutations=30)
    assert result["accuracy"] > 0.9 and result["p"] < 0.05 and result["chance"] == pytest.approx(1 / 3)
    assert result["confusion"].to_numpy().trace() == pytest.approx(result["accuracy"] * len(labels))


def test_the_classifier_stays_at_chance_when_only_the_frame_differs():
    x, labels, frames = _embeddings(False)
    result = which_population(x, labels, frames, n_permutations=30)
    assert result["accuracy"] < 0.6 and result["p"] > 0.05
    with pytest.raises(ValueError, match="two populations"):
        which_population(x, ["PV"] * len(x), frames)


def test_demo_concept_axes_rank_the_sentence_about_the_concept_first():
    embedder = load_text_embedder("demo")
    scores = concept_scores(embedder, ["a red car driving down a road", "a dark room at night"],
                            ["a car or vehicle", "darkness or shadows"])
    assert scores.shape == (2, 2)
    assert scores.loc[0, "a car or vehicle"] > scores.loc[1, "a car or vehicle"]
    assert scores.loc[1, "darkness or shadows"] > scores.loc[0, "darkness or shadows"]
    with pytest.raises(ValueError, match="model_id is for profile 'paper'"):
        load_text_embedder("demo", model_id="x")


def test_paper_concept_axes_use_a_clip_text_tower_loaded_offline(tmp_path):
    from tiny_models import build_tiny_clip_text

    embedder = load_text_embedder("paper", model_id=str(build_tiny_clip_text(tmp_path / "clip")))
    scores = concept_scores(embedder, ["a car on the street", "a dark room", "a car on the street"], ["a car", "dark"])
    assert scores.shape == (3, 2) and np.isfinite(scores.to_numpy()).all()
    np.testing.assert_allclose(scores.iloc[0], scores.iloc[2])                 # same sentence, same score
    rows = embedder.encode(["a car", "a dog in the park"])
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1, rtol=1e-5)
