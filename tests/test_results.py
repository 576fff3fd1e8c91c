"""Headline results: recording, publishing and the tolerance comparison."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from neurrator.evaluation import results
from neurrator.layout import DataLayout
from neurrator.artifacts import ArtifactError
from neurrator.evaluation.results import Tolerance


def _table():
    return pd.DataFrame({"matched": [0.67, 0.32], "median rank": [51.0, 492.5], "Wilcoxon p": [0.0005, 0.534],
                         "stimulus": ["natural_movie_one", "natural_movie_one"]},
                        index=pd.Index(["sparse_random", "front_only"], name="regime"))


def _recorded(table):
    return {"chapter": "04_x", "profile": "demo", "tables": {"A1": results.table_record(table, {
        "matched": results.SBERT_MEAN, "median rank": results.RANK, "Wilcoxon p": results.P_VALUE,
        "stimulus": results.EXACT})}}


def test_tolerance_kinds():
    assert results.SBERT_MEAN.accepts(0.67, 0.71) and not results.SBERT_MEAN.accepts(0.67, 0.60)
    assert results.RANK.accepts(319, 322) and results.RANK.accepts(433, 432)
    assert not results.RANK.accepts(51, 80)                 # 51 * 0.25 + 5 = 17.75 ranks at most
    assert results.DISTINCT.accepts(21, 24) and not results.DISTINCT.accepts(21, 28)   # 3 + 0.15 * 21 = 6.15
    assert results.P_VALUE.accepts(0.0005, 1e-9)            # both below the 0.001 floor
    assert results.P_VALUE.accepts(0.021, 0.5) and not results.P_VALUE.accepts(0.0021, 0.5)   # two decades
    assert results.EXACT.accepts("a", "a") and not results.EXACT.accepts(3, 4)
    assert Tolerance(0.1).accepts(float("nan"), float("nan")) and not Tolerance(0.1).accepts(0.1, float("nan"))
    assert results.RANK.describe() == "±5 + ±25%"


def test_identical_and_noisy_runs_pass():
    expected = _recorded(_table())
    assert results.compare(expected, copy.deepcopy(expected)) == []
    noisy = _table()
    noisy["matched"] += 0.02
    noisy["median rank"] *= 1.05
    assert results.compare(expected, _recorded(noisy)) == []


def test_a_real_regression_fails_and_names_the_cell():
    expected = _recorded(_table())
    broken = _table()
    broken.loc["sparse_random", "matched"] = 0.35             # e.g. references joined to the wrong frames
    problems = results.compare(expected, _recorded(broken))
    assert len(problems) == 1
    assert "A1 [sparse_random, matched]: 0.35 vs published 0.67" in problems[0]


def test_structure_changes_fail():
    expected = _recorded(_table())
    fewer = _recorded(_table().drop(index="front_only"))
    assert any("row 'front_only' is missing" in p for p in results.compare(expected, fewer))
    assert any("rows ['front_only'] are new" in p for p in results.compare(fewer, expected))
    assert results.compare(expected, {"tables": {}}) == ["table 'A1' is missing"]


def test_table_record_refuses_unknown_columns_and_duplicate_rows():
    with pytest.raises(KeyError, match="not in the table"):
        results.table_record(_table(), {"CKA": results.COSINE})
    with pytest.raises(ValueError, match="appears twice"):
        results.table_record(pd.concat([_table(), _table()]), {"matched": results.SBERT_MEAN})


def test_record_and_load_round_trip(tmp_path):
    table = _table()
    table.index = pd.MultiIndex.from_tuples([("sparse_random", "Neurrator"), ("front_only", "Neurrator")])
    record = results.table_record(table, {"matched": results.SBERT_MEAN})
    assert list(record["rows"]) == ["sparse_random / Neurrator", "front_only / Neurrator"]
    layout = DataLayout(tmp_path, "demo")
    path = results.record(layout, "04_x", {"A1": record})
    assert path == tmp_path / "demo" / "results" / "04_x.json"
    loaded = results.load_recorded(layout, "04_x")
    assert loaded["tables"]["A1"]["rows"]["front_only / Neurrator"]["matched"] == 0.32
    assert isinstance(loaded["tables"]["A1"]["rows"]["front_only / Neurrator"]["matched"], float)
    with pytest.raises(ArtifactError, match="run notebook 03_y"):
        results.load_recorded(layout, "03_y")
    with pytest.raises(ArtifactError, match="neurrator run 03_y --publish"):
        results.load(tmp_path / "03_y.json")


def test_numpy_values_are_stored_as_plain_json():
    table = pd.DataFrame({"n": [np.int64(3)], "x": [np.float32(np.nan)], "ok": [np.bool_(True)]}, index=["r"])
    rows = results.table_record(table, {"n": results.EXACT, "x": results.COSINE, "ok": results.EXACT})["rows"]
    assert rows == {"r": {"n": 3, "x": None, "ok": True}} and type(rows["r"]["n"]) is int


def test_small_rows_may_move_more():
    """A fraction over 12 frames moves in steps of 1/12: the allowance grows with 1/n."""
    assert results.FRACTION.accepts(0.42, 0.58, n=12) and not results.FRACTION.accepts(0.42, 0.58, n=900)
    table = pd.DataFrame({"n": [12, 900], "distinct": [0.42, 0.02]}, index=["scenes", "front"])
    expected = {"tables": {"A1": results.table_record(table, {"n": results.EXACT, "distinct": results.FRACTION},
                                                      n_column="n")}}
    moved = table.assign(distinct=[0.5, 0.1])
    actual = {"tables": {"A1": results.table_record(moved, {"n": results.EXACT, "distinct": results.FRACTION},
                                                    n_column="n")}}
    assert results.compare(expected, actual) == [
        "A1 [front, distinct]: 0.1 vs published 0.02 (tolerance ±0.05 + ±2/n, n = 900)"]
    with pytest.raises(KeyError, match="n_column"):
        results.table_record(table, {"distinct": results.FRACTION}, n_column="n")


def test_before_after_puts_two_records_side_by_side():
    before = {"tables": {"t": results.table_record(
        pd.DataFrame({"r2": [0.5, 0.1], "units": [10, 20]}, index=["a", "b"]), {"r2": results.COSINE})}}
    after = {"tables": {"t": results.table_record(
        pd.DataFrame({"r2": [0.3, 0.2]}, index=["a", "c"]), {"r2": results.COSINE})}}
    table = results.before_after(before, after, "t", ["r2"], labels=("v2", "v3"))
    assert list(table.columns) == [("r2", "v2"), ("r2", "v3")]
    assert table.loc["a", ("r2", "v2")] == 0.5 and table.loc["a", ("r2", "v3")] == 0.3
    assert np.isnan(table.loc["b", ("r2", "v3")]) and np.isnan(table.loc["c", ("r2", "v2")])   # a row one lacks
    assert results.before_after(None, after, "t", ["r2"])[("r2", "before")].isna().all()
    with pytest.raises(KeyError, match="no_such"):
        results.before_after(before, after, "no_such", ["r2"])


def test_earlier_world_records_are_kept_for_the_demo_profile_only():
    from neurrator.world.simulate import WORLD_VERSION

    kept = results.earlier_world("08_baselines", WORLD_VERSION - 1, "demo")
    assert kept is not None and kept["profile"] == "demo" and "Linear ceiling" in kept["tables"]
    assert results.earlier_world("08_baselines", WORLD_VERSION - 1, "paper") is None   # a real cache has no earlier world
    assert results.earlier_world("08_baselines", WORLD_VERSION, "demo") is None        # the current world is not history


def test_change_text_reads_a_before_after_column():
    before = {"tables": {"t": {"rows": {"V1": {"crossing": 3.0}, "LGd": {"crossing": None}}}}}
    after = {"tables": {"t": {"rows": {"V1": {"crossing": 40.0}, "LGd": {"crossing": 120.0}}}}}
    table = results.before_after(before, after, "t", ["crossing"])
    assert results.change_text(table, "crossing", digits=0) == "V1 3 → 40; LGd – → 120"
    assert results.change_text(table, "crossing", rows=["LGd"], digits=0) == "LGd – → 120"
    with pytest.raises(KeyError, match="units"):
        results.change_text(table, "units")


def test_change_text_rounds_as_the_book_tables_do():
    """0.665 is 0.66 in a book table (numpy rounds half to even); the takeaway beside it must say the same."""
    from neurrator.book.tables import tidy

    before = {"tables": {"t": {"rows": {"all": {"r2": 0.665}}}}}
    after = {"tables": {"t": {"rows": {"all": {"r2": 0.445}}}}}
    table = results.before_after(before, after, "t", ["r2"])
    shown = tidy(table).loc["all"].tolist()
    assert results.change_text(table, "r2") == f"all {shown[0]:.2f} → {shown[1]:.2f}" == "all 0.66 → 0.44"
