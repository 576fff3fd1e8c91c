"""Screenshots of every page of the built book at a desktop and a phone width, and what a reader would see wrong.

Not a timing: each chapter page of the built HTML book (``book/*.html`` under ``--html``) is opened in Debian's
chromium (through Playwright) at 1280 px and 390 px (``--widths``); a full-page screenshot goes to
``--out/<page>-<width>.png`` and ``neurrator.book.pages`` measures four things in the page: tables whose key column
is cut off, figures whose smallest text shows under 9 CSS px, progress bars or loading chatter in outputs, and the
page scrolling sideways. The findings go to ``--out/report.json`` (every page and width, with its numbers) and a
one-line verdict to stdout; the exit status is 1 if anything was found.

Usage: .venv/bin/jupyter-book build .   # the book, into _build/html
       .venv/bin/python benchmarks/book_screenshots.py [--html _build/html] [--out _build/screenshots]
       [--widths 1280 390] [--pages 03_train 04_narrate_heldout]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neurrator.book import pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"), help="the built book's HTML root")
    parser.add_argument("--out", type=Path, default=Path("_build/screenshots"), help="screenshots and report.json")
    parser.add_argument("--widths", type=int, nargs="+", default=list(pages.WIDTHS), help="window widths, px")
    parser.add_argument("--pages", nargs="+", help="page stems to check (default: every page)")
    args = parser.parse_args(argv)

    chosen = pages.book_pages(args.html)
    if args.pages:
        unknown = set(args.pages) - {p.stem for p in chosen}
        if unknown:
            parser.error(f"no such pages under {args.html / 'book'}: {', '.join(sorted(unknown))}")
        chosen = [p for p in chosen if p.stem in args.pages]

    reports = pages.inspect_pages(args.html, chosen, args.widths, screenshots=args.out)
    findings = [f for r in reports for f in r.findings]
    payload = {
        "html": str(args.html), "widths": args.widths, "min_readable_px": pages.MIN_READABLE_PX,
        "findings": len(findings),
        "pages": [{"page": r.page, "width": r.width, "tables": r.tables, "figures": r.figures,
                   "smallest_text_px": r.smallest_text_px, "page_width": r.page_width,
                   "screenshot": str(r.screenshot), "findings": [vars(f) for f in r.findings]} for r in reports],
    }
    (args.out / "report.json").write_text(json.dumps(payload, indent=2) + "\n")

    print(pages.summary(reports))
    verdict = "PASS" if not findings else "FAIL"
    print(f"{verdict}: {len(findings)} findings over {len(chosen)} pages at {', '.join(map(str, args.widths))} px; "
          f"screenshots and report.json in {args.out}")
    return 0 if not findings else 1


if __name__ == "__main__":
    sys.exit(main())
