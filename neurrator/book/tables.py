"""Tables as the book shows them: at most a handful of columns in the text, the key columns first, integers as
integers, one p-value format, no empty columns, no bare row numbers; the full table one click away."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pandas as pd

#: the most columns a table shows in the text (the rest sit in a "full table" dropdown)
MAX_COLUMNS = 8


def format_p(p: float, floor: float = 0.001) -> str:
    """One p-value format for the whole book: three decimals, or ``< 0.001``."""
    if p is None or not np.isfinite(p):
        return "–"
    return f"< {floor:g}" if p < floor else f"{p:.3f}"


def tidy(table: pd.DataFrame, p_columns: Sequence[str] = (), digits: int = 2) -> pd.DataFrame:
    """``table`` ready to read: all-NaN columns dropped, whole-number float columns as integers, floats rounded to
    ``digits``, p-value columns formatted by :func:`format_p`, a bare RangeIndex dropped."""
    out = table.dropna(axis=1, how="all").copy()
    for column in out.columns:
        values = out[column]
        if column in p_columns:
            out[column] = [format_p(v) for v in values]
        elif pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            # whole numbers print as integers; a column of only 0 and 1 is taken for fractions and kept as floats
            if len(finite) and np.all(finite == np.round(finite)) and 2 <= np.abs(finite).max() < 2**53:
                out[column] = values.astype("Int64")
            else:
                out[column] = values.round(digits)
    if isinstance(out.index, pd.RangeIndex):
        out = out.reset_index(drop=True)
        out.index = [""] * len(out)
    return out


class BookTable:
    """What a notebook cell shows for a table: the key columns in the text, the full table in a dropdown. In a
    terminal or a text diff (nbval) it prints the narrow table."""

    def __init__(self, table: pd.DataFrame, columns: Sequence[str] | None = None, caption: str = "",
                 p_columns: Sequence[str] = (), digits: int = 2, max_columns: int = MAX_COLUMNS):
        self.full = tidy(table, p_columns, digits)
        chosen = [c for c in (columns or self.full.columns) if c in self.full.columns]
        if len(chosen) > max_columns:
            raise ValueError(f"{len(chosen)} columns chosen for the text, at most {max_columns}: "
                             "show fewer (the full table is in the dropdown)")
        self.shown, self.caption, self.digits = self.full[chosen], caption, digits

    def _styler(self, table: pd.DataFrame, part: str):
        """A Styler whose element ids come from the table's content, not a random uuid: the same table renders to
        the same HTML in every run (nbval compares it)."""
        digest = hashlib.sha1(f"{part}:{table.to_csv()}:{self.caption}".encode()).hexdigest()[:10]
        return table.style.format(precision=self.digits, na_rep="–").set_uuid(digest)

    def _repr_html_(self) -> str:
        styler = self._styler(self.shown, "shown")
        if self.caption:
            styler = styler.set_caption(self.caption)
        html = f'<div style="overflow-x:auto">{styler.to_html()}</div>'
        if self.shown.shape[1] < self.full.shape[1]:
            full = self._styler(self.full, "full").to_html()
            html += (f'<details><summary>Full table ({self.full.shape[1]} columns)</summary>'
                     f'<div style="overflow-x:auto">{full}</div></details>')
        return html

    def __repr__(self) -> str:
        return self.shown.to_string()


def show(table: pd.DataFrame, columns: Sequence[str] | None = None, **options) -> BookTable:
    """A table for the book (:class:`BookTable`): ``columns`` are the ones the text shows (key columns first)."""
    return BookTable(table, columns, **options)
