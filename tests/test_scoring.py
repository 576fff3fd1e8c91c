import zlib

import numpy as np
import pandas as pd
import pytest

from neurrator.evaluation.scoring import (WORD_SALAD, above_controls, derangement, embed_unique,
                               fraction_distinct, half_shift, matched_vs_shuffled, score_narrations, summary_table)


class FakeModel:
    """Random unit vector per sentence (stable across calls); records every sentence it encodes."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.encoded: list[str] = []

    def encode(self, sentences, batch_size=32, normalize_embeddings=False, convert_to_numpy=True,
               show_progress_bar=None):
        self.encoded.extend(sentences)
        rows = [np.random.default_rng(zlib.crc32(s.encode())).standard_normal(self.dim) for s in sentences]
        x = np.array(rows).reshape(len(sentences), self.dim)
        return x / np.linalg.norm(x, axis=1, keepdims=True) if normalize_embeddings else x


REFS = [f"Reference caption number {i}." for i in range(12)]


@pytest.fixture(scope="module")
def sbert():
    from neurrator.evaluation.sbert import load_sbert

    return load_sbert("demo")


def test_word_salad_is_long_and_distinct():
    assert len(WORD_SALAD) >= 30
    assert len(set(WORD_SALAD)) == len(WORD_SALAD)
    assert all(s.strip() and s.endswith(".") for s in WORD_SALAD)


def test_embed_unique_encodes_each_distinct_sentence_once():
    model = FakeModel()
    sentences = ["a cat", "a dog", "a cat", "a cat", "a bird", "a dog"]
    emb = embed_unique(model, sentences)
    assert sorted(model.encoded) == ["a bird", "a cat", "a dog"]
    assert emb.shape == (6, 256) and emb.dtype == np.float32
    np.testing.assert_allclose(emb[0], emb[2])
    np.testing.assert_allclose(emb[1], emb[5])
    np.testing.assert_allclose(emb[4], FakeModel().encode(["a bird"], normalize_embeddings=True)[0], atol=1e-6)
    assert not np.allclose(emb[0], emb[1])


@pytest.mark.parametrize("n", [2, 3, 5, 50])
def test_derangement_has_no_fixed_points(n):
    for seed in range(20):
        perm = derangement(n, np.random.default_rng(seed))
        assert sorted(perm) == list(range(n))
        assert not np.any(perm == np.arange(n))


def test_derangement_is_seeded():
    a = derangement(50, np.random.default_rng(0))
    np.testing.assert_array_equal(a, derangement(50, np.random.default_rng(0)))
    assert not np.array_equal(a, derangement(50, np.random.default_rng(1)))
    np.testing.assert_array_equal(derangement(1, np.random.default_rng(0)), [0])


def test_identical_narrations_match_perfectly():
    scores = score_narrations(FakeModel(), REFS, REFS)
    assert list(scores.columns) == ["matched", "shuffled", "random_caption", "word_salad"]
    assert len(scores) == len(REFS)
    np.testing.assert_allclose(scores["matched"], 1, atol=1e-5)
    assert (scores["matched"] > scores["shuffled"] + 0.5).all()
    # distinct strings are near-orthogonal under the fake model: the own reference is never the random caption
    assert (scores["random_caption"] < 0.5).all()


def test_scores_are_seeded():
    narrations = [f"Narration {i}." for i in range(12)]
    a = score_narrations(FakeModel(), narrations, REFS, seed=0)
    pd.testing.assert_frame_equal(a, score_narrations(FakeModel(), narrations, REFS, seed=0))
    b = score_narrations(FakeModel(), narrations, REFS, seed=1)
    pd.testing.assert_series_equal(a["matched"], b["matched"])
    pd.testing.assert_series_equal(a["word_salad"], b["word_salad"])
    assert not np.allclose(a["shuffled"], b["shuffled"])
    assert not np.allclose(a["random_caption"], b["random_caption"])


def test_random_caption_avoids_own_reference_in_a_pool_with_duplicates():
    refs = ["A cat.", "A dog.", "A cat.", "A dog."]
    pool = ["A cat.", "A dog.", "A cat."]
    for seed in range(10):
        scores = score_narrations(FakeModel(), refs, refs, caption_pool=pool, seed=seed)
        # the only alternative to either reference is the other animal
        cat, dog = FakeModel().encode(["A cat.", "A dog."], normalize_embeddings=True)
        np.testing.assert_allclose(scores["random_caption"], [cat @ dog] * 4, atol=1e-5)
    # with no alternative in the pool, the own reference is all there is
    only = score_narrations(FakeModel(), ["A cat."], ["A cat."], caption_pool=["A cat."])
    np.testing.assert_allclose(only["random_caption"], 1, atol=1e-5)


def test_word_salad_is_mean_cosine_to_salad():
    model = FakeModel()
    scores = score_narrations(model, ["x", "y"], REFS[:2])
    salad = model.encode(list(WORD_SALAD), normalize_embeddings=True)
    ref = model.encode(REFS[:2], normalize_embeddings=True)
    np.testing.assert_allclose(scores["word_salad"], (ref @ salad.T).mean(1), atol=1e-5)


@pytest.mark.parametrize("narrations, references, message", [
    (["a", "b"], ["a"], "2 narrations but 1 reference"),
    ([], [], "no narrations"),
])
def test_bad_inputs_raise(narrations, references, message):
    with pytest.raises(ValueError, match=message):
        score_narrations(FakeModel(), narrations, references)


def test_real_sbert_cat_beats_word_salad(sbert):
    refs = ["A cat sits on a sofa.", "A rocket lifts off from a launch pad.", "A cup of coffee on a table."]
    narrations = ["A cat is resting on a couch.", "A rocket is launching into the sky.", "A mug of coffee sits on a desk."]
    scores = score_narrations(sbert, narrations, refs)
    assert scores.loc[0, "matched"] > scores.loc[0, "word_salad"] + 0.3
    assert (scores["matched"] > scores["shuffled"]).all()
    assert (scores["matched"] > scores["random_caption"]).all()


def test_fraction_distinct():
    assert fraction_distinct(["a", "a", "b", "c"]) == 0.75
    assert np.isnan(fraction_distinct([]))


def test_block_test_direction_and_effective_n():
    rng = np.random.default_rng(0)
    shuffled = rng.normal(0.2, 0.05, 60)
    frames = np.arange(60)
    good = matched_vs_shuffled(pd.DataFrame({"matched": shuffled + 0.3, "shuffled": shuffled, "frame": frames}))
    bad = matched_vs_shuffled(pd.DataFrame({"matched": shuffled - 0.3, "shuffled": shuffled, "frame": frames}))
    assert good["p"] < 1e-3 and bad["p"] > 0.9
    assert good["blocks"] == len(np.unique(frames // good["block_frames"]))
    tie = matched_vs_shuffled(pd.DataFrame({"matched": 0.5, "shuffled": 0.5, "frame": np.arange(12)}))
    assert tie["p"] == 1.0
    one_block = matched_vs_shuffled(pd.DataFrame({"matched": [0.6, 0.7, 0.6], "shuffled": 0.5, "frame": [1, 2, 3]}))
    assert one_block["blocks"] == 1 and np.isnan(one_block["p"])          # nothing to resample: no p


def test_block_test_does_not_count_a_repeated_sentence_as_new_evidence():
    """One sentence narrated for 60 consecutive frames of one shot, ahead of the shuffled control only in that
    shot: the frame-level test would call 60 wins significant; on blocks of the shot's length there is one."""
    frames = np.arange(120)
    matched = np.where(frames < 60, 0.8, 0.2)
    shuffled = np.full(120, 0.2)
    result = matched_vs_shuffled(pd.DataFrame({"matched": matched, "shuffled": shuffled, "frame": frames}))
    assert result["block_frames"] >= 30
    assert result["p"] > 0.05


