"""Cell-type populations of a pan-session pseudo-mouse and their size-matched controls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.data.celltypes import label_units, population_columns, size_matched_control


def pseudo_mouse_units():
    """Three sessions (wt, Pvalb, Sst), 12 units each: 8 cortical, 4 LGd."""
    rows = []
    for k, session in enumerate((100, 200, 300)):
        for u in range(12):
            rows.append({"session_id": session, "unit_id": session * 100 + u, "column": k * 12 + u,
                         "region": "VISp" if u < 8 else "LGd"})
    return pd.DataFrame(rows)


def tags(units, tagged_ids):
    cortical = units[units["region"].str.startswith("VIS")]
    return cortical[["session_id", "unit_id"]].assign(tagged=cortical["unit_id"].isin(tagged_ids).to_numpy())


GENOTYPES = {100: "wt", 200: "Pvalb", 300: "Sst"}


def test_tagged_units_of_a_cre_line_take_its_cell_type():
    units = pseudo_mouse_units()
    labelled = label_units(units, tags(units, [10001, 20001, 20002, 30005]), GENOTYPES)
    assert labelled.loc[labelled["unit_id"] == 10001, "cell_type"].item() == ""     # tagged in a wild type: no type
    pops = population_columns(labelled)
    assert list(pops) == ["PV", "SST"]
    np.testing.assert_array_equal(pops["PV"], [13, 14])
    np.testing.assert_array_equal(pops["SST"], [29])
    with pytest.raises(KeyError, match="no genotype"):
        label_units(units, tags(units, []), {100: "wt"})


def test_size_matched_controls_are_untagged_cortical_units_of_the_same_sessions():
    units = pseudo_mouse_units()
    labelled = label_units(units, tags(units, [20001, 20002, 30005]), GENOTYPES)
    by_column = labelled.set_index("column")
    pv = population_columns(labelled)["PV"]
    draws = [size_matched_control(labelled, pv, d, seed=0) for d in range(4)]
    for control in draws:
        assert len(control) == len(pv)
        chosen = by_column.loc[control]
        assert (chosen["session_id"] == 200).all() and chosen["cortical"].all() and not chosen["tagged"].any()
    assert len({tuple(c) for c in draws}) > 1                                  # draws differ
    np.testing.assert_array_equal(draws[0], size_matched_control(labelled, pv, 0, seed=0))   # and are reproducible
    with pytest.raises(ValueError, match="fewer than"):
        size_matched_control(labelled, by_column.index[(by_column["session_id"] == 200) & by_column["cortical"]], 0)
