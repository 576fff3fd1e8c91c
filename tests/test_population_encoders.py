"""A population's own encoder (neurrator.evaluation.population_encoders, SpikeDecoder.restricted_to / fit(start=...))
and the planted truth route by route (cell_types.planted_routes), on the tiny synthetic movie of test_training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from neurrator.data.windows import from_split, neuron_mask
from neurrator.evaluation import cell_types, population_encoders
from neurrator.models.training import SpikeDecoder
from tests.test_training import FAST, TINY, fitted, movie, synthetic_movie  # noqa: F401  (fixtures)

COLUMNS = np.array([3, 0, 9, 12])


def subset_windows(decoder, columns, train_config=FAST):
    binned, _ = synthetic_movie()
    data = from_split(binned, _split(), decoder.zscore_, jitter=0, neuron_dropout=0.0)
    start = decoder.restricted_to(columns)
    sub = from_split(binned.select_units(columns), _split(), start.zscore_, jitter=train_config.jitter,
                     neuron_dropout=train_config.neuron_dropout)
    return data, sub, start


_SPLIT = {}


def _split():
    if "split" not in _SPLIT:
        from neurrator.data.windows import regime_windows

        _SPLIT["split"] = regime_windows(synthetic_movie()[0], "sparse_random", seed=0).split
    return _SPLIT["split"]


def test_the_restricted_encoder_answers_exactly_as_the_masked_query(fitted):
    full, sub, start = subset_windows(fitted, COLUMNS)
    masked = fitted.predict(full.test, neuron_mask=neuron_mask(full.test.counts.shape[1], COLUMNS))
    alone = start.predict(sub.test)
    np.testing.assert_allclose(alone, masked, atol=1e-5)
    assert start.model_.n_neurons == len(COLUMNS) and fitted.model_.n_neurons == 16        # the original is untouched
    # a different subset is a different query: the check can fail
    other = fitted.predict(full.test, neuron_mask=neuron_mask(16, COLUMNS[:3]))
    assert not np.allclose(alone, other, atol=1e-3)
    with pytest.raises(ValueError, match="distinct positions"):
        fitted.restricted_to([0, 0, 1])
    with pytest.raises(ValueError, match="distinct positions"):
        fitted.restricted_to([16])


def test_fine_tuning_starts_from_the_given_weights_and_is_keyed_by_them(movie, fitted, tmp_path):
    _, targets = movie
    _, sub, start = subset_windows(fitted, COLUMNS)
    frozen = replace(FAST, lr=0.0, max_epochs=1, weight_decay=0.0)
    tuned = SpikeDecoder("patches", TINY, frozen, progress=False).fit(sub.train, sub.val, targets, start=start)
    np.testing.assert_allclose(tuned.predict(sub.test), start.predict(sub.test), atol=1e-5)   # lr 0: still the start
    learning = replace(FAST, max_epochs=2)
    moved = SpikeDecoder("patches", TINY, learning, progress=False).fit(sub.train, sub.val, targets, start=start)
    assert not np.allclose(moved.predict(sub.test), start.predict(sub.test), atol=1e-3)
    # the checkpoint's signature names the start: a run from other weights is not resumed as this one
    a = SpikeDecoder("patches", TINY, learning, checkpoint_dir=tmp_path, progress=False)
    assert a._signature(sub.train, sub.val, targets, start) != a._signature(sub.train, sub.val, targets)
    assert start.weights_digest() != moved.weights_digest()


def test_a_start_of_another_shape_or_zscore_is_refused(movie, fitted):
    _, targets = movie
    full, sub, start = subset_windows(fitted, COLUMNS)
    with pytest.raises(ValueError, match="restrict it"):
        SpikeDecoder("patches", TINY, FAST, progress=False).fit(sub.train, sub.val, targets, start=fitted)
    with pytest.raises(ValueError, match="EncoderConfig"):
        SpikeDecoder("patches", replace(TINY, d_model=16), FAST, progress=False).fit(sub.train, sub.val, targets,
                                                                                    start=start)
    shifted = from_split(synthetic_movie()[0].select_units(COLUMNS), _split(), (start.zscore_[0] + 1, start.zscore_[1]))
    with pytest.raises(ValueError, match="z-scored"):
        SpikeDecoder("patches", TINY, FAST, progress=False).fit(shifted.train, shifted.val, targets, start=start)


def test_population_draws_take_the_first_controls_and_name_the_fix():
    populations = {"PV": np.array([1, 2]), "SST": np.array([3])}
    controls = {"PV": [np.array([4, 5]), np.array([6, 7]), np.array([8, 9])], "SST": [np.array([10]), np.array([11])]}
    draws = population_encoders.population_draws(populations, controls, n_controls=2)
    assert [(label, t, d) for label, t, d, _ in draws] == [("PV", "PV", 0), ("PV control", "PV", 0), ("PV control", "PV", 1),
                                                           ("SST", "SST", 0), ("SST control", "SST", 0), ("SST control", "SST", 1)]
    assert draws[2][3].tolist() == [6, 7]
    with pytest.raises(ValueError, match="own_controls"):
        population_encoders.population_draws(populations, controls, n_controls=3)
    assert population_encoders.encoder_name("SST control", 3) == "pan_session_own_SST_control_3"
    assert population_encoders.own_schedule(FAST, 2).max_epochs == 2
    with pytest.raises(ValueError, match="own_epochs"):
        population_encoders.own_schedule(FAST, 0)


def planted_row(code, rho, p, spikes_rho, spikes_p, above=True, controls=0.1, spikes_controls=0.2):
    return {"planted": code, "axis": "x", "frames": 90, "clips (n_eff)": 9, "carrier ρ (frames)": rho, "carrier ρ": rho,
            "carrier p": p, "other types ρ": "PV +0.10", "controls ρ (max)": controls, "above the rest": above,
            "spikes ρ": spikes_rho, "spikes p": spikes_p, "controls spikes ρ (max)": spikes_controls,
            "distinct sentences": 12}


def test_planted_routes_correct_one_family_and_say_where_each_code_is_lost():
    masked = pd.DataFrame([planted_row("SST → vehicle", 0.2, 0.2, 0.9, 0.002),
                           planted_row("VIP → luminance", 0.8, 0.002, 0.95, 0.002),
                           planted_row("PV → contrast", 0.1, 0.4, 0.05, 0.45)])
    own = pd.DataFrame([planted_row("SST → vehicle", 0.85, 0.002, 0.9, 0.002),
                        planted_row("VIP → luminance", 0.3, 0.1, 0.95, 0.002),
                        planted_row("PV → contrast", 0.2, 0.3, 0.05, 0.45)])
    routes = cell_types.planted_routes({"masked query": masked, "own encoder": own})
    assert routes["route"].tolist() == ["spikes", "masked query", "own encoder"] * 3
    assert len(routes) == 9 and (routes["q"] >= routes["p"]).all()
    # Holm over all nine p values: the smallest is multiplied by 9, not by the 6 of one route's table
    assert routes["q"].min() == pytest.approx(0.002 * 9)
    kept = routes.set_index(["planted", "route"])["recovered"]
    assert kept[("SST → vehicle", "spikes")] and not kept[("SST → vehicle", "masked query")]
    assert kept[("SST → vehicle", "own encoder")]
    verdict = cell_types.route_verdict(routes)
    assert "SST → vehicle: spikes +0.90 ✓, masked query +0.20 ✗ (12 sentences), own encoder +0.85 ✓ (12 sentences) " \
           "(lost at the masked query, recovered by the own encoder)" in verdict
    assert "VIP → luminance: spikes +0.95 ✓, masked query +0.80 ✓ (12 sentences), own encoder +0.30 ✗ (12 sentences) " \
           "(lost at the own encoder)" in verdict
    assert "PV → contrast: spikes +0.05 ✗" in verdict and "not in the tagged cells' spikes" in verdict
    # a route whose ρ does not beat its controls does not recover the code, however small its q
    below = pd.DataFrame([planted_row("SST → vehicle", 0.85, 0.002, 0.9, 0.002, above=False)])
    assert not cell_types.planted_routes({"own encoder": below}).set_index("route").loc["own encoder", "recovered"]
    assert "9 tests" in cell_types.route_notes(routes)


def test_side_by_side_puts_each_route_in_a_column():
    from tests.test_cell_type_steps import WORDS, narrations

    table = narrations(frames=12, draws=2)
    own = table.assign(patch_cosine=table["patch_cosine"] + 0.1)
    pairwise = pd.DataFrame({"cell types − controls": [-0.1, -0.2, -0.05]}, index=["PV–SST", "PV–VIP", "SST–VIP"])
    classifier = pd.DataFrame({"accuracy": [0.8, 0.5, 0.6]}, index=["cell types", "controls, draw 0", "controls, draw 1"])
    side = population_encoders.side_by_side(
        {"masked query": {"movie": table, "pairwise": pairwise, "classifier": classifier},
         "own encoder": {"movie": own, "pairwise": pairwise - 0.1, "classifier": classifier}}, list(WORDS))
    assert list(side.columns) == ["masked query", "own encoder"]
    gain = side.loc[("patch cosine", "PV"), "own encoder"] - side.loc[("patch cosine", "PV"), "masked query"]
    assert gain == pytest.approx(0.1, abs=0.011)
    assert side.loc[("classifier accuracy", "controls (mean)"), "masked query"] == 0.55
    assert side.loc[("same-frame agreement − controls", "PV–SST"), "own encoder"] == pytest.approx(-0.2)
    assert side.loc[("SBERT − size-matched controls", "SST"), "masked query"] == pytest.approx(0.2)
    assert cell_types.distinct_by_route({"a": table, "b": own.assign(narration="same")}, ["PV", "SST"]) == "PV 4 → 1, SST 4 → 1"
    kept = population_encoders.keep_draws(table, 1)
    assert set(kept.loc[cell_types.is_control(kept), "draw"]) == {0} and (kept["population"] == "PV").any()


def test_a_later_chapter_adds_its_route_to_the_same_family(tmp_path):
    from neurrator.evaluation import cell_type_features

    routes = cell_types.planted_routes({"masked query": pd.DataFrame([planted_row("SST → vehicle", 0.85, 0.002, 0.9, 0.002),
                                                                      planted_row("PV → contrast", 0.1, 0.4, 0.05, 0.45)])})
    path = tmp_path / "routes.csv"
    cell_types.write_routes(path, routes)
    back = cell_types.read_routes(path)
    pd.testing.assert_frame_equal(back[["ρ", "p", "q"]], routes[["ρ", "p", "q"]])
    assert back["recovered"].tolist() == routes["recovered"].tolist() and back.loc[0, "other types ρ"] == ""
    planted = pd.DataFrame({"planted": ["SST → vehicle", "VIP → luminance"], "p vs controls": [0.01, 0.01],
                            "leaning (SD)": [0.8, 0.5], "control leaning": [0.1, 0.1]})
    null = pd.DataFrame({"control max": [0.3, 0.9]}, index=["SST", "VIP"])
    both = cell_type_features.with_dictionary_route(back, planted, null)
    sae = both[both["route"] == cell_type_features.SAE_ROUTE]
    assert sae["planted"].tolist() == ["SST → vehicle"]         # only the codes chapter 06 tested
    assert len(both) == len(routes) + 1 and both.loc[sae.index[0], "q"] == pytest.approx(0.01 * 3)
    # Holm over all 5: 0.002, 0.002, then the dictionary's 0.01 third, times 5 - 2
    assert bool(sae["recovered"].iloc[0])                      # leaning 0.8 above every draw's (0.3)
    assert "dictionary of the masked query (unique features) leaning +0.80 SD ✓" in cell_types.route_verdict(both)
    unchanged = cell_type_features.with_dictionary_route(back, planted.iloc[:0], null)
    assert unchanged.drop(columns="leaning (SD)").equals(back) and unchanged["leaning (SD)"].isna().all()
    with pytest.raises(Exception, match="06_cell_types"):
        cell_types.read_routes(tmp_path / "missing.csv")
