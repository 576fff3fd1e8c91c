"""Narration strips (the paper's Fig. A1/A2): consecutive held-out frames of a movie, the population's raster over
the same stretch, and under each frame the sentence decoded from spikes with the frame's reference caption."""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.book.explorer import SpikeRaster
from neurrator.book.plotting import FULL_WIDTH_IN, MIN_FONT_PT
from neurrator.evaluation import frame_by_frame

#: characters per line of a sentence under a frame (a sixth of the full page width at the minimum font size)
WRAP_CHARACTERS = 22


def longest_run(frames: Sequence[int]) -> np.ndarray:
    """The longest run of consecutive frame ids in ``frames`` (the first one on a tie)."""
    frames = np.unique(np.asarray(frames, dtype=np.int64))
    if frames.size == 0:
        raise ValueError("no frames to choose a stretch from")
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    runs = np.split(frames, breaks)
    return runs[int(np.argmax([len(r) for r in runs]))]


def strip_frames(frames: Sequence[int], n: int = 6) -> list[int]:
    """``n`` frames evenly spaced over the longest stretch of consecutive held-out ``frames`` (fewer if it is short)."""
    run = longest_run(frames)
    return [int(f) for f in dict.fromkeys(run[np.linspace(0, len(run) - 1, min(n, len(run))).round().astype(int)])]



def narration_strip(shown: Sequence[int], images: Mapping[int, np.ndarray] | np.ndarray, sentences: pd.DataFrame,
                    references: Mapping[int, str], raster: SpikeRaster | None, *, title: str, raster_label: str = "",
                    pad_frames: int = 15):
    """The strip of frames ``shown``: each frame, the raster of the stretch (each frame under its picture; ``pad_frames``
    on either side of a single frame), and under each frame its decoded sentence (``sentences``: columns ``frame``, ``narration``, ``score``), its SBERT
    cosine and its reference. Full page width (tag the cell ``full-width``)."""
    import matplotlib.pyplot as plt

    by_frame = sentences.set_index("frame")
    missing = [f for f in shown if f not in by_frame.index]
    if missing:
        raise KeyError(f"no decoded sentence for frame(s) {missing} of the strip")
    n = len(shown)
    height, width = np.asarray(images[shown[0]]).shape[:2]
    frame_h = FULL_WIDTH_IN * 0.93 / n * height / width
    fig = plt.figure(figsize=(FULL_WIDTH_IN, frame_h + 4.1))
    grid = fig.add_gridspec(3, n, height_ratios=[frame_h, 2.0, 1.4], hspace=0.45, wspace=0.06, left=0.065, right=0.995,
                            top=1 - 0.55 / (frame_h + 4.1), bottom=0.3 / (frame_h + 4.1))
    for column, frame in enumerate(shown):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(images[frame], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"frame {frame}", fontsize=MIN_FONT_PT + 1)
        ax.axis("off")
        text = fig.add_subplot(grid[2, column])
        text.axis("off")
        row = by_frame.loc[frame]
        decoded = textwrap.fill(str(row["narration"]), WRAP_CHARACTERS)
        reference = textwrap.fill(str(references[frame]), WRAP_CHARACTERS)
        said = text.text(0, 1, f"{decoded}\n(SBERT {row['score']:.2f})", va="top", ha="left", fontsize=MIN_FONT_PT,
                         style="italic", transform=text.transAxes)
        text.annotate(reference, (0, 0), xycoords=said, xytext=(0, -6), textcoords="offset points", va="top", ha="left",
                      fontsize=MIN_FONT_PT, color="0.35")
    spikes = fig.add_subplot(grid[1, :])
    if raster is not None:
        # half a step beyond the first and last frame: each shown frame sits under its own picture
        step = (max(shown) - min(shown)) / max(1, n - 1) if n > 1 else 2 * pad_frames
        first, last = min(shown) - step / 2, max(shown) + step / 2
        b0, b1 = raster.frame_bins(first, last)
        keep = (raster.bins >= b0) & (raster.bins < b1)
        dense = np.zeros((raster.n_rows, b1 - b0))
        dense[raster.rows[keep], raster.bins[keep] - b0] = 1
        spikes.imshow(dense, aspect="auto", cmap="Greys", interpolation="nearest",
                      extent=(b0 / raster.bins_per_frame, b1 / raster.bins_per_frame, raster.n_rows, 0))
        spikes.set_xlim(min(shown) + 0.5 - step / 2, max(shown) + 0.5 + step / 2)
        for frame in shown:
            spikes.axvspan(frame, frame + 1, color="C3", alpha=0.35, lw=0)
        spikes.set_yticks([start + (end - start) / 2 for (_, start), end in
                           zip(raster.groups, [g[1] for g in raster.groups[1:]] + [raster.n_rows])],
                          [label for label, _ in raster.groups])
        spikes.grid(False)
        spikes.set_xlabel("movie frame (shaded: the frames above)")
        spikes.set_title(raster_label, fontsize=MIN_FONT_PT + 1, loc="left")
    else:
        spikes.axis("off")
    fig.text(0.01, 0.01, "Under each frame: the sentence decoded from spikes (italic, with its SBERT cosine with the "
             "reference) and the frame's reference caption (grey).", fontsize=MIN_FONT_PT, color="0.3")
    fig.suptitle(title, fontweight="bold", x=0.01, ha="left")
    return fig


def condition_strip(sentences: pd.DataFrame, condition: str, *, images: Mapping[str, np.ndarray],
                    references: Mapping[str, Mapping[int, str]], rasters: Mapping[str, SpikeRaster | None], length: int = 6,
                    raster_label: str = ""):
    """The strip of one held-out ``condition`` of chapter 04 (``sentences``: :mod:`~neurrator.evaluation.frame_by_frame`'s
    table) over the longest stretch of consecutive frames it held out, and
    :func:`~neurrator.evaluation.frame_by_frame.strip_summary` of that whole stretch."""
    label = frame_by_frame.condition_label(condition)
    said = sentences[sentences["decoder"] == label]
    if said.empty:
        raise KeyError(f"no sentences of condition {condition!r}; conditions: "
                       f"{sorted(sentences['decoder'].unique())} (run notebook 04_narrate_heldout with it)")
    name = said["stimulus"].iloc[0]
    run = longest_run(said["frame"])
    shown = strip_frames(run, length)
    figure = narration_strip(shown, images[name], said, references[name], rasters.get(name), raster_label=raster_label,
                             title=f"{name.replace('_', ' ')}: held-out frames of '{label}'")
    return figure, frame_by_frame.strip_summary(said[said["frame"].isin(run)], references[name])