def test_half_shift_pairs_far_frames():
    frames = np.array([30, 10, 20, 0])
    partner = half_shift(frames)
    assert sorted(partner) == [0, 1, 2, 3] and not np.any(partner == np.arange(4))
    np.testing.assert_array_equal(frames[partner], [10, 30, 0, 20])
    scores = score_narrations(FakeModel(), REFS, REFS, frames=np.arange(len(REFS)))
    assert (scores["shuffled"] < scores["matched"]).all()


def _scores(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = dict(shuffled=rng.normal(0.2, 0.03, 2 * n), random_caption=rng.normal(0.15, 0.03, 2 * n),
                word_salad=rng.normal(0.05, 0.01, 2 * n))
    matched = np.r_[base["shuffled"][:n] + 0.4 + rng.normal(0, 0.05, n), base["shuffled"][n:] + rng.normal(0, 0.05, n)]
    return pd.DataFrame({"decoder": ["good"] * n + ["bad"] * n, "mouse": ["m1", "m2"] * n, "matched": matched,
                         **base, "narration": [f"s{i % 10}" for i in range(2 * n)], "frame": np.r_[np.arange(n), np.arange(n)]})


def test_summary_table_groups_rounds_and_flags():
    scores = _scores()  # "good" appears first: the table must not sort groups
    table = summary_table(scores, "decoder", decimals=2)
    assert list(table["decoder"]) == ["good", "bad"]
    assert list(table.columns) == ["decoder", "n", "block (frames)", "blocks (n_eff)", "matched", "matched CI low",
                                   "matched CI high", "shuffled", "random caption", "word salad", "matched - shuffled",
                                   "p", "distinct sentences", "distinct", "q (Holm)"]
    assert "Holm" in table.attrs["family"] and "2 tests" in table.attrs["family"]
    assert list(table["n"]) == [40, 40]
    good = table.iloc[0]
    assert good["matched CI low"] < good["matched"] < good["matched CI high"]
    assert good["p"] == "<0.001" and good["distinct"] == 0.25 and good["distinct sentences"] == 10
    assert good["matched"] == round(scores.loc[scores.decoder == "good", "matched"].mean(), 2)
    floats = table.select_dtypes(float)
    assert (floats == floats.round(2)).all().all()
    assert list(above_controls(table)) == [True, False]

    by_two = summary_table(scores, ["decoder", "mouse"], decimals=3)
    assert len(by_two) == 4 and list(by_two["n"]) == [20] * 4
    assert list(by_two.columns[:2]) == ["decoder", "mouse"]
    assert list(by_two["decoder"]) == ["good", "good", "bad", "bad"]


def test_above_controls_parses_p_and_checks_every_control():
    row = {"matched CI low": 0.5, "shuffled": 0.2, "random caption": 0.2, "word salad": 0.1, "q (Holm)": "<0.001"}
    table = pd.DataFrame([row, {**row, "q (Holm)": "0.060"}, {**row, "word salad": 0.6},
                          {**row, "q (Holm)": "0.004"}, {**row, "q (Holm)": ""}])
    assert list(above_controls(table)) == [True, False, False, True, False]
    assert list(above_controls(table, alpha=0.001)) == [True, False, False, False, False]
