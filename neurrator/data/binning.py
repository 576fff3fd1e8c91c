"""Spike counts in short bins on a stimulus's own presentation timeline.

Each presentation ``[start, stop)`` of a stimulus is cut into ``round((stop - start) * bin_hz)`` equal
bins that start at its own start time, so at 120 Hz a 30 Hz movie frame gets 4 bins and a 250 ms
natural scene 30; bins never straddle two presentations and do not drift. Bins are half-open
``[a, b)``: a spike exactly on an inner edge counts once, in the later bin (allensdk's
``presentationwise_spike_counts`` counts it in both). Natural-scenes blanks are kept (frame -1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.artifacts import ArtifactError, check_artifact, write_artifact
from neurrator.data.recording import Recording

BIN_HZ = 120
MADE_BY = "01_preprocess"
#: presentations overlapping by less than this are treated as touching (float rounding of the tables)
TOUCH_TOLERANCE_S = 1e-6
_ARRAYS = ("unit_ids", "counts", "bin_start", "frame", "repeat", "block", "presentation", "bin_in_presentation")


@dataclass(eq=False)
class BinnedStimulus:
    """Counts (n_bins x n_units) of one stimulus, with per-bin labels of the presentation each bin belongs to.

    ``counts`` is uint8, or uint16 when some count exceeds 255: never clipped.
    ``presentation`` is the positional row of ``Recording.presentations``; ``frame`` is -1 for blanks.
    """

    stimulus: str
    unit_ids: np.ndarray            # int64 (n_units,)
    counts: np.ndarray              # uint8/uint16 (n_bins, n_units)
    bin_start: np.ndarray           # float64 seconds
    frame: np.ndarray               # int32
    repeat: np.ndarray              # int32
    block: np.ndarray               # int16
    presentation: np.ndarray        # int32
    bin_in_presentation: np.ndarray  # int16 (int32 past 32767 bins)
    bin_hz: float = BIN_HZ

    @property
    def n_bins(self) -> int:
        return self.counts.shape[0]

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in _ARRAYS)

    def select_units(self, positions: Sequence[int] | np.ndarray) -> "BinnedStimulus":
        """The same bins with only the units at ``positions`` (column indices), in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self.unit_ids)):
            raise IndexError(f"unit positions must lie in [0, {len(self.unit_ids)}), got {positions.min()}..{positions.max()}")
        return BinnedStimulus(self.stimulus, self.unit_ids[positions], np.ascontiguousarray(self.counts[:, positions]),
                              self.bin_start, self.frame, self.repeat, self.block, self.presentation,
                              self.bin_in_presentation, self.bin_hz)

    def save(self, path: str | os.PathLike, *, params: Mapping[str, Any] | None = None,
             inputs: Mapping[str, str | os.PathLike] | None = None) -> Path:
        """Write one uncompressed .npz atomically with its sidecar (params: :func:`binning_params`)."""
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:  # a handle: np.savez would append .npz to the temporary name
                np.savez(handle, stimulus=np.array(self.stimulus), bin_hz=np.array(self.bin_hz, np.float64),
                         **{name: getattr(self, name) for name in _ARRAYS})

        return write_artifact(path, write, made_by=MADE_BY, inputs=inputs,
                              params=binning_params(self.stimulus, self.bin_hz, **dict(params or {})))

    @classmethod
    def load(cls, path: str | os.PathLike, *, params: Mapping[str, Any] | None = None,
             inputs: Mapping[str, str | os.PathLike] | None = None) -> "BinnedStimulus":
        """Read a saved binning; the sidecar must exist and match ``params`` (:func:`binning_params`) and ``inputs``."""
        check_artifact(path, made_by=MADE_BY, params=params, inputs=inputs)
        with np.load(path, allow_pickle=False) as data:
            return cls(stimulus=str(data["stimulus"]), bin_hz=float(data["bin_hz"]),
                       **{name: data[name] for name in _ARRAYS})

    @classmethod
    def of_session(cls, layout, session_id: int, stimulus: str, **check: Any) -> "BinnedStimulus":
        """One session's binned ``stimulus`` (``layout.binned``); a session 01_preprocess never processed (an id
        given by hand) is named with the sessions that were."""
        path = layout.binned(session_id, stimulus)
        if not path.exists():
            have = layout.processed_sessions(stimulus)
            raise ArtifactError(f"missing artifact {path}: session {session_id} has no binned {stimulus}; the "
                                f"processed sessions are {', '.join(map(str, have)) or 'none'} (run notebook "
                                f"{MADE_BY} with this session among `sessions` to add it)")
        return cls.load(path, **check)


