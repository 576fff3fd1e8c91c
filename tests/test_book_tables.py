"""Tables the book shows: narrow in the text, integers as integers, one p format, nothing empty or bare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.book import tables


def test_tidy_reads_as_a_person_would():
    raw = pd.DataFrame({"n": [870.0, 12.0], "cosine": [0.41234, 0.5], "p": [0.00016, 0.2], "empty": [np.nan, np.nan]})
    tidy = tables.tidy(raw, p_columns=["p"])
    assert list(tidy.columns) == ["n", "cosine", "p"] and str(tidy["n"].dtype) == "Int64"
    assert tidy["cosine"].tolist() == [0.41, 0.5] and tidy["p"].tolist() == ["< 0.001", "0.200"]
    assert list(tidy.index) == ["", ""]                      # no bare row numbers
    fractions = tables.tidy(pd.DataFrame({"recall": [1.0, np.nan, 0.0]}))
    assert str(fractions["recall"].dtype) == "float64"       # 0 and 1 only: fractions, not counts
    named = tables.tidy(raw.set_index(pd.Index(["a", "b"], name="regime")))
    assert list(named.index) == ["a", "b"]


def test_the_text_shows_the_chosen_columns_and_the_dropdown_the_rest():
    wide = pd.DataFrame(np.arange(24.0).reshape(2, 12) / 7, columns=[f"c{i}" for i in range(12)], index=["x", "y"])
    shown = tables.show(wide, ["c3", "c0"])
    html = shown._repr_html_()
    assert list(shown.shown.columns) == ["c3", "c0"] and "Full table (12 columns)" in html and "<details>" in html
    assert "c11" not in repr(shown)
    assert "<details>" not in tables.show(wide[["c0", "c1"]])._repr_html_()    # nothing hidden, no dropdown
    assert shown._repr_html_() == tables.show(wide, ["c3", "c0"])._repr_html_()   # no random ids: nbval compares it
    with pytest.raises(ValueError, match="at most 8"):
        tables.show(wide)


def test_one_p_value_format():
    assert [tables.format_p(p) for p in (0.0004, 0.001, 0.04567, float("nan"))] == ["< 0.001", "0.001", "0.046", "–"]
