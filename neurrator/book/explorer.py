"""The narration explorer: one static HTML block (no server, no network) with a slider over the held-out frames
of each movie. For the frame under the slider it shows the frame, the population's raster around it, the reference
caption and every decoder's sentence for that frame with its SBERT cosine; the data travel inside the page as JSON.

:class:`SpikeRaster` (the spikes of one repeat of a movie) is shared with the narration strips
(:mod:`neurrator.book.narration_strips`)."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

#: columns of an explorer's sentence table
SENTENCE_COLUMNS = ("decoder", "frame", "narration", "score")


@dataclass(frozen=True)
class SpikeRaster:
    """The non-empty bins of one repeat of a movie: spike ``counts`` at (``bins``, ``rows``), bins counted from the
    repeat's first frame, rows ordered by unit group (``groups``: label and first row of each, e.g. brain areas)."""

    bins: np.ndarray
    rows: np.ndarray
    counts: np.ndarray
    n_rows: int
    n_bins: int
    bins_per_frame: float
    groups: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of_repeat(cls, binned, unit_groups: Mapping[int, str] | None = None, repeat: int | None = None,
                  group_order: Sequence[str] = ()) -> "SpikeRaster":
        """The spikes of ``repeat`` (default: the first) of a binned movie (:class:`~neurrator.data.binning.BinnedStimulus`),
        its units sorted by ``unit_groups`` (unit id -> label; unlisted units are "other"): groups named in
        ``group_order`` first, in that order, then the rest alphabetically, "other" last."""
        shown = binned.frame >= 0
        if not shown.any():
            raise ValueError(f"{binned.stimulus}: no bin shows a frame")
        repeat = int(binned.repeat[shown].min()) if repeat is None else int(repeat)
        in_repeat = np.flatnonzero(shown & (binned.repeat == repeat))
        if in_repeat.size == 0:
            raise ValueError(f"{binned.stimulus} has no repeat {repeat}; repeats: {sorted(set(binned.repeat[shown].tolist()))}")
        in_repeat = in_repeat[np.argsort(binned.bin_start[in_repeat], kind="stable")]
        labels = [str((unit_groups or {}).get(int(u), "other")) for u in binned.unit_ids]
        listed = [g for g in group_order if g in labels and g != "other"]
        ranked = listed + sorted(set(labels) - set(listed) - {"other"}) + ["other"]
        order_of = {label: i for i, label in enumerate(ranked)}
        order = np.array(sorted(range(len(labels)), key=lambda i: (order_of[labels[i]], i)), dtype=np.int64)
        counts = np.asarray(binned.counts[in_repeat][:, order])
        bins, rows = np.nonzero(counts)
        group_of = np.array([order_of[labels[i]] for i in order])
        starts = np.flatnonzero(np.r_[True, group_of[1:] != group_of[:-1]])
        groups = tuple((labels[order[s]], int(s)) for s in starts)
        n_frames = int(binned.frame[in_repeat].max()) + 1
        return cls(bins.astype(np.int32), rows.astype(np.int32), counts[bins, rows].astype(np.int32), len(order),
                   len(in_repeat), len(in_repeat) / n_frames, groups)

    def frame_bins(self, first_frame: float, last_frame: float) -> tuple[int, int]:
        """The bin range [start, stop) that covers frames ``first_frame`` .. ``last_frame``."""
        start = max(0, int(np.floor(first_frame * self.bins_per_frame)))
        return start, min(self.n_bins, int(np.ceil((last_frame + 1) * self.bins_per_frame)))

    def payload(self) -> dict:
        """The raster as the explorer's JavaScript reads it: events sorted by bin, ``bins`` and ``rows`` packed as
        little-endian uint16 in base64 (a quarter of the size of JSON numbers)."""
        if max(self.n_bins, self.n_rows) > np.iinfo(np.uint16).max:
            raise ValueError(f"a raster of {self.n_bins} bins x {self.n_rows} units is too large for the explorer "
                             "(at most 65535 of each)")
        order = np.lexsort((self.rows, self.bins))
        pack = lambda values: base64.b64encode(values[order].astype("<u2").tobytes()).decode()
        return {"bins": pack(self.bins), "rows": pack(self.rows), "events": int(order.size), "n_rows": self.n_rows,
                "n_bins": self.n_bins, "bins_per_frame": self.bins_per_frame,
                "groups": [[label, start] for label, start in self.groups]}


