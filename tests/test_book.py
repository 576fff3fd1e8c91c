"""The book builds with warnings as errors and renders for a person (headless Chromium screenshot)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory, project_root) -> Path:
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run([str(jb), "build", str(project_root), "--path-output", str(out), "--warningiserror",
                           "--nitpick", "--keep-going"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "_build" / "html"


def screenshot(page: Path, out: Path, tmp_path: Path) -> np.ndarray:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the screenshot test: `make browser` installs it")
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900",
                    f"--screenshot={out}", page.as_uri()], capture_output=True, timeout=120, check=True)
    return np.asarray(Image.open(out).convert("L"), dtype=float)


def test_every_page_is_built(built_book, project_root):
    for stem in ("intro", "methods", "bibliography", *(p.stem for p in (project_root / "book").glob("[0-9][0-9]_*.ipynb"))):
        assert (built_book / "book" / f"{stem}.html").is_file(), stem
    intro = (built_book / "book" / "intro.html").read_text()
    assert "Neurrator: can neurons speak?" in intro
    assert "<table" in intro and "Siegle" in intro  # the chapter table and a resolved citation
    assert "What this book finds" in intro and "::finding" not in intro   # each chapter's headline pasted in
    setup = (built_book / "book" / "00_setup.html").read_text()
    assert setup.count("<img") >= 2 and "same seed, max |difference|" in setup  # figures and outputs render


def test_intro_screenshot_shows_a_rendered_page(built_book, tmp_path):
    shot = screenshot(built_book / "book" / "intro.html", tmp_path / "intro.png", tmp_path)
    assert shot.shape == (900, 1280)
    ink = shot < 128                     # dark text pixels
    assert 0.01 < ink.mean() < 0.4      # text, not a blank or black page
    assert ink[:, :256].any() and ink[:, 280:980].mean() > ink[:, 1100:].mean()  # sidebar + main column
    plain = (tmp_path / "plain.html")
    plain.write_text("<html><body>Neurrator: can neurons speak?</body></html>")
    unstyled = screenshot(plain, tmp_path / "plain.png", tmp_path)
    assert (shot < 250).mean() > 5 * (unstyled < 250).mean()  # the theme's styling rendered too


def test_math_renders_offline(built_book, tmp_path):
    """MathJax comes with the book (no CDN): the methods page's formulas are typeset with the network off."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for this test: `make browser` installs it")
    page = built_book / "book" / "methods.html"
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert "cdn.jsdelivr" not in page.read_text()
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.count("<mjx-container") >= 3, "the formulas were not typeset"


def test_every_page_reads_at_desktop_and_phone_width(built_book, tmp_path):
    """Screenshots of every page at 1280 and 390 px: no key column cut off, no figure text under 9 px, no progress
    bar in an output, no page that scrolls sideways (tests/test_book_pages.py shows each check failing)."""
    from neurrator.book import pages

    chapters = pages.book_pages(built_book)
    reports = pages.inspect_pages(built_book, chapters, pages.WIDTHS, screenshots=tmp_path)
    assert [(r.page, r.width) for r in reports] == [(p.stem, w) for p in chapters for w in pages.WIDTHS]
    assert not [f for r in reports for f in r.findings], pages.summary(reports)
    phone = [r for r in reports if r.width == 390]
    assert sum(r.tables for r in phone) >= 20 and sum(r.figures for r in phone) >= 20   # the checks saw the book
    assert all((tmp_path / f"{r.page}-{r.width}.png").is_file() for r in reports)


def test_the_explorer_works_in_the_built_book(built_book):
    """Chapter 09's explorer in the rendered book: moving its slider changes the frame, the raster and the sentences."""
    from test_explorer import explore, move_slider, state

    playwright, browser, page = explore((built_book / "book" / "09_frame_by_frame.html").as_uri())
    try:
        root = ".narration-explorer"
        assert page.locator(root).count() == 1
        first = state(page, root)
        assert first["rows"] and first["ink"] > 0 and first["reference"]
        for _ in range(5):                                   # a few frames on: a stock sentence may repeat next door
            move_slider(page, root)
        moved = state(page, root)
        assert int(moved["frame"]) > int(first["frame"]) and moved["image"] != first["image"]
        assert moved["rows"] != first["rows"] and moved["ink"] != first["ink"]
    finally:
        browser.close()
        playwright.stop()
