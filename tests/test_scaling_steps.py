"""Chapter 05's steps (neurrator.evaluation.scaling): pool tables, the sweep run, its texts and verdicts."""

import numpy as np
import pandas as pd
import pytest

from neurrator.data.windows import SpikeWindows
from neurrator.evaluation import scaling
from neurrator.layout import DataLayout
from neurrator.models.training import ArrayTargets, TrainConfig
from test_scaling import MaskDecoder, SignBackend, WordModel, _gaps

UNITS = pd.DataFrame({"session_id": [1, 1, 1, 2, 2, 2], "column": [0, 1, 2, 3, 4, 5],
                      "region": ["VISp", "LGd", "CA1", "VISp", "VISl", "VISp"]})


def test_pool_table_and_units_per_session_count_each_pool():
    pools = {p: scaling.pool_columns(UNITS, p) for p in ("VISp", "LGd", "hippocampus")}
    table = scaling.pool_table(pools, sizes=(1, 2, 10))
    assert table.index.name == "pool" and table["units"].to_dict() == {"VISp": 3, "LGd": 1, "hippocampus": 1}
    assert table.loc["VISp", "sweep sizes"] == "1, 2, 3" and table.loc["LGd", "sweep sizes"] == "1"
    per_session = scaling.units_per_session(UNITS, pools)
    assert per_session.loc[1].to_dict() == {"LGd": 1, "VISp": 1, "hippocampus": 1, "other": 0}
    assert per_session.loc[2, "VISp"] == 2 and per_session.loc[2, "other"] == 1     # VISl is in no named pool here


def test_schedule_text_names_epochs_windows_batch_and_rate():
    assert scaling.schedule_text(TrainConfig(max_epochs=3, windows_per_epoch=None, batch_size=8, lr=1e-3)) == (
        "3 epochs of all windows in batches of 8 at learning rate 0.001")


def test_common_size_drops_the_smallest_pool_until_the_grids_share_a_size():
    units = {"big": np.arange(100), "mid": np.arange(40), "tiny": np.arange(2), "empty": np.arange(0)}
    assert scaling.common_size(units, ["big", "mid", "empty"], sizes=(10, 30)) == (["big", "mid"], 30)
    assert scaling.common_size(units, ["big", "mid", "tiny"], sizes=(10, 30)) == (["big", "mid"], 30)
    assert scaling.common_size(units, ["empty"], sizes=(10,)) == ([], None)


def test_pair_table_and_texts_separate_the_hippocampus():
    names = ["VISp", "LGd", "hippocampus"]
    same = pd.DataFrame([[1, 0.8, 0.5], [0.8, 1, 0.45], [0.5, 0.45, 1]], names, names)
    shuffled = pd.DataFrame(0.4, names, names)
    pairs = scaling.pair_table(same, shuffled, names)
    assert list(zip(pairs["pool A"], pairs["pool B"])) == [("VISp", "LGd"), ("VISp", "hippocampus"), ("LGd", "hippocampus")]
    assert pairs["above floor"].tolist() == [0.4, 0.1, 0.05]
    assert scaling.pair_texts(pairs) == {"visual_pair_min": "0.40", "hippo_pair_max": "0.10"}
    assert scaling.pair_texts(pairs.iloc[:1]) == {"visual_pair_min": "0.40", "hippo_pair_max": "n/a"}


def test_crossing_table_describes_each_pool_in_words():
    crossing = scaling.floor_crossing(pd.concat([_gaps({10: -0.1, 30: -0.02, 100: 0.1}),
                                                 _gaps({10: -0.1, 100: -0.1}).assign(pool="q"),
                                                 _gaps({10: 0.2, 100: 0.3}).assign(pool="r")]), n_boot=100)
    table = scaling.crossing_table(crossing)
    assert table.loc["p", "crossing (units)"].startswith("≈ ") and "between 30 and 100" in table.loc["p", "crossing (units)"]
    assert table.loc["q", "crossing (units)"] == "does not cross reliably in the range tested"
    assert table.loc["r", "crossing (units)"].startswith("at or below 10 (the smallest size")
    assert table.columns[-1] == "crossing (units)" and table.loc["p", "crossing"] == round(table.loc["p", "crossing"])


def test_point_means_and_growth_texts_summarise_the_curves():
    sweep = pd.concat([_gaps({10: 0.0, 100: 0.2}).assign(pool="visual cortex"),
                       _gaps({10: 0.0, 100: 0.01}).assign(pool="hippocampus")]).assign(shuffled=0.3, patch_cosine=0.5)
    sweep["rank"] = np.where(sweep["size"] == 10, 40, 10)
    by_point = scaling.point_means(sweep)
    assert len(by_point) == 2 * 2 * 3 and set(by_point.columns) >= {"matched", "random_caption", "median_rank"}
    texts = scaling.growth_texts(by_point, n_frames=99)
    assert texts["rise_visual"] == "0.30 at 10 units to 0.50 at 100"
    assert texts["hippo_ranks"] == "40 at 10 units and 10 at 100 (chance 50)"
    assert texts["hippo_gap_range"].startswith("-0.0") or texts["hippo_gap_range"].startswith("+0.0")
    assert scaling.growth_texts(by_point[by_point["pool"] == "nothing"], 9)["rise_visual"] == "n/a"


