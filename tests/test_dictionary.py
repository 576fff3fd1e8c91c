"""Inference in chapter 07's dictionary analysis: the top-k bootstrap over blocks of frames and the comparison of
a cell type with its size-matched control draws, each shown failing where the version it replaces fails.
(The descriptive pieces of neurrator.evaluation.dictionary are tested in tests/test_sae_concepts.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.evaluation import dictionary, inference


# ----------------------------------------------------------------------------- block bootstrap of the top-k
def block_dependent_codes(rng, frames=300, per_frame=10, features=60, block=30):
    """Codes of ``per_frame`` bins per frame whose strong features change only from one run of ``block`` frames
    to the next (a scene): within a run the bins are near copies, so the effective n is the number of runs."""
    runs = frames // block
    scene = rng.exponential(1.0, (runs, features)) ** 3             # a few features dominate each scene
    frame = np.repeat(np.arange(frames), per_frame)
    codes = scene[frame // block] + rng.exponential(0.05, (len(frame), features))
    return frame, codes


def test_block_resampling_sees_the_instability_that_row_resampling_hides():
    rng = np.random.default_rng(0)
    frames, codes = block_dependent_codes(rng)
    k = 5
    rows, _ = dictionary.bootstrap_top_overlap({"pop": codes}, k, n_resamples=200, seed=0)
    blocks = dictionary.top_k_blocks({"pop": codes}, frames, k)
    by_block, always = dictionary.bootstrap_top_overlap({"pop": codes}, k, n_resamples=200, seed=0, blocks=blocks)
    # 3000 bins look like 3000 samples to the row bootstrap, which finds the top-k nearly certain (seeds 0-5:
    # 0.89-1.00); the measured blocks span the scenes and the top-k moves with which scenes are drawn (0.64-0.68)
    assert rows["overlap"].mean() > 0.85
    assert by_block["overlap"].mean() < rows["overlap"].mean() - 0.15
    assert blocks.length >= 30 and blocks.n <= 10 and "autocorrelation" in blocks.basis
    assert len(always["pop"]) < k


def test_measured_blocks_are_short_for_independent_bins():
    rng = np.random.default_rng(1)
    frames = np.repeat(np.arange(300), 4)
    codes = rng.exponential(1.0, (len(frames), 40))
    blocks = dictionary.top_k_blocks({"a": codes, "b": codes[::-1]}, frames, 5)
    assert blocks.length <= 2 * inference.BLOCK_DECORRELATIONS and blocks.n >= 50


def test_a_block_resample_takes_every_row_of_each_drawn_block():
    """The vectorised resample equals drawing blocks and pooling their rows by hand (same draws)."""
    rng = np.random.default_rng(2)
    frames = np.repeat(np.arange(40), rng.integers(1, 4, 40))       # blocks of unequal size
    codes = rng.exponential(1.0, (len(frames), 12))
    blocks = inference.frame_blocks(frames, length=4)
    k, resamples, seed = 3, 25, 7
    table, _ = dictionary.bootstrap_top_overlap({"pop": codes}, k, n_resamples=resamples, seed=seed, blocks=blocks)
    labels = np.unique(blocks.labels)
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(resamples, len(labels)))
    full = dictionary.top_features(codes.mean(0), k)
    expected = [len(np.intersect1d(dictionary.top_features(
        codes[np.concatenate([np.flatnonzero(blocks.labels == labels[b]) for b in draw])].mean(0), k), full)) / k
        for draw in draws]
    np.testing.assert_allclose(table["overlap"].to_numpy(), expected)
    with pytest.raises(ValueError, match="block labels"):
        dictionary.bootstrap_top_overlap({"pop": codes}, k, blocks=inference.frame_blocks(frames[:-1], length=4))
    single, always = dictionary.bootstrap_top_overlap({"pop": codes}, k, n_resamples=5,
                                                      blocks=inference.frame_blocks(frames, length=1000))
    assert len(single) == 5 and single["overlap"].isna().all() and len(always["pop"]) == 0   # one block: no evidence


# ----------------------------------------------------------------------------- control-draw null
def test_control_null_counts_draws_at_least_as_extreme_and_enumerates_the_joint_assignments():
    values = {"A": 10.0, "a1": 1.0, "a2": 10.0, "a3": 3.0, "B": 0.0, "b1": 1.0, "b2": 2.0, "b3": 3.0}
    members = {"A": ["A", "a1", "a2", "a3"], "B": ["B", "b1", "b2", "b3"]}
    statistic = lambda assignment: {t: values[m] for t, m in assignment.items()}
    greater = dictionary.control_null(statistic, members, "greater")
    assert greater.loc["A", "p"] == pytest.approx(2 / 4)          # a2 ties: at least as extreme
    assert greater.loc["B", "p"] == 1.0 and greater.loc["A", "draws"] == 3 and greater.loc["A", "p floor"] == 0.25
    assert dictionary.control_null(statistic, members, "less").loc["B", "p"] == pytest.approx(1 / 4)
    joint = greater.loc["all types"]
    assert joint["draws"] == 15 and joint["p floor"] == pytest.approx(1 / 16)    # 4 x 4 assignments, one observed
    sums = np.add.outer([10, 1, 10, 3], [0, 1, 2, 3]).ravel()
    assert joint["value"] == 10 and joint["p"] == pytest.approx((sums >= 10).sum() / 16)
    sampled = dictionary.control_null(statistic, members, "greater", max_joint=10, seed=0).loc["all types"]
    assert sampled["draws"] == 10 and sampled["p floor"] == pytest.approx(1 / 11)
    two_sided = dictionary.control_null(statistic, {"A": ["A", "a1", "a3", "a2"]}, "two-sided", joint=False)
    assert list(two_sided.index) == ["A"] and two_sided.loc["A", "p"] == pytest.approx(2 / 4)   # |10 - 3| vs a2's 7
    with pytest.raises(ValueError, match="alternative"):
        dictionary.control_null(statistic, members, "bigger")


def test_control_null_leaves_out_draws_without_a_value():
    members = {"A": ["A", "a1", "a2", "a3"]}
    values = {"A": 5.0, "a1": np.nan, "a2": 1.0, "a3": 2.0}
    row = dictionary.control_null(lambda a: {"A": values[a["A"]]}, members, joint=False).loc["A"]
    assert row["draws"] == 2 and row["p"] == pytest.approx(1 / 3) and row["control mean"] == 1.5


TYPES = ("PV", "SST", "VIP")


def population_codes(rng, common, planted=(), rows=200):
    """One population's codes: the movie's common features (every population predicts them) with its own noise;
    ``planted`` features are strong in this population only."""
    codes = common * rng.uniform(0.6, 1.4, common.shape) + rng.exponential(0.3, (rows, len(common)))
    codes[:, list(planted)] += 4.0
    return codes


def unique_counts(codes, k):
    tops = {name: dictionary.top_features(c.mean(0), k) for name, c in codes.items()}
    return lambda assignment: {t: len(u) for t, u in
                               dictionary.unique_by_magnitude({t: tops[m] for t, m in assignment.items()}).items()}


def random_world(rng, draws, planted=(), features=80):
    """Three cell types and ``draws`` size-matched controls each; PV carries ``planted`` features."""
    common = np.zeros(features)
    common[:8] = np.linspace(3, 2, 8)                                # the top-k every population shares
    codes, members = {}, {}
    for t in TYPES:
        members[t] = [t, *(f"{t} control {d}" for d in range(draws))]
        for m in members[t]:
            codes[m] = population_codes(rng, common, planted if m == "PV" else ())
    return codes, members


def test_a_population_with_planted_unique_features_beats_its_controls_and_one_without_does_not():
    k, draws = 10, 79                       # PV's p floor 1/80, under 0.05 after Holm over the table's 4 tests
    rng = np.random.default_rng(3)
    codes, members = random_world(rng, draws, planted=(50, 51, 52, 53))
    table = dictionary.control_null(unique_counts(codes, k), members, "greater", seed=0)
    assert table.loc["PV", "value"] >= 4 and table.loc["PV", "value"] > table.loc["PV", "control max"]
    assert table.loc["PV", "p"] == pytest.approx(1 / (draws + 1))   # above every draw
    assert table.loc["SST", "p"] > 0.05 and table.loc["VIP", "p"] > 0.05
    assert table.loc["all types", "p"] < 0.05
    q = inference.correct(table["p"].to_numpy(), "holm")
    assert q[0] < 0.05 and (q[1:3] >= 0.05).all()
    # the same world without the planted features: PV is one more random population
    codes, members = random_world(np.random.default_rng(3), draws)
    plain = dictionary.control_null(unique_counts(codes, k), members, "greater", seed=0)
    assert (plain["p"] > 0.05).all()


def test_relabelled_control_draws_are_rejected_at_the_nominal_rate():
    """A control draw relabelled as the cell type (no special feature), 100 worlds: a continuous statistic (the
    mean activation of the top-k) rejects at p <= 0.05 in about 5 % of the type tests (exact: 1 in 20 draws);
    the unique-feature count, whose ties count as extreme, no more often."""
    k, draws, worlds = 10, 19, 100
    continuous = unique = together = 0
    for seed in range(worlds):
        codes, members = random_world(np.random.default_rng(100 + seed), draws)
        top_mean = {m: np.sort(c.mean(0))[-k:].mean() for m, c in codes.items()}
        table = dictionary.control_null(lambda a: {t: top_mean[m] for t, m in a.items()}, members, "greater",
                                        max_joint=300, seed=seed)
        continuous += int((table.loc[list(TYPES), "p"] <= 0.05).sum())
        together += int(table.loc["all types", "p"] <= 0.05)
        counts = dictionary.control_null(unique_counts(codes, k), members, "greater", joint=False)
        unique += int((counts["p"] <= 0.05).sum())
    assert 0.01 <= continuous / (3 * worlds) <= 0.10 and together / worlds <= 0.12
    assert unique / (3 * worlds) <= 0.10


def test_concept_validation_in_one_call_equals_welch_per_population_and_concept():
    """The vectorised Welch tests (the control null runs them for every assignment of draws) equal scipy's
    ttest_ind of each population's features against the rest, concept by concept."""
    from scipy import stats

    rng = np.random.default_rng(4)
    rows = [{"population": p, "feature": f, **{c: rng.normal() + (p == "SST") * (c == "car") for c in ("car", "dark")}}
            for p, n in (("VIP", 7), ("PV", 10), ("SST", 12)) for f in range(n)]
    scores = pd.DataFrame(rows)
    table = dictionary.concept_validation(scores)
    assert list(zip(table["concept"], table["population"])) == [(c, p) for c in ("car", "dark") for p in ("VIP", "PV", "SST")]
    for _, row in table.iterrows():
        mine = scores.loc[scores["population"] == row["population"], row["concept"]]
        rest = scores.loc[scores["population"] != row["population"], row["concept"]]
        expected = stats.ttest_ind(mine, rest, equal_var=False)
        assert row["n"] == len(mine) and row["t"] == pytest.approx(expected.statistic, rel=1e-12)
        assert row["p"] == pytest.approx(expected.pvalue, rel=1e-9)
