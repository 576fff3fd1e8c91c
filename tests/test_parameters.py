"""Parameters shared by chapters are declared once (neurrator.book.parameters) and every notebook agrees."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from neurrator.book.parameters import RENAMED, SHARED
from neurrator.book.runner import declared_parameters

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))


def _declared(path: Path) -> dict:
    import jupytext

    return declared_parameters(jupytext.read(path))


def disagreements(declared: dict) -> list[str]:
    found = [f"{name} is the old name of {RENAMED[name]}" for name in declared if name in RENAMED]
    for name, expression in declared.items():
        if name in SHARED:
            value = ast.literal_eval(expression) if isinstance(expression, str) else expression
            if value != SHARED[name]:
                found.append(f"{name} = {value!r}, shared default {SHARED[name]!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_shared_parameters_have_one_name_and_one_default(path):
    assert disagreements(_declared(path)) == []


def test_the_check_sees_a_renamed_or_drifted_parameter():
    assert disagreements({"movie": "'natural_movie_one'", "train_options": "None", "seed": "0"}) == [
        "movie is the old name of stimulus", "train_options = None, shared default {}"]
