"""The notebook sources and the executed book stay paired, ordered and well formed."""

from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import nbformat
import pytest

from neurrator.book.runner import INJECTED_TAG, declared_parameters, read_source, toc_notebooks

SOURCES = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))


def _inputs(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells if INJECTED_TAG not in c.metadata.get("tags", [])]


def test_toc_lists_every_notebook_and_every_entry_exists(project_root):
    stems = toc_notebooks(project_root)
    assert stems == sorted(stems), "the chain runs in NN order"
    assert stems == [s.stem for s in SOURCES]
    for stem in stems:
        assert (project_root / "book" / f"{stem}.ipynb").is_file(), f"run `neurrator run {stem} --publish`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync(source, project_root):
    book = nbformat.read(project_root / "book" / f"{source.stem}.ipynb", as_version=4)
    assert _inputs(book) == _inputs(jupytext.read(source)), (
        f"book/{source.stem}.ipynb is out of date: run `neurrator run {source.stem} --publish`"
    )
    assert any(c.get("outputs") for c in book.cells if c.cell_type == "code"), "the stored notebook was not executed"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_structure_and_parameters(source):
    nb = read_source(source)
    params = declared_parameters(nb)
    assert ast.literal_eval(params["profile"]) == "demo"
    assert "data_dir" in params and "seed" in params
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## Overview", "## Prerequisites", "## Summary", "## What's next"):
        assert heading in text, f"{source.stem} lacks {heading!r}"
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in nb.cells), "tag the summary numbers for nbval"
