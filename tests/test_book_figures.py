"""Figures readable at the book's column width: every stored figure fits the column (or its cell is tagged
``full-width`` and fits the page), and no figure code asks for text below the minimum size."""

from __future__ import annotations

import base64
import json
import re
import struct
from pathlib import Path

import pytest

from neurrator.book.plotting import COLUMN_WIDTH_IN, FULL_WIDTH_IN, MIN_FONT_PT, RC

ROOT = Path(__file__).resolve().parents[1]
BOOK = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
#: tight bounding boxes add or cut a little around the figure
SLACK = 1.12


def too_wide(notebook: dict, dpi: float = RC["figure.dpi"]) -> list[str]:
    found = []
    for number, cell in enumerate(notebook["cells"]):
        limit = FULL_WIDTH_IN if "full-width" in cell.get("metadata", {}).get("tags", []) else COLUMN_WIDTH_IN
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                width = struct.unpack(">I", base64.b64decode(png)[16:20])[0] / dpi
                if width > limit * SLACK:
                    found.append(f"cell {number}: {width:.1f} in wide (limit {limit:g} in)")
    return found


@pytest.mark.parametrize("path", BOOK, ids=[p.stem for p in BOOK])
def test_every_stored_figure_fits_the_column_or_the_page(path):
    assert too_wide(json.loads(path.read_text())) == []


SMALL_TEXT = re.compile(r"fontsize\s*=\s*(?:(\d+(?:\.\d+)?)|[\"'](xx-small|x-small|small)[\"'])")


def small_text(source: str) -> list[str]:
    return [m.group(0) for m in SMALL_TEXT.finditer(source) if m.group(2) or float(m.group(1)) < MIN_FONT_PT]


def test_no_figure_code_asks_for_small_text():
    sources = [*ROOT.glob("notebooks/*.py"), *ROOT.glob("neurrator/book/*.py")]
    found = {p.name: small_text(p.read_text(encoding="utf-8")) for p in sources}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_checks_see_a_wide_figure_and_small_text():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + struct.pack(">II", 1400, 400)).decode()
    cell = {"metadata": {"tags": []}, "outputs": [{"data": {"image/png": png}}]}
    assert too_wide({"cells": [cell]}) == ["cell 0: 14.0 in wide (limit 7 in)"]
    cell["metadata"]["tags"] = ["full-width"]
    assert too_wide({"cells": [cell]}) == ["cell 0: 14.0 in wide (limit 11 in)"]
    assert small_text("ax.set_title(t, fontsize=8); ax.text(0, 0, s, fontsize='small'); plt.xlabel(x, fontsize=10)") == [
        "fontsize=8", "fontsize='small'"]