def test_retrain_verdict_compares_patch_cosine():
    rows = lambda alone, masked: pd.DataFrame({"size": [30, 30], "patch cosine": [masked, alone], "model": [
        "mask query of the pan-session model", "trained on the subset alone"]})
    assert scaling.retrain_verdict(rows(0.6, 0.5), "VISp", 40) == "higher"
    assert scaling.retrain_verdict(rows(0.4, 0.5), "VISp", 40) == "lower"
    assert scaling.retrain_verdict(pd.DataFrame(columns=scaling.MASK_VS_RETRAINED), "VISp", 5).startswith(
        "not measured (VISp has 5 units")


def _planted(higher_gap: float, seed: int = 0) -> pd.DataFrame:
    gaps = {"higher visual": higher_gap, "VISp": 0.05, "LGd": 0.04, "hippocampus": -0.05}
    return pd.concat([_gaps({10: g, 30: g}, frames=40, seed=seed + i).assign(pool=p) for i, (p, g) in enumerate(gaps.items())])


def test_planted_contrasts_and_texts_follow_the_data():
    sweep = _planted(0.2)
    compared = ["LGd", "VISp", "higher visual", "hippocampus"]
    ordering = scaling.pool_ordering(scaling.point_means(sweep.assign(shuffled=0, patch_cosine=0, rank=1)), 30, compared)
    assert list(ordering.index) == ["higher visual", "VISp", "LGd", "hippocampus"]
    contrasts = scaling.planted_contrasts(sweep, compared, 30, seed=0)
    assert contrasts["higher visual vs"].tolist() == ["VISp", "LGd"] and (contrasts["difference in gap"] > 0.1).all()
    assert "2 tests" in scaling.planted_family(contrasts)
    crossing = scaling.floor_crossing(sweep, n_boot=50)
    texts = scaling.planted_texts(ordering, contrasts, crossing, {"all": np.arange(4), "visual cortex": np.arange(3)})
    assert texts["planted_verdict"].startswith("as the planted codes predict")
    assert texts["hippo_verdict"] == "does not cross the floor, as planted"
    assert "the higher visual areas are" in texts["paper_comparison"]
    assert texts["ordering"].startswith("higher visual (+0.20) > VISp")
    against = scaling.planted_texts(ordering, scaling.planted_contrasts(_planted(0.05), compared, 30), crossing, {})
    assert against["planted_verdict"].startswith("the higher visual areas do not decode clearly more")
    untested = scaling.planted_contrasts(sweep, ["VISp", "LGd"], 30)
    assert len(untested) == 0 and "not tested" in scaling.planted_texts(ordering, untested, crossing, {})["planted_verdict"]


def test_run_pool_sweep_runs_every_point_once_then_reads_them_back(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (200, 6)).astype(np.uint8)
    windows = SpikeWindows(counts, np.repeat(np.arange(10), 20), np.arange(10, 190, 7), np.zeros(6), np.ones(6))
    refs = {f: ("A bright room." if f % 2 else "A dark night.") for f in range(10)}
    decoder = MaskDecoder()
    inputs = dict(decoder=decoder, windows=windows, key={"decoder": "x"}, seed=0, backend=SignBackend(),
                  sbert_model=WordModel(), references=refs, caption_pool=list(refs.values()),
                  targets=ArrayTargets(np.ones((10, 2, 3), np.float32)), candidates=np.ones((10, 3)))
    layout = DataLayout(tmp_path, "demo")
    pools = {"VISp": np.array([0, 1, 2, 3]), "LGd": np.array([4, 5])}
    first = scaling.run_pool_sweep(pools, sizes=(2,), draws=2, layout=layout, name="s", **inputs)
    assert (first.computed, first.read_back) == (4, 0) and decoder.calls == 4     # VISp: 2 draws of 2, all 4; LGd: all 2
    assert first.message.startswith("4 points (4 computed now)") and "hit rate" not in first.message
    assert first.table.groupby(["pool", "size"])["draw"].nunique().to_dict() == {("LGd", 2): 1, ("VISp", 2): 2, ("VISp", 4): 1}
    again = scaling.run_pool_sweep(pools, sizes=(2,), draws=2, layout=layout, name="s", **inputs)
    assert (again.computed, again.read_back) == (0, 4) and decoder.calls == 4 and again.table.equals(first.table)