def binning_params(stimulus: str, bin_hz: float = BIN_HZ, **extra: Any) -> dict:
    """The parameters a saved binning records in its sidecar (``extra``: e.g. the session id)."""
    return {"stimulus": stimulus, "bin_hz": float(bin_hz), **extra}


def bin_spikes(recording: Recording, stimulus: str, unit_ids: Sequence[int] | None = None,
               bin_hz: float = BIN_HZ) -> BinnedStimulus:
    """Spike counts of ``unit_ids`` (default: every unit) in bins on the presentations of ``stimulus``.

    Raises the ``KeyError`` of ``recording.stimulus`` for an unknown stimulus, a ``KeyError`` naming
    unknown units, and ``ValueError`` for overlapping presentations or unsorted spike times.
    """
    recording.stimulus(stimulus)  # its KeyError names the stimuli the session has
    unit_ids = np.asarray(recording.units.index if unit_ids is None else unit_ids, dtype=np.int64)
    missing = [int(u) for u in unit_ids if int(u) not in recording.spike_times]
    if missing:
        raise KeyError(f"session {recording.session_id} has no unit(s) {missing[:20]}"
                       f"{' ...' if len(missing) > 20 else ''}")

    table = recording.presentations
    rows = np.flatnonzero(table["stimulus_name"].to_numpy() == stimulus)
    start = table["start_time"].to_numpy(np.float64)[rows]
    stop = table["stop_time"].to_numpy(np.float64)[rows]
    order = np.argsort(start, kind="stable")
    rows, start, stop = rows[order], start[order], stop[order]
    if (stop < start).any():
        raise ValueError(f"{(stop < start).sum()} {stimulus} presentations stop before they start")
    overlap = np.flatnonzero(start[1:] < stop[:-1] - TOUCH_TOLERANCE_S)
    if len(overlap):
        i = overlap[0]
        raise ValueError(f"{stimulus} presentations overlap in time ({len(overlap)} pair(s)), first rows {rows[i]} "
                         f"[{start[i]}, {stop[i]}) and {rows[i + 1]} [{start[i + 1]}, {stop[i + 1]})")
    n_per = np.round((stop - start) * bin_hz).astype(np.int64)
    keep = n_per > 0
    rows, start, stop, n_per = rows[keep], start[keep], stop[keep], n_per[keep]
    if not len(rows):
        raise ValueError(f"{stimulus} presentations are all shorter than half a bin at {bin_hz} Hz")

    edges, bin_of_interval, bin_edge = _timeline(start, stop, n_per)
    counts = _count(recording.spike_times, unit_ids, edges, bin_of_interval, int(n_per.sum()),
                    narrowest_bin_s=float(((stop - start) / n_per).min()))

    pres = np.repeat(np.arange(len(rows)), n_per)
    labels = {name: _integer_column(table, name, rows)[pres] for name in ("frame", "repeat", "stimulus_block")}
    return BinnedStimulus(
        stimulus=stimulus, unit_ids=unit_ids, counts=counts, bin_start=edges[bin_edge],
        frame=labels["frame"].astype(np.int32), repeat=labels["repeat"].astype(np.int32),
        block=labels["stimulus_block"].astype(np.int16), presentation=rows[pres].astype(np.int32),
        bin_in_presentation=(np.arange(len(pres)) - np.repeat(np.cumsum(n_per) - n_per, n_per)).astype(
            np.int16 if n_per.max() <= np.iinfo(np.int16).max else np.int32),
        bin_hz=float(bin_hz))


def _integer_column(table, name: str, rows: np.ndarray) -> np.ndarray:
    """An integer label column at ``rows`` (missing values, e.g. no frame, become -1)."""
    values = table[name].to_numpy()[rows]
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return pd.to_numeric(pd.Series(values), errors="coerce").fillna(-1).to_numpy().astype(np.int64)


def _timeline(start: np.ndarray, stop: np.ndarray, n_per: np.ndarray):
    """Sorted edges of every presentation (n + 1 each), the bin of each interval between consecutive
    edges (-1 between presentations) and the edge index where each bin starts."""
    n_edges = n_per + 1
    owner = np.repeat(np.arange(len(start)), n_edges)
    k = np.arange(n_edges.sum()) - np.repeat(np.cumsum(n_edges) - n_edges, n_edges)
    edges = start[owner] + k * ((stop - start) / n_per)[owner]
    last = np.cumsum(n_edges) - 1
    edges[last] = np.minimum(stop, np.r_[start[1:], np.inf])  # a touching neighbour may start an ulp early
    bin_of_interval = np.full(len(edges), -1, np.int64)
    bin_edge = np.flatnonzero(k < n_per[owner])
    bin_of_interval[bin_edge] = np.arange(len(bin_edge))
    return edges, bin_of_interval, bin_edge


