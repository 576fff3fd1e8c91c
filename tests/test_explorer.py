"""The narration explorer: its raster, its data and, in headless Chromium, a slider that changes the frame, the
raster and the sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurrator.book.explorer import ExplorerStimulus, NarrationExplorer, SpikeRaster
from neurrator.data.binning import BinnedStimulus


def binned_movie(n_frames: int = 40, per_frame: int = 4, repeats: int = 2, units: int = 6, seed: int = 0) -> BinnedStimulus:
    rng = np.random.default_rng(seed)
    frame = np.tile(np.repeat(np.arange(n_frames), per_frame), repeats).astype(np.int32)
    repeat = np.repeat(np.arange(repeats), n_frames * per_frame).astype(np.int32)
    n = len(frame)
    counts = rng.poisson(0.3, (n, units)).astype(np.uint8)
    return BinnedStimulus("m", np.arange(100, 100 + units), counts, np.arange(n) / 120.0, frame, repeat,
                          np.zeros(n, np.int16), (np.arange(n) // per_frame).astype(np.int32),
                          (np.arange(n) % per_frame).astype(np.int16))


def test_raster_keeps_one_repeat_and_groups_units():
    binned = binned_movie()
    groups = {100: "VISp", 101: "LGd", 102: "VISp", 103: "LGd", 104: "CA1"}      # unit 105: "other"
    raster = SpikeRaster.of_repeat(binned, groups)
    assert raster.n_bins == 160 and raster.bins_per_frame == 4 and raster.n_rows == 6
    assert raster.groups == (("CA1", 0), ("LGd", 1), ("VISp", 3), ("other", 5))
    first = binned.counts[binned.repeat == 0]
    order = [104, 101, 103, 100, 102, 105]
    dense = np.zeros((160, 6), int)
    dense[raster.bins, raster.rows] = raster.counts
    assert np.array_equal(dense, first[:, [u - 100 for u in order]])           # every spike of repeat 0, none of repeat 1
    assert raster.frame_bins(2, 3) == (8, 16) and raster.frame_bins(-5, 100) == (0, 160)
    ordered = SpikeRaster.of_repeat(binned, groups, group_order=["VISp", "LGd", "absent"])
    assert ordered.groups == (("VISp", 0), ("LGd", 2), ("CA1", 4), ("other", 5))
    with pytest.raises(ValueError, match="no repeat 7"):
        SpikeRaster.of_repeat(binned, groups, repeat=7)


def stimulus(name: str, frames, offset: int = 0) -> ExplorerStimulus:
    images = {f: np.full((30, 60), (f * 37 + offset) % 256, np.uint8) for f in frames}
    sentences = pd.DataFrame([{"decoder": d, "frame": f, "narration": f"{d} says {f} about {name} </script><b>", "score": 0.1 * i}
                              for i, d in enumerate(["sparse random", "PV cells"]) for f in frames
                              if not (d == "PV cells" and f % 2)])
    return ExplorerStimulus(name, f"the movie {name}", images, {f: f"reference {f} of {name}" for f in frames}, sentences,
                            SpikeRaster.of_repeat(binned_movie(), {100: "VISp"}), content={f: f"content {f}" for f in frames},
                            raster_label="session 1")


def test_payload_and_errors():
    explorer = NarrationExplorer([stimulus("a", [3, 5, 8]), stimulus("b", [1, 2], offset=100)])
    assert explorer.n_frames == 5 and explorer.decoders == ["sparse random", "PV cells"]
    first = explorer.payload["stimuli"][0]
    assert first["frames"] == [3, 5, 8] and first["rows"]["5"] == [[0, 1, 0.0]]          # PV skipped frame 5
    assert first["images"]["3"].startswith("data:image/webp;base64,")
    html = explorer._repr_html_()
    assert html.count("</script>") == 2                                                    # the data cannot close its tag
    assert NarrationExplorer([stimulus("a", [3, 5, 8])]).element_id == NarrationExplorer([stimulus("a", [3, 5, 8])]).element_id
    with pytest.raises(ValueError, match="not in `decoders`"):
        NarrationExplorer([stimulus("a", [2])], decoders=["sparse random"])
    broken = stimulus("a", [3])
    broken.references = {}
    with pytest.raises(KeyError, match="no reference caption for frame"):
        NarrationExplorer([broken])


def explore(page_url: str, width: int = 1280):
    """Open an explorer page in headless Chromium; yields the page (Playwright)."""
    from playwright.sync_api import sync_playwright

    from neurrator.book.pages import launch_chromium

    playwright = sync_playwright().start()
    try:
        browser = launch_chromium(playwright)
    except RuntimeError as err:
        playwright.stop()
        pytest.fail(str(err))
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(page_url)
    return playwright, browser, page


def state(page, root: str) -> dict:
    return page.evaluate("""(root) => { const r = document.querySelector(root);
        const c = r.querySelector('.ne-raster'), ctx = c.getContext('2d'), px = ctx.getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 0; i < px.length; i += 4) if (px[i] < 100 && px[i + 1] < 100) ink++;
        return {frame: r.dataset.frame, image: r.querySelector('.ne-frame').src, position: r.querySelector('.ne-position').textContent,
                reference: r.querySelector('.ne-reference').textContent,
                rows: [...r.querySelectorAll('.ne-rows tr')].map(tr => [...tr.children].map(td => td.textContent)), ink: ink}; }""",
                         root)


def move_slider(page, root: str, key: str = "ArrowRight") -> None:
    page.focus(f"{root} .ne-slider")
    page.keyboard.press(key)


def test_slider_changes_frame_raster_and_sentences(tmp_path):
    path = tmp_path / "explorer.html"
    NarrationExplorer([stimulus("a", [3, 5, 8]), stimulus("b", [1, 2], offset=100)]).save(path)
    playwright, browser, page = explore(path.as_uri())
    try:
        root = ".narration-explorer"
        first = state(page, root)
        assert first["frame"] == "3" and first["position"].startswith("frame 3 (1 of 3")
        assert first["reference"] == "reference 3 of a"
        assert first["rows"] == [["sparse random", "sparse random says 3 about a </script><b>", "0.00"]]   # text, not markup
        assert first["ink"] > 0                                                              # spikes drawn
        move_slider(page, root)
        second = state(page, root)
        assert second["frame"] == "5" and second["image"] != first["image"]
        assert second["rows"] == [["sparse random", "sparse random says 5 about a </script><b>", "0.00"]]
        assert second["ink"] != first["ink"]                                                 # the raster window moved
        move_slider(page, root)
        third = state(page, root)
        assert [r[0] for r in third["rows"]] == ["sparse random", "PV cells"]
        page.click(f"{root} .ne-prev")
        assert state(page, root)["frame"] == "5"
        page.select_option(f"{root} .ne-stimulus", "1")
        other = state(page, root)
        assert other["frame"] == "1" and other["reference"] == "reference 1 of b"
        assert page.evaluate("document.querySelector('.narration-explorer .ne-slider').max") == "1"
    finally:
        browser.close()
        playwright.stop()
