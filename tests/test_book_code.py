"""The rendered book shows the story, not the plumbing: at most VISIBLE_CODE_LIMIT lines of code are shown
(a cell tagged ``remove-input`` shows none, ``hide-input`` collapses it behind a labelled toggle), and every
collapsed setup cell says what it holds."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
VISIBLE_CODE_LIMIT = 500
HIDDEN = {"remove-input", "hide-input", "remove-cell"}


def visible_code_lines(notebook: dict) -> int:
    """Non-blank, non-comment lines of the code cells a reader sees without opening a toggle."""
    return sum(1 for cell in notebook["cells"] if cell["cell_type"] == "code"
               and not HIDDEN & set(cell.get("metadata", {}).get("tags", []))
               for line in "".join(cell["source"]).splitlines() if line.strip() and not line.strip().startswith("#"))


def unlabelled_toggles(notebook: dict) -> list[int]:
    return [number for number, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
            and "hide-input" in cell.get("metadata", {}).get("tags", [])
            and not cell.get("metadata", {}).get("mystnb", {}).get("code_prompt_show")]


def test_the_book_shows_at_most_the_limit_of_code():
    counts = {path.stem: visible_code_lines(json.loads(path.read_text())) for path in BOOK}
    print(counts, sum(counts.values()))
    assert sum(counts.values()) <= VISIBLE_CODE_LIMIT, counts


def test_every_collapsed_cell_says_what_it_holds():
    assert {p.stem: unlabelled_toggles(json.loads(p.read_text())) for p in BOOK
            if unlabelled_toggles(json.loads(p.read_text()))} == {}


def test_the_count_sees_visible_code_and_ignores_hidden_code():
    cell = lambda tags, source: {"cell_type": "code", "metadata": {"tags": tags}, "source": source}
    nb = {"cells": [cell([], ["x = 1\n", "# a comment\n", "\n", "y = 2\n"]), cell(["remove-input"], ["z = 3\n"]),
                    cell(["hide-input"], ["import os\n"])]}
    assert visible_code_lines(nb) == 2 and unlabelled_toggles(nb) == [2]
