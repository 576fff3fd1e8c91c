"""Headline numbers of a fresh run agree with the published book within their stated tolerances.

nbval checks the bit-reproducible cells exactly; the numbers that come out of trained models are
compared here (see :mod:`neurrator.evaluation.results`). In ``make test`` these tests run after nbval has
executed the notebooks (``tests/conftest.py`` orders them last), so they see that run's results;
run alone, they compare whatever the last run in the data directory wrote.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import gpu_available
from neurrator.layout import DataLayout
from neurrator.evaluation import results

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted((ROOT / "book" / results.RESULTS_DIR).glob("*.json"))
SESSION_START = time.time()


def _notebook_ran_in_this_session(session, chapter: str) -> bool:
    return any(Path(str(item.fspath)).stem == chapter and str(item.fspath).endswith(".ipynb") for item in session.items)


@pytest.mark.after_notebooks
@pytest.mark.skipif(gpu_available(), reason="the published numbers come from CPU training; on a GPU the chain trains "
                                             "on cuda in mixed precision, which the tolerances do not cover")
@pytest.mark.parametrize("published", PUBLISHED, ids=[p.stem for p in PUBLISHED])
def test_headline_numbers_match_the_published_book(published, request):
    expected = results.load(published)
    chapter, profile = expected["chapter"], expected["profile"]
    layout = DataLayout.resolve(None, profile, create=False)
    path = layout.results(chapter)
    if _notebook_ran_in_this_session(request.session, chapter):
        assert path.is_file() and path.stat().st_mtime >= SESSION_START, (
            f"nbval executed book/{chapter}.ipynb but it wrote no fresh {path}")
    elif not path.is_file():
        pytest.skip(f"no run of {chapter} in {layout.root}: `make test` runs it, or `.venv/bin/neurrator run {chapter}`")
    problems = results.compare(expected, results.load_recorded(layout, chapter))
    assert not problems, f"{chapter}: headline numbers moved beyond their tolerance:\n  " + "\n  ".join(problems)


def test_every_published_chapter_records_results():
    """The chapters with trained models publish their headline numbers (a missing file would skip them)."""
    assert {p.stem for p in PUBLISHED} >= {"02_targets", "03_train", "04_narrate_heldout", "05_scaling", "06_cell_types",
                                                "07_sae_concepts"}
