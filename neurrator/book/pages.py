"""The rendered book as a reader sees it, at a desktop and at a phone width: Debian's chromium (driven by Playwright)
opens each page and measures in the DOM what a screenshot shows by eye.

Four checks, each a :class:`Finding` when it fails:

* ``cut_table``: a table in the article whose key column (the first column with any text) is not fully visible
  at scroll position 0, or whose right part is clipped by a container that cannot scroll sideways;
* ``unreadable_figure``: a matplotlib figure in a cell output shown so small that its smallest text (the book's
  ``MIN_FONT_PT`` at the PNG's dpi, times the displayed / natural width) is under :data:`MIN_READABLE_PX`;
* ``chatter``: a progress bar or a library's loading message in a cell output's text;
* ``page_overflow``: the page itself is wider than the window (the whole page scrolls sideways).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import unquote, urlparse

import pandas as pd

from neurrator.book.plotting import MIN_FONT_PT, RC

#: the window widths a page is checked at: a desktop and a phone (an iPhone 12-15 is 390 CSS px wide)
WIDTHS = (1280, 390)
#: the window height; pages are measured and screenshotted in full whatever it is
WINDOW_HEIGHT = 900

#: the smallest figure text, in CSS px, that counts as readable. The book's body text is 16 px; about 9 px (6.75 pt)
#: is the smallest text that stays legible on a screen without zooming. A figure's 9-pt text (12.5 px at 100 dpi)
#: falls under it when the figure is shrunk below 72 % of its own width.
MIN_READABLE_PX = 9.0

#: output text that is a progress bar or a library talking to itself, not a result
CHATTER = (
    re.compile(r"\d+%\|"),                              # tqdm:  40%|████      |
    re.compile(r"\d+(?:\.\d+)?\s*(?:it/s|s/it)\]"),     # tqdm's rate: 3.2it/s]  1.5s/it]
    re.compile(r"Converting and de-quantizing"),        # a model loader converting a quantized checkpoint
    re.compile(r"Loading checkpoint shards"),           # transformers, loading a sharded checkpoint
    re.compile(r"Fetching \d+ files"),                  # huggingface_hub snapshot_download
)

#: where a page's own content is: the theme's article (sphinx-book-theme), else <main>, else the body
ARTICLE_SELECTORS = ("article.bd-article", "#main-content", "main")

#: JavaScript run in each page: the article's tables, cell-output images and texts, and the page's width
_MEASURE_JS = r"""
async (articleSelectors) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;   // typeset math
  const article = articleSelectors.map(s => document.querySelector(s)).find(Boolean) || document.body;
  const viewport = document.documentElement.clientWidth;
  const blank = text => !text.replace(/\u00a0/g, " ").trim();
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      [...el.classList].slice(0, 3).map(c => "." + c).join("");

  // the horizontal range in which el's ancestors (and the window) let it be seen at scroll position 0
  const visibleRange = el => {
    let lo = 0, hi = viewport;
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      if (getComputedStyle(a).overflowX === "visible") continue;
      const left = a.getBoundingClientRect().left + a.clientLeft;
      lo = Math.max(lo, left);
      hi = Math.min(hi, left + a.clientWidth);
    }
    return [lo, hi];
  };

  // the first container that hides el's right edge and cannot be scrolled to show it (null if none does)
  const hidingContainer = el => {
    let right = el.getBoundingClientRect().right;
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX === "visible") continue;
      const boxRight = a.getBoundingClientRect().left + a.clientLeft + a.clientWidth;
      if (right <= boxRight + 1) continue;
      const scrolls = (style.overflowX === "auto" || style.overflowX === "scroll") && a.scrollWidth > a.clientWidth;
      if (!scrolls) return a;
      right = boxRight;   // scrolled to its end, the container shows el's right edge at its own
    }
    return null;
  };

  const inFixed = el => {
    for (let a = el; a; a = a.parentElement) if (getComputedStyle(a).position === "fixed") return true;
    return false;
  };

  const tables = [];
  for (const table of article.querySelectorAll("table")) {
    const box = table.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;   // not shown (e.g. in a closed "Full table" dropdown)
    const cells = [...table.querySelectorAll("th, td")].filter(c => c.closest("table") === table);
    const columns = new Map();   // left edge -> cells starting there
    for (const cell of cells) {
      const left = Math.round(cell.getBoundingClientRect().left);
      columns.set(left, [...(columns.get(left) || []), cell]);
    }
    const lefts = [...columns.keys()].sort((a, b) => a - b);
    const keyLeft = lefts.find(left => columns.get(left).some(c => !blank(c.innerText)));
    const key = keyLeft === undefined ? [] : columns.get(keyLeft);
    const caption = table.querySelector("caption");
    const header = key.find(c => !blank(c.innerText));
    const label = (caption && !blank(caption.innerText) ? caption.innerText : header ? header.innerText : "")
        .replace(/\s+/g, " ").trim().slice(0, 80);

    const keyHidden = key.filter(cell => {
      const r = cell.getBoundingClientRect(), [lo, hi] = visibleRange(cell);
      return r.left < lo - 1 || r.right > hi + 1;
    });
    const rightmost = cells.reduce((a, b) => b.getBoundingClientRect().right > a.getBoundingClientRect().right ? b : a,
                                   cells[0]);
    const hider = rightmost ? hidingContainer(rightmost) : null;
    const examples = keyHidden.filter(c => !blank(c.innerText)).slice(0, 3).map(c => c.innerText.trim().slice(0, 40));
    tables.push({label, keyCells: key.length, keyHidden: keyHidden.length, keyHiddenText: examples,
                 clippedBy: hider ? describe(hider) : null, clippedAt: hider ? hider.clientWidth : null,
                 width: Math.round(Math.max(box.width, table.scrollWidth))});
  }

  const images = [];
  for (const img of article.querySelectorAll(".cell_output img")) {
    try { await img.decode(); } catch (e) { /* a broken image: naturalWidth stays 0 */ }
    const style = getComputedStyle(img);   // the content box: a dark theme pads figures on a light card
    const shown = img.getBoundingClientRect().width - ["paddingLeft", "paddingRight", "borderLeftWidth",
        "borderRightWidth"].reduce((sum, side) => sum + parseFloat(style[side]), 0);
    if (shown <= 0) continue;
    images.push({src: img.currentSrc || img.src, shown, natural: img.naturalWidth});
  }

  const outputs = [...article.querySelectorAll(".cell_output")].map(o => o.innerText);

  // what widens the page: the outermost elements that stick out of the window, else the innermost ones whose
  // content (a long line of text) does
  const scrollWidth = document.scrollingElement.scrollWidth;
  const overflowing = [];
  if (scrollWidth > viewport + 1) {
    const shown = el => el.getBoundingClientRect().width > 0 && getComputedStyle(el).visibility !== "hidden" &&
        !inFixed(el) && visibleRange(el)[1] >= viewport;   // not an off-canvas menu, not clipped by a container
    const sticksOut = el => el.getBoundingClientRect().right > viewport + 1;
    const contentSticksOut = el => el.getBoundingClientRect().left + el.scrollWidth > viewport + 1;
    const all = [...document.body.querySelectorAll("*")];
    const outer = all.filter(el => sticksOut(el) && shown(el) &&
        !(el.parentElement !== document.body && sticksOut(el.parentElement)));
    const inner = outer.length ? [] : all.filter(el => contentSticksOut(el) && shown(el) &&
        ![...el.children].some(contentSticksOut));
    for (const el of [...outer, ...inner].slice(0, 3)) {
      const right = Math.max(el.getBoundingClientRect().right, el.getBoundingClientRect().left + el.scrollWidth);
      overflowing.push(describe(el) + ` (right edge at ${Math.round(right)} px)`);
    }
  }
  return {viewport, scrollWidth, tables, images, outputs, overflowing};
}
"""


@dataclass(frozen=True)
class Finding:
    """One thing a reader would see wrong on one page at one width."""

    page: str
    width: int
    check: str      # cut_table | unreadable_figure | chatter | page_overflow
    detail: str
    measure: float | None = None   # the number behind it: text px, overflow px, ...


@dataclass
class PageReport:
    """What one page measured at one window width, and what failed."""

    page: str
    width: int
    tables: int = 0                       # tables shown in the article
    figures: int = 0                      # matplotlib figures shown in cell outputs
    smallest_text_px: float | None = None  # the smallest figure text on the page, in CSS px
    page_width: int = 0                   # the document's scroll width
    screenshot: Path | None = None
    findings: list[Finding] = field(default_factory=list)


def figure_dpi(path: Path) -> float | None:
    """The dpi a matplotlib PNG was saved at (its ``pHYs`` chunk), or None if ``path`` is not a matplotlib PNG."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            info = image.info
    except OSError:
        return None
    if not str(info.get("Software", "")).startswith("Matplotlib"):
        return None
    return float(info.get("dpi", (RC["figure.dpi"],))[0])