@dataclass
class ExplorerStimulus:
    """One movie of the explorer: its held-out ``frames`` (frame id -> uint8 image), the model ``references``, the
    optional ``content`` references, every decoder's sentences (:data:`SENTENCE_COLUMNS`, one row per decoder and
    held-out frame) and the population's raster."""

    name: str
    label: str
    frames: Mapping[int, np.ndarray]
    references: Mapping[int, str]
    sentences: pd.DataFrame
    raster: SpikeRaster | None = None
    content: Mapping[int, str] | None = None
    raster_label: str = ""


def thumbnail(image: np.ndarray, width: int = 192, quality: int = 50) -> str:
    """A frame as a WebP data URI ``width`` pixels wide (aspect kept)."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    height = max(1, round(picture.height * width / picture.width))
    buffer = io.BytesIO()
    picture.resize((width, height), Image.LANCZOS).save(buffer, format="WEBP", quality=quality)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode()


def _stimulus_payload(stimulus: ExplorerStimulus, decoders: Sequence[str], width: int) -> dict:
    lacking = [c for c in SENTENCE_COLUMNS if c not in stimulus.sentences.columns]
    if lacking:
        raise ValueError(f"{stimulus.name}: the sentence table needs columns {list(SENTENCE_COLUMNS)}; missing {lacking}")
    table = stimulus.sentences[stimulus.sentences["frame"].isin(list(stimulus.frames))]
    frames = sorted(int(f) for f in stimulus.frames)
    missing = [f for f in frames if f not in stimulus.references]
    if missing:
        raise KeyError(f"{stimulus.name}: no reference caption for frame(s) {missing[:5]}")
    sentences = list(dict.fromkeys(table["narration"]))
    index = {s: i for i, s in enumerate(sentences)}
    rows: dict[str, list] = {str(f): [] for f in frames}
    for decoder, frame, narration, score in table[list(SENTENCE_COLUMNS)].itertuples(index=False):
        rows[str(int(frame))].append([decoders.index(decoder), index[narration], round(float(score), 2)])
    for listed in rows.values():
        listed.sort()
    return {"name": stimulus.name, "label": stimulus.label, "frames": frames,
            "images": {str(f): thumbnail(stimulus.frames[f], width) for f in frames},
            "reference": {str(f): stimulus.references[f] for f in frames},
            "content": None if stimulus.content is None else {str(f): stimulus.content.get(f, "") for f in frames},
            "sentences": sentences, "rows": rows, "raster_label": stimulus.raster_label,
            "raster": None if stimulus.raster is None else stimulus.raster.payload()}


class NarrationExplorer:
    """The explorer's HTML (``_repr_html_``: a notebook shows it, the book renders it). ``decoders`` fixes the order of
    the sentence rows; ``window_frames`` is the raster's half-width around the frame."""

    def __init__(self, stimuli: Sequence[ExplorerStimulus], decoders: Sequence[str] | None = None,
                 window_frames: int = 30, thumbnail_width: int = 192):
        if not stimuli:
            raise ValueError("the explorer needs at least one stimulus")
        empty = [s.name for s in stimuli if not len(s.frames)]
        if empty:
            raise ValueError(f"no held-out frames to explore for {empty}")
        seen = list(dict.fromkeys(d for s in stimuli for d in s.sentences["decoder"]))
        self.decoders = list(decoders) if decoders is not None else seen
        unknown = sorted(set(seen) - set(self.decoders))
        if unknown:
            raise ValueError(f"decoders {unknown} have sentences but are not in `decoders`")
        self.payload = {"decoders": self.decoders, "window_frames": int(window_frames),
                        "stimuli": [_stimulus_payload(s, self.decoders, thumbnail_width) for s in stimuli]}
        text = json.dumps(self.payload, sort_keys=True, separators=(",", ":"))
        self.element_id = "narration-explorer-" + hashlib.sha256(text.encode()).hexdigest()[:12]
        self._json = text.replace("</", "<\\/")

    @property
    def n_frames(self) -> int:
        return sum(len(s["frames"]) for s in self.payload["stimuli"])

    def __repr__(self) -> str:
        counts = ", ".join(f"{s['name']}: {len(s['frames'])} frames" for s in self.payload["stimuli"])
        return f"NarrationExplorer({counts}; {len(self.decoders)} decoders)"

    def _repr_html_(self) -> str:
        options = "".join(f'<option value="{i}">{html.escape(s["label"])}</option>'
                          for i, s in enumerate(self.payload["stimuli"]))
        return _TEMPLATE.format(id=self.element_id, options=options, data=self._json, script=_SCRIPT % self.element_id)

    def save(self, path) -> None:
        """A stand-alone HTML page of the explorer (opens in any browser, offline)."""
        from neurrator.artifacts import write_text_atomic

        write_text_atomic(path, f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Narration explorer'
                                f'</title></head><body>{self._repr_html_()}</body></html>')


