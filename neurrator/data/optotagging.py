"""Optotagging as in the AllenSDK tutorial: which units answer blue light at short latency.

Pulse trials with 0.009 < duration < 0.02 s; spikes counted in 0.5 ms bins from -10 to +25 ms of
light onset; baseline window [-10, -2] ms, evoked window [1, 9] ms (spikes exactly at light onset or
offset, recording artifacts, fall outside both); a unit is tagged when
``evoked_rate / (baseline_rate + 1) > 2`` (rates in Hz, averaged over trials). Cortical units only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator.artifacts import check_artifact, write_artifact
from neurrator.data.recording import Recording

MADE_BY = "01_preprocess"

PULSE_DURATION = (0.009, 0.02)
BASELINE_S = (-0.010, -0.002)
EVOKED_S = (0.001, 0.009)
RATIO_THRESHOLD = 2.0
CORTICAL_PREFIX = "VIS"


def light_pulse_onsets(epochs: pd.DataFrame) -> np.ndarray:
    pulses = epochs[(epochs["duration"] > PULSE_DURATION[0]) & (epochs["duration"] < PULSE_DURATION[1])]
    return np.sort(pulses["start_time"].to_numpy(dtype=float))


def _rate(spikes: np.ndarray, onsets: np.ndarray, window: tuple[float, float]) -> float:
    """Mean rate (Hz) over trials in ``[onset + window[0], onset + window[1])``."""
    lo = np.searchsorted(spikes, onsets + window[0], side="left")
    hi = np.searchsorted(spikes, onsets + window[1], side="left")
    return float((hi - lo).mean() / (window[1] - window[0]))


def tag_units(recording: Recording, unit_ids=None) -> pd.DataFrame:
    """Per cortical unit: baseline and evoked rate, their ratio, and ``tagged`` (ratio > 2)."""
    onsets = light_pulse_onsets(recording.optogenetic_epochs)
    units = recording.units if unit_ids is None else recording.units.loc[unit_ids]
    cortical = units[units["region"].astype(str).str.startswith(CORTICAL_PREFIX)]
    rows = []
    for unit in cortical.index:
        spikes = recording.spike_times[unit]
        baseline = _rate(spikes, onsets, BASELINE_S) if len(onsets) else np.nan
        evoked = _rate(spikes, onsets, EVOKED_S) if len(onsets) else np.nan
        rows.append({"unit_id": unit, "region": cortical.at[unit, "region"], "baseline_hz": baseline,
                     "evoked_hz": evoked, "ratio": evoked / (baseline + 1)})
    table = pd.DataFrame(rows, columns=["unit_id", "region", "baseline_hz", "evoked_hz", "ratio"]).set_index("unit_id")
    table["tagged"] = table["ratio"] > RATIO_THRESHOLD
    table.attrs["n_pulses"] = len(onsets)
    return table


def tagging_accuracy(tags: pd.DataFrame, truth_tagged: pd.Series) -> dict:
    """Precision and recall of ``tags['tagged']`` against planted truth (a bool Series by unit id)."""
    truth = truth_tagged.reindex(tags.index).fillna(False).astype(bool)
    hits = int((tags["tagged"] & truth).sum())
    called, planted = int(tags["tagged"].sum()), int(truth.sum())
    return {"called": called, "planted": planted, "hits": hits,
            "precision": hits / called if called else float("nan"), "recall": hits / planted if planted else float("nan")}


def light_raster(recording: Recording, unit_id: int, window: tuple[float, float] = (-0.010, 0.025)) -> tuple[np.ndarray, np.ndarray]:
    """(trial index, time from onset in s) of every spike around light pulses, for raster plots."""
    onsets = light_pulse_onsets(recording.optogenetic_epochs)
    spikes = recording.spike_times[unit_id]
    trials, times = [], []
    for k, onset in enumerate(onsets):
        lo, hi = np.searchsorted(spikes, [onset + window[0], onset + window[1]])
        trials.append(np.full(hi - lo, k))
        times.append(spikes[lo:hi] - onset)
    return (np.concatenate(trials), np.concatenate(times)) if trials else (np.zeros(0, int), np.zeros(0))


def save_tags(tags: pd.DataFrame, path: str | os.PathLike, **params) -> Path:
    """The optotagging table (one row per cortical unit) as CSV, atomically with its sidecar."""
    return write_artifact(path, lambda tmp: tags.to_csv(tmp), made_by=MADE_BY, params=params)


def read_tags(path: str | os.PathLike, **params) -> pd.DataFrame:
    """The table :func:`save_tags` wrote (a missing or stale file names notebook 01_preprocess)."""
    check_artifact(path, made_by=MADE_BY, params=params or None)
    return pd.read_csv(path, index_col=0)
