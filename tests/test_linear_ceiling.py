"""The linear ceiling separates interpolation from extrapolation, and finds a truly linear code linear either way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.book import tables
from neurrator.evaluation import linear_ceiling


def smooth_world(n_frames: int = 240, n_clips: int = 6, units: int = 40, linear: bool = False, seed: int = 0):
    """Frames in clips of slowly drifting content; units and targets are functions of the content: nonlinear ones
    (a new clip's content is not a linear mix of others'), or targets exactly linear in the responses."""
    rng = np.random.default_rng(seed)
    per = n_frames // n_clips
    content = np.concatenate([rng.normal(size=8) + np.cumsum(rng.normal(0, 0.05, (per, 8)), 0) for _ in range(n_clips)])
    rates = np.tanh(content @ rng.normal(size=(8, units)))
    if linear:
        grids = (rates @ rng.normal(size=(units, 4 * 6))).reshape(n_frames, 4, 6)
    else:
        grids = np.sin(2 * content @ rng.normal(size=(8, 4 * 6))).reshape(n_frames, 4, 6)
    return rates, grids.astype(np.float32)


def test_fold_labels():
    blocks = linear_ceiling.fold_labels(10, "contiguous blocks", n_folds=5)
    assert blocks.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    shuffled = linear_ceiling.fold_labels(10, "random folds", n_folds=5, seed=1)
    assert sorted(shuffled.tolist()) == blocks.tolist() and shuffled.tolist() != blocks.tolist()
    assert np.array_equal(shuffled, linear_ceiling.fold_labels(10, "random folds", n_folds=5, seed=1))
    with pytest.raises(ValueError, match="unknown scheme"):
        linear_ceiling.fold_labels(10, "leave one out")
    with pytest.raises(ValueError, match="n_folds"):
        linear_ceiling.fold_labels(10, "random folds", n_folds=11)


def test_interpolation_is_free_and_extrapolation_is_not():
    rates, grids = smooth_world()
    n = len(rates)
    random = linear_ceiling.ceiling(rates, grids, linear_ceiling.fold_labels(n, "random folds", 6))
    blocks = linear_ceiling.ceiling(rates, grids, linear_ceiling.fold_labels(n, "contiguous blocks", 6))
    assert random["r2"] > 0.8 and blocks["r2"] < 0.3                 # neighbours in training vs a new clip
    assert random["patch cosine"] > blocks["patch cosine"] + 0.2
    assert random["test frames"] == blocks["test frames"] == n and random["units"] == 40


def test_a_linear_code_is_read_out_under_either_scheme():
    rates, grids = smooth_world(linear=True)
    for scheme in linear_ceiling.SCHEMES:
        result = linear_ceiling.ceiling(rates, grids, linear_ceiling.fold_labels(len(rates), scheme, 6))
        assert result["r2"] > 0.95, scheme                            # the gap above is not the method's


def test_table_pools_schemes_and_held_out_splits():
    rates, grids = smooth_world()
    held = np.zeros(len(rates), bool)
    held[100:140] = True
    table = linear_ceiling.ceiling_table(rates, grids, {"half": np.arange(20), "all": np.arange(40)},
                                         held_out={"contiguous middle": held}, n_folds=6)
    assert list(table.index) == [(p, s) for p in ("half", "all")
                                 for s in ("random folds", "contiguous blocks", "contiguous middle")]
    assert table.loc[("all", "contiguous middle"), "test frames"] == 40 and table.loc[("half", "random folds"), "units"] == 20
    middle = linear_ceiling.split_ceiling(rates, grids, held)
    assert table.loc[("all", "contiguous middle"), "r2"] == pytest.approx(middle["r2"], abs=1e-3)
    with pytest.raises(ValueError, match="some, not all"):
        linear_ceiling.split_ceiling(rates, grids, np.ones(len(rates), bool))
    rates[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        linear_ceiling.ceiling(rates, grids, linear_ceiling.fold_labels(len(rates), "random folds", 6))


def test_the_book_words_and_record_come_from_the_table():
    rates, grids = smooth_world()
    table = linear_ceiling.ceiling_table(rates, grids, {"all": np.arange(40)}, n_folds=6)
    texts = linear_ceiling.ceiling_texts(table)
    shown = tables.tidy(linear_ceiling.ceiling_wide(table))            # the text says what the table shows
    assert texts["ceiling_random"] == (f"R² {shown.loc['all', 'R² random folds']:.2f} "
                                       f"(patch cosine {shown.loc['all', 'patch cosine random folds']:.2f})")
    assert linear_ceiling.ceiling_texts(table.assign(r2=0.665))["ceiling_random"].startswith("R² 0.66 ")
    assert texts["ceiling_units"] == "40" and texts["ceiling_random"] != texts["ceiling_blocks"]
    record = linear_ceiling.ceiling_record(table)
    assert record["rows"]["all / contiguous blocks"]["r2"] == table.loc[("all", "contiguous blocks"), "r2"]
    assert set(record["tolerances"]) == {"r2", "patch cosine", "mean-grid cosine", "test frames", "units"}


def test_the_wide_table_has_a_row_per_pool_and_a_column_per_measure_and_split():
    rates, grids = smooth_world()
    table = linear_ceiling.ceiling_table(rates, grids, {"half": np.arange(20), "all": np.arange(40)}, n_folds=6)
    wide = linear_ceiling.ceiling_wide(table)
    assert list(wide.index) == ["half", "all"] and wide.loc["half", "units"] == 20
    assert wide.loc["all", "R² contiguous blocks"] == table.loc[("all", "contiguous blocks"), "r2"]
    assert wide.columns[0] == "R² random folds" and "patch cosine contiguous blocks" in wide.columns
