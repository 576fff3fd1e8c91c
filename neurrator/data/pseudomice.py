"""Pseudo-mice: frame-aligned concatenation of (tagged) units recorded in different sessions.

Bins are matched by ``(repeat, frame, bin_in_presentation)``: the same bin of the same frame in the
same repeat (for natural scenes, the k-th showing of an image). Sessions must show the same frame
sequence in every repeat (movies) or the same image set (scenes); otherwise it is an error. The
residual timing misalignment between sessions is measured from the bins' start times and reported:
since the onset of the repeat (movies) or of the presentation (scenes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurrator.data.binning import BinnedStimulus

KEY_FIELDS = ("repeat", "frame", "bin_in_presentation")


@dataclass
class PseudoMouse:
    """Counts of units from several sessions on one common, frame-aligned bin axis."""

    stimulus: str
    counts: np.ndarray           # (bins, units) uint8/uint16
    frame: np.ndarray
    repeat: np.ndarray
    bin_in_presentation: np.ndarray
    bin_start: np.ndarray        # of the first session
    units: pd.DataFrame          # session_id, unit_id, column
    misalignment_ms: float       # max timing difference of aligned bins (relative to their repeat's / scene's onset)
    presentation: np.ndarray     # of the first session
    block: np.ndarray            # of the first session

    def as_binned(self) -> BinnedStimulus:
        """The pseudo-mouse as one binned "session" whose unit ids are its columns, for the same windows,
        splits and trainer as a real session (``units`` maps a column back to its session and unit)."""
        return BinnedStimulus(stimulus=self.stimulus, unit_ids=self.units["column"].to_numpy(np.int64), counts=self.counts,
                              bin_start=self.bin_start, frame=self.frame.astype(np.int32), repeat=self.repeat.astype(np.int32),
                              block=self.block, presentation=self.presentation,
                              bin_in_presentation=self.bin_in_presentation)


def _keys(binned) -> np.ndarray:
    return np.rec.fromarrays([np.asarray(getattr(binned, f), dtype=np.int64) for f in KEY_FIELDS], names=KEY_FIELDS)


def _frame_sequences(binned) -> dict[int, tuple]:
    """repeat -> the sequence of frames shown in it (movies) or the set of images (scenes)."""
    first = np.asarray(binned.bin_in_presentation) == 0
    frames, repeats = np.asarray(binned.frame)[first], np.asarray(binned.repeat)[first]
    if binned.stimulus == "natural_scenes":
        return {0: tuple(sorted(set(frames.tolist())))}
    return {int(r): tuple(frames[repeats == r].tolist()) for r in np.unique(repeats)}


def check_frame_sequences(binned: list, session_ids: list[int]) -> None:
    reference = _frame_sequences(binned[0])
    for other, session_id in zip(binned[1:], session_ids[1:]):
        sequences = _frame_sequences(other)
        common = set(reference) & set(sequences)
        differing = sorted(r for r in common if reference[r] != sequences[r])
        if differing or not common:
            raise ValueError(
                f"session {session_id} shows a different {binned[0].stimulus} frame sequence than session "
                f"{session_ids[0]} (repeat(s) {differing or 'none in common'}); pseudo-mice need identical stimuli")


def build_pseudo_mouse(binned: list, unit_ids: list, session_ids: list[int]) -> PseudoMouse:
    """Concatenate ``unit_ids[i]`` of ``binned[i]`` (one BinnedStimulus per session) on common aligned bins."""
    if not (len(binned) == len(unit_ids) == len(session_ids)) or not binned:
        raise ValueError("give one BinnedStimulus, one unit-id list and one session id per session")
    stimulus = binned[0].stimulus
    if any(b.stimulus != stimulus for b in binned):
        raise ValueError(f"all sessions must be binned on the same stimulus, got {[b.stimulus for b in binned]}")
    check_frame_sequences(binned, session_ids)
    shown = [np.asarray(b.frame) >= 0 for b in binned]
    keys = [_keys(b)[m] for b, m in zip(binned, shown)]
    common = keys[0]
    for k in keys[1:]:
        common = common[np.isin(common, k)]
    rows = []
    for b, k, m in zip(binned, keys, shown):
        order = np.argsort(k, kind="stable")
        rows.append(np.flatnonzero(m)[order[np.searchsorted(k[order], common)]])
    columns, tables = [], []
    for b, ids, session_id, r in zip(binned, unit_ids, session_ids, rows):
        position = pd.Index(b.unit_ids).get_indexer(ids)
        if (position < 0).any():
            raise KeyError(f"session {session_id} has no binned unit(s) {np.asarray(ids)[position < 0].tolist()}")
        columns.append(b.counts[np.ix_(r, position)])
        tables.append(pd.DataFrame({"session_id": session_id, "unit_id": np.asarray(ids, dtype=np.int64)}))
    counts = np.concatenate(columns, axis=1)
    units = pd.concat(tables, ignore_index=True)
    units["column"] = np.arange(len(units))
    first, r = binned[0], rows[0]
    return PseudoMouse(stimulus, counts, np.asarray(first.frame)[r], np.asarray(first.repeat)[r],
                       np.asarray(first.bin_in_presentation)[r], np.asarray(first.bin_start)[r], units,
                       _misalignment_ms(binned, rows), np.asarray(first.presentation)[r], np.asarray(first.block)[r])


def pan_session_mouse(layout, stimulus: str, session_ids: list[int] | None = None) -> PseudoMouse:
    """Every binned unit of ``session_ids`` (default: every processed session) on one frame-aligned axis,
    with each unit's ``region`` in ``units``: one population of the size of all sessions together."""
    from neurrator.data import allen

    if session_ids is None:
        session_ids = layout.recorded_sessions()
    if not session_ids:
        raise FileNotFoundError(f"no processed sessions in {layout.show(layout.recordings)}: run notebook 01_preprocess first")
    binned = [BinnedStimulus.of_session(layout, s, stimulus) for s in session_ids]
    mouse = build_pseudo_mouse(binned, [b.unit_ids for b in binned], list(session_ids))
    regions = pd.concat([allen.read_recording(layout.recording(s)).units["region"].rename_axis("unit_id").reset_index()
                         .assign(session_id=s) for s in session_ids])
    mouse.units = mouse.units.merge(regions, on=["session_id", "unit_id"], how="left", validate="one_to_one")
    return mouse


def _misalignment_ms(binned: list, rows: list[np.ndarray]) -> float:
    """Largest difference between sessions of an aligned bin's start time since the onset of its repeat
    (movies) or of its own presentation (natural scenes, shown in random order)."""
    relative = []
    for b, r in zip(binned, rows):
        group = b.presentation if b.stimulus == "natural_scenes" else b.repeat
        start, group = np.asarray(b.bin_start)[r], np.asarray(group)[r]
        onset = pd.Series(start).groupby(group).transform("min").to_numpy()
        relative.append(start - onset)
    spread = np.max(relative, axis=0) - np.min(relative, axis=0) if len(relative) > 1 else np.zeros(1)
    return float(spread.max() * 1000) if len(spread) else 0.0
