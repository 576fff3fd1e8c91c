"""The book's page checks (neurrator.book.pages) fire on pages built to fail them, and stay quiet on their fixed
twins: small HTML pages in a temporary folder, no book build."""

from __future__ import annotations

import pytest
from PIL import Image

from neurrator.book import pages

ARTICLE = ('<html><head><meta charset="utf-8"></head><body style="margin:0">'
           '<article class="bd-article">{}</article></body></html>')
#: a 900-px table whose key column (condition) is narrow
WIDE_TABLE = ("<table><thead><tr><th>condition</th>" + "<th><div style='width:150px'>score</div></th>" * 5 +
              "</tr></thead><tbody><tr><td>sparse_random</td>" + "<td>0.5</td>" * 5 + "</tr></tbody></table>")


def figure_png(path, width_px: int) -> None:
    """A matplotlib PNG ``width_px`` wide at the book's 100 dpi."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width_px / 100, 2), dpi=100)
    fig.text(0.5, 0.5, "smallest text", fontsize=pages.MIN_FONT_PT)
    fig.savefig(path, dpi=100)
    plt.close(fig)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """Each broken page and its fixed twin, measured at both widths."""
    root = tmp_path_factory.mktemp("site")
    figure_png(root / "figure.png", 1400)
    Image.new("RGB", (1400, 300), "white").save(root / "photo.png")   # not a matplotlib figure: not checked
    bodies = {
        # the table's key column is pushed off the left edge of a container that hides what overflows
        "cut_table": "<div style='overflow:hidden;width:300px'><div style='margin-left:-200px'>"
                     f"{WIDE_TABLE}</div></div>",
        "cut_table_fixed": f"<div style='overflow-x:auto;width:300px'>{WIDE_TABLE}</div>",
        # the key column shows, the rest is hidden with no way to scroll to it
        "clipped_table": f"<div style='overflow:hidden;width:300px'>{WIDE_TABLE}</div>",
        "small_figure": "<div class='cell_output'><img src='figure.png' style='width:300px'>"
                        "<img src='photo.png' style='width:300px'></div>",
        "small_figure_fixed": "<div class='cell_output' style='overflow-x:auto'><img src='figure.png'></div>",
        "progress_bar": "<div class='cell_output' style='overflow-x:auto'>"
                        "<pre>Batches:  40%|████      | 2/5 [00:01<00:02,  1.52it/s]</pre></div>",
        "progress_bar_fixed": "<div class='cell_output' style='overflow-x:auto'>"
                              "<pre>96% of units pass | 2/5 sessions</pre></div>",
        "wide_page": "<div style='width:2000px;height:20px;background:#ccc'></div>",
        "wide_page_fixed": "<div style='overflow-x:auto'><div style='width:2000px;height:20px'></div></div>",
    }
    paths = []
    for name, body in bodies.items():
        (root / f"{name}.html").write_text(ARTICLE.format(body))
        paths.append(root / f"{name}.html")
    shots = root / "shots"
    reports = pages.inspect_pages(root, paths, pages.WIDTHS, screenshots=shots)
    return {(r.page, r.width): r for r in reports}, shots


@pytest.mark.parametrize("width", pages.WIDTHS)
@pytest.mark.parametrize("page, check", [("cut_table", "cut_table"), ("small_figure", "unreadable_figure"),
                                         ("progress_bar", "chatter"), ("wide_page", "page_overflow")])
def test_each_check_fires_on_its_broken_page_and_not_on_the_fixed_one(checked, page, check, width):
    reports, _ = checked
    broken, fixed = reports[page, width], reports[f"{page}_fixed", width]
    assert {f.check for f in broken.findings} == {check}, broken.findings
    assert fixed.findings == [], fixed.findings


def test_what_the_checks_measure(checked):
    reports, shots = checked
    table = reports["cut_table", 390]
    assert table.tables == 1
    details = " ".join(f.detail for f in table.findings)
    assert "'condition'" in details and "key-column cells not fully visible" in details
    assert "which does not scroll" in details          # clipped by overflow:hidden, no way to scroll to the rest
    (clipped,) = reports["clipped_table", 390].findings
    assert "clipped at 300 px by div, which does not scroll" in clipped.detail and clipped.measure > 500

    (figure,) = reports["small_figure", 1280].findings   # the squeezed photo is no matplotlib figure: not a finding
    assert figure.measure == pytest.approx(pages.MIN_FONT_PT * 100 / 72 * 300 / 1400, abs=0.01)   # 2.68 px
    assert reports["small_figure_fixed", 390].smallest_text_px == pytest.approx(12.5)

    (bar,) = reports["progress_bar", 1280].findings
    assert "40%|" in bar.detail
    (wide,) = reports["wide_page", 390].findings
    assert wide.measure == 2000 - 390 and "right edge at 2000 px" in wide.detail

    assert Image.open(shots / "cut_table-390.png").size[0] == 390
    assert Image.open(shots / "wide_page-390.png").size[0] == 2000   # a full-page shot shows what sticks out
    text = pages.summary(list(reports.values()))
    assert text.startswith("12 findings on 5 of 9 pages")   # a cut table twice: its key column, its clipping
    assert "small_figure @ 390px  unreadable_figure" in text
    assert len(pages.findings_table(list(reports.values()))) == 12


def test_smallest_text_of_a_figure_at_its_own_size():
    assert pages.smallest_text_px(700, 700, dpi=100) == pytest.approx(12.5)   # 9 pt at 100 dpi
    assert pages.smallest_text_px(358, 711, dpi=100) < pages.MIN_READABLE_PX  # shrunk to a phone's text column


def test_missing_chromium_names_make_browser(monkeypatch, tmp_path):
    (tmp_path / "page.html").write_text(ARTICLE.format("text"))
    monkeypatch.setattr(pages.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="make browser"):
        pages.inspect_pages(tmp_path, [tmp_path / "page.html"])