def smallest_text_px(shown_width: float, natural_width: int, dpi: float, font_pt: float = MIN_FONT_PT) -> float:
    """The CSS px height of ``font_pt`` text in a figure saved at ``dpi`` and shown at ``shown_width`` of its
    ``natural_width`` pixels."""
    return font_pt * dpi / 72 * shown_width / natural_width


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def _report(page: str, width: int, measured: dict) -> PageReport:
    report = PageReport(page, width, tables=len(measured["tables"]), page_width=measured["scrollWidth"])
    add = lambda check, detail, value=None: report.findings.append(Finding(page, width, check, detail, value))

    for table in measured["tables"]:
        name = repr(table["label"] or "untitled table")
        if table["keyHidden"]:
            add("cut_table", f"{name}: {table['keyHidden']} of {table['keyCells']} key-column cells not fully "
                             f"visible (e.g. {table['keyHiddenText']})", table["keyHidden"])
        if table["clippedBy"]:
            add("cut_table", f"{name}: {table['width']} px wide, clipped at {table['clippedAt']} px by "
                             f"{table['clippedBy']}, which does not scroll", table["width"] - table["clippedAt"])

    sizes = []
    for image in measured["images"]:
        path = _local_path(image["src"])
        dpi = figure_dpi(path) if path is not None else None
        if dpi is None:
            continue   # not a matplotlib figure (a stimulus frame, an icon)
        if image["natural"] == 0:
            add("unreadable_figure", f"{path.name} did not load", 0.0)
            continue
        px = smallest_text_px(image["shown"], image["natural"], dpi)
        sizes.append(px)
        if px < MIN_READABLE_PX:
            add("unreadable_figure", f"{path.name}: {image['natural']} px shown at {image['shown']:.0f} px, "
                                     f"{MIN_FONT_PT}-pt text at {px:.1f} px (< {MIN_READABLE_PX:g})", round(px, 2))
    report.figures, report.smallest_text_px = len(sizes), (round(min(sizes), 2) if sizes else None)

    for text in measured["outputs"]:
        for line in text.splitlines():
            if any(pattern.search(line) for pattern in CHATTER):
                add("chatter", line.strip()[:120])

    overflow = measured["scrollWidth"] - measured["viewport"]
    if overflow > 1:
        add("page_overflow", f"page is {measured['scrollWidth']} px wide in a {measured['viewport']} px window; "
                             f"sticking out: {', '.join(measured['overflowing']) or 'unknown'}", overflow)
    return report