_TEMPLATE = """<div id="{id}" class="narration-explorer" style="font-size:15px; line-height:1.4; max-width:100%">
<div style="display:flex; flex-wrap:wrap; gap:8px; align-items:center; margin-bottom:8px">
  <label>movie <select class="ne-stimulus">{options}</select></label>
  <button type="button" class="ne-prev" aria-label="previous held-out frame">&#9664;</button>
  <input type="range" class="ne-slider" min="0" max="0" value="0" step="1" aria-label="held-out frame"
         style="flex:1 1 180px; min-width:150px">
  <button type="button" class="ne-next" aria-label="next held-out frame">&#9654;</button>
  <span class="ne-position" style="min-width:11em"></span>
</div>
<div style="display:flex; flex-wrap:wrap; gap:12px; align-items:flex-start">
  <figure style="margin:0; flex:0 0 auto"><img class="ne-frame" alt="the held-out frame" style="width:240px; max-width:100%; display:block">
    <figcaption class="ne-caption" style="font-size:13px"></figcaption></figure>
  <figure style="margin:0; flex:1 1 280px; min-width:0"><canvas class="ne-raster" height="200"
    style="width:100%; height:200px; display:block; border:1px solid #ccc" aria-label="spike raster around the frame"></canvas>
    <figcaption class="ne-raster-caption" style="font-size:13px"></figcaption></figure>
</div>
<p style="margin:10px 0 4px"><b>Model reference:</b> <span class="ne-reference"></span></p>
<p class="ne-content-line" style="margin:0 0 8px"><b>Content reference:</b> <span class="ne-content"></span></p>
<div style="overflow-x:auto"><table class="ne-table" style="border-collapse:collapse; width:100%">
  <thead><tr><th style="text-align:left; padding:3px 6px">decoder</th><th style="text-align:left; padding:3px 6px">decoded sentence</th>
  <th style="text-align:right; padding:3px 6px">SBERT</th></tr></thead><tbody class="ne-rows"></tbody></table></div>
<p class="ne-others" style="font-size:13px; color:#555"></p>
<script type="application/json" class="ne-data">{data}</script>
<script>{script}</script>
</div>"""