def _count(spike_times: Mapping[int, np.ndarray], unit_ids: np.ndarray, edges: np.ndarray,
           bin_of_interval: np.ndarray, n_bins: int, narrowest_bin_s: float, group: int = 64) -> np.ndarray:
    """(n_bins, n_units) counts; memory ~ the counts array (spike trains are only read, through views).

    Units go in groups of ``group`` columns: each unit's runs of equal bins are written into a small
    (n_bins, group) slab that stays in cache, and the slab is copied into the counts once.
    """
    locate = _EdgeLocator(edges, bin_of_interval, narrowest_bin_s)
    counts = np.empty((n_bins, len(unit_ids)), np.uint8)  # every column is written from a slab
    slab = np.zeros((n_bins, min(group, len(unit_ids))), np.uint8)
    for first in range(0, len(unit_ids), group):
        members = unit_ids[first:first + group]
        for column, unit in enumerate(members):
            bins = locate.bins(spike_times[int(unit)])
            if not len(bins):
                continue
            steps = np.diff(bins)
            if (steps < 0).any():
                raise ValueError(f"spike times of unit {int(unit)} are not sorted")
            run_start = np.flatnonzero(np.concatenate([[1], steps]))
            run_length = np.diff(np.append(run_start, len(bins)))
            top = run_length.max()
            if top > np.iinfo(counts.dtype).max:
                if top > np.iinfo(np.uint16).max:
                    raise ValueError(f"unit {int(unit)} has {top} spikes in one bin: not a spike train")
                counts, slab = counts.astype(np.uint16), slab.astype(np.uint16)
            slab[bins[run_start], column] = run_length
        counts[:, first:first + len(members)] = slab[:, :len(members)]
        slab[:] = 0
    return counts


class _EdgeLocator:
    """The bin of each spike, exactly where ``searchsorted(edges, t, side="right")`` puts it, by lookup.

    Times map to a uniform grid (cells a quarter of the narrowest bin, or finer) by one monotone float
    expression, the same for spikes and edges; so every edge of an earlier cell lies before a spike and
    every edge of a later cell after it. A spike starts from the number of edges before its cell and
    steps over the few edges of its own cell that are not after it.
    """

    MAX_CELLS = 1 << 23  # 32 MB of int32: the grid coarsens (stays exact, only slower) past this

    def __init__(self, edges: np.ndarray, bin_of_interval: np.ndarray, narrowest_bin_s: float):
        self.first, self.last = edges[0], edges[-1]  # last > first: every presentation has a bin
        span = self.last - self.first
        n_cells = int(min(max(8 * len(edges), span / (narrowest_bin_s / 4)), self.MAX_CELLS))
        self.per_second = n_cells / span
        edges_in_cell = np.bincount(self._cells(edges), minlength=n_cells + 2)
        self.edges_before_cell = (np.cumsum(edges_in_cell) - edges_in_cell).astype(np.int32)
        self.edge_after = np.append(edges, np.inf)                 # edge_after[k]: the first edge not among k
        self.bin_after = np.concatenate([[-1], bin_of_interval])  # bin of the interval after k edges

    def _cells(self, times: np.ndarray) -> np.ndarray:
        cell = times - self.first
        cell *= self.per_second
        return cell.astype(np.intp)

    def bins(self, times: np.ndarray) -> np.ndarray:
        """Sorted bins of the spikes of one sorted train (spikes outside every presentation dropped)."""
        lo, hi = np.searchsorted(times, (self.first, self.last))
        inside = times[lo:hi]  # a view, never a copy of the train
        n_before = self.edges_before_cell[self._cells(inside)]  # becomes: how many edges are <= t
        step = np.flatnonzero(self.edge_after[n_before] <= inside)
        while len(step):
            n_before[step] += 1
            step = step[self.edge_after[n_before[step]] <= inside[step]]
        bins = self.bin_after[n_before]
        return bins[bins >= 0]


def frame_rates(binned: BinnedStimulus, repeats: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Mean count per bin of every unit for every frame id, over the given repeats (all when None).

    ``(n_frames, n_units)`` float64; a frame with no bin in those repeats is NaN. This is the
    trial-averaged response used by linear read-outs (no windows, no temporal context)."""
    keep = binned.frame >= 0
    if repeats is not None:
        keep &= np.isin(binned.repeat, np.asarray(repeats))
    n_frames = int(binned.frame.max()) + 1
    sums = np.zeros((n_frames, binned.counts.shape[1]))
    np.add.at(sums, binned.frame[keep], binned.counts[keep].astype(np.float64))
    n = np.bincount(binned.frame[keep], minlength=n_frames).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / n[:, None]