def launch_chromium(playwright):
    """Debian's chromium under Playwright (Playwright's own browser download is never used)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("Debian's chromium is not installed: `make browser` installs it "
                           "(the book's page checks drive it through Playwright)")
    return playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])


def inspect_pages(html_root: Path, pages: Sequence[Path], widths: Sequence[int] = WIDTHS,
                  screenshots: Path | None = None) -> list[PageReport]:
    """Open each of ``pages`` (HTML files under ``html_root``, the built book) at each window width, save a
    full-page screenshot ``screenshots/<page-stem>-<width>.png`` if ``screenshots`` is given, and measure the
    four checks. One :class:`PageReport` per page and width, in that order."""
    from playwright.sync_api import sync_playwright

    html_root = Path(html_root)
    pages = [Path(p) if Path(p).is_absolute() else html_root / p for p in pages]
    missing = [str(p) for p in pages if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"pages not found (is the book built under {html_root}?): {', '.join(missing)}")
    if screenshots is not None:
        Path(screenshots).mkdir(parents=True, exist_ok=True)

    reports = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for width in widths:
                context = browser.new_context(viewport={"width": width, "height": WINDOW_HEIGHT})
                tab = context.new_page()
                for path in pages:
                    tab.goto(path.resolve().as_uri(), wait_until="load")
                    measured = tab.evaluate(_MEASURE_JS, list(ARTICLE_SELECTORS))
                    report = _report(path.stem, width, measured)
                    if screenshots is not None:
                        report.screenshot = Path(screenshots) / f"{path.stem}-{width}.png"
                        tab.screenshot(path=str(report.screenshot), full_page=True)
                    reports.append(report)
                context.close()
        finally:
            browser.close()
    order = {p.stem: i for i, p in enumerate(pages)}
    return sorted(reports, key=lambda r: (order[r.page], list(widths).index(r.width)))


def book_pages(html_root: Path) -> list[Path]:
    """The chapter pages of a built book (``book/*.html`` under the HTML root)."""
    pages = sorted((Path(html_root) / "book").glob("*.html"))
    if not pages:
        raise FileNotFoundError(f"no pages under {Path(html_root) / 'book'}: build the book first "
                                "(`jupyter-book build .`)")
    return pages


def findings_table(reports: Sequence[PageReport]) -> pd.DataFrame:
    """Every finding of ``reports``, one row each (page, width, check, detail, measure)."""
    rows = [vars(f) for r in reports for f in r.findings]
    return pd.DataFrame(rows, columns=["page", "width", "check", "detail", "measure"])


def summary(reports: Sequence[PageReport]) -> str:
    """A few lines for a person: the counts per check and width, then each finding."""
    findings = [f for r in reports for f in r.findings]
    widths = sorted({r.width for r in reports}, reverse=True)
    pages = len({r.page for r in reports})
    if not findings:
        return (f"{pages} pages at {' and '.join(f'{w} px' for w in widths)}: no cut tables, no unreadable figures, "
                f"no progress-bar output, no sideways page scroll")
    table = findings_table(reports)
    counts = table.groupby(["check", "width"]).size().unstack(fill_value=0).reindex(columns=widths, fill_value=0)
    lines = [f"{len(findings)} findings on {table['page'].nunique()} of {pages} pages",
             counts.to_string(), ""]
    lines += [f"{f.page} @ {f.width}px  {f.check}: {f.detail}" for f in findings]
    return "\n".join(lines)