# the explorer's behaviour: the slider (or the buttons, or the arrow keys on the slider) picks a held-out frame
_SCRIPT = r"""(function () {
  var root = document.getElementById("%s");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var data = JSON.parse(root.querySelector(".ne-data").textContent);
  function unpack(text) {   // base64 of little-endian uint16
    var bytes = atob(text), out = new Uint8Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
    return new Uint16Array(out.buffer);
  }
  data.stimuli.forEach(function (st) { if (st.raster) { st.raster.bins = unpack(st.raster.bins); st.raster.rows = unpack(st.raster.rows); } });
  var q = function (c) { return root.querySelector(c); };
  var select = q(".ne-stimulus"), slider = q(".ne-slider"), canvas = q(".ne-raster");
  function lowerBound(a, x) { var lo = 0, hi = a.length; while (lo < hi) { var m = (lo + hi) >> 1; if (a[m] < x) lo = m + 1; else hi = m; } return lo; }
  function drawRaster(st, frame) {
    var r = st.raster, ctx = canvas.getContext("2d"), w = canvas.clientWidth || 600, h = canvas.clientHeight || 200;
    canvas.width = w; canvas.height = h;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    if (!r) { ctx.fillStyle = "#555"; ctx.fillText("no raster for this movie", 10, 20); return; }
    var half = data.window_frames, left = 46, bpf = r.bins_per_frame;
    var b0 = Math.floor((frame - half) * bpf), b1 = Math.ceil((frame + half + 1) * bpf), span = b1 - b0, pw = w - left;
    ctx.fillStyle = "rgba(213, 94, 0, 0.25)";
    ctx.fillRect(left + (frame * bpf - b0) / span * pw, 0, Math.max(2, bpf / span * pw), h);
    ctx.fillStyle = "#000";
    var rh = h / r.n_rows, bw = Math.max(1, pw / span);
    for (var i = lowerBound(r.bins, Math.max(0, b0)); i < r.bins.length && r.bins[i] < b1; i++) {
      ctx.fillRect(left + (r.bins[i] - b0) / span * pw, r.rows[i] * rh, bw, Math.max(1, rh * 0.8));
    }
    ctx.font = "12px sans-serif"; ctx.strokeStyle = "#999";
    ctx.fillStyle = "rgba(255, 255, 255, 0.8)"; ctx.fillRect(left, h - 15, pw, 15);
    ctx.fillStyle = "#333"; ctx.textAlign = "left"; ctx.fillText("\u2212" + half + " frames", left + 2, h - 3);
    ctx.textAlign = "right"; ctx.fillText("+" + half + " frames", w - 2, h - 3); ctx.textAlign = "left";
    r.groups.forEach(function (g, k) {
      var y0 = g[1] * rh, y1 = (k + 1 < r.groups.length ? r.groups[k + 1][1] : r.n_rows) * rh;
      if (k > 0) { ctx.beginPath(); ctx.moveTo(0, y0); ctx.lineTo(w, y0); ctx.stroke(); }
      ctx.fillStyle = "#333"; ctx.fillText(g[0], 2, Math.min(h - 2, (y0 + y1) / 2 + 4));
    });
  }
  function show() {
    var st = data.stimuli[+select.value], frame = st.frames[+slider.value], key = String(frame);
    q(".ne-frame").src = st.images[key];
    q(".ne-position").textContent = "frame " + frame + " (" + (+slider.value + 1) + " of " + st.frames.length + " held out)";
    q(".ne-caption").textContent = st.label + ", frame " + frame;
    q(".ne-reference").textContent = st.reference[key];
    q(".ne-content-line").style.display = st.content ? "" : "none";
    if (st.content) q(".ne-content").textContent = st.content[key] || "–";
    var body = q(".ne-rows"); body.textContent = "";
    var rows = st.rows[key];
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      [data.decoders[row[0]], st.sentences[row[1]], row[2].toFixed(2)].forEach(function (text, c) {
        var td = document.createElement("td"); td.textContent = text;
        td.style.padding = "3px 6px"; td.style.borderTop = "1px solid #ddd"; td.style.verticalAlign = "top";
        if (c === 1) td.style.fontStyle = "italic";
        if (c === 2) td.style.textAlign = "right";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var others = data.decoders.length - rows.length;
    q(".ne-others").textContent = others > 0 ? others + " other decoder(s) trained on this frame or never saw this movie: not shown" : "";
    q(".ne-raster-caption").textContent = st.raster ? st.raster_label + " \u00b1" + data.window_frames + " frames around the frame (shaded), first repeat" : "";
    root.dataset.frame = key;
    drawRaster(st, frame);
  }
  function pick() { slider.max = data.stimuli[+select.value].frames.length - 1; slider.value = 0; show(); }
  select.addEventListener("change", pick);
  slider.addEventListener("input", show);
  q(".ne-prev").addEventListener("click", function () { slider.value = Math.max(0, +slider.value - 1); show(); });
  q(".ne-next").addEventListener("click", function () { slider.value = Math.min(+slider.max, +slider.value + 1); show(); });
  window.addEventListener("resize", show);
  pick();
})();"""
