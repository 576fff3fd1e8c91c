"""Optotagging: which units answer blue light at short latency.

Two rules, on the same 10 ms pulse trials (0.009 < duration < 0.02 s) and windows: baseline
[-10, -2] ms, evoked [1, 9] ms from light onset (spikes exactly at light onset or offset, recording
artifacts, fall outside both). Cortical units only.

- :func:`tag_units`, the AllenSDK tutorial's single ratio: tagged when
  ``evoked_rate / (baseline_rate + 1) > 2`` (rates in Hz, averaged over trials).
- :class:`TaggingCriteria`, the three criteria of Siegle et al. (2021, Nature 592:86): the unit
  responds **reliably** (a spike in the evoked window on a minimum fraction of pulses), **fast**
  (median first-spike latency below a bound) and **strongly** (evoked rate at least a multiple of
  baseline). :func:`light_response_metrics` measures all three for every unit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

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


#: first spikes are looked for in [1, 25) ms after onset (beyond the evoked window, so a late response shows)
LATENCY_S = (0.001, 0.025)


@dataclass(frozen=True)
class TaggingCriteria:
    """The three-criterion rule: reliability, latency and rate multiple, each a threshold (a unit must pass all).

    ``min_reliability``: fraction of pulses with at least one spike in the evoked window;
    ``max_latency_ms``: median over responding pulses of the first spike's time after onset (in
    :data:`LATENCY_S`); ``min_rate_multiple``: evoked rate over baseline rate (no +1: a silent
    baseline counts as one spike over all baseline windows, so the multiple stays finite).
    """

    min_reliability: float = 0.25
    max_latency_ms: float = 6.0
    min_rate_multiple: float = 2.0

    def __post_init__(self):
        if not 0 <= self.min_reliability <= 1:
            raise ValueError(f"min_reliability is a fraction of pulses in [0, 1], got {self.min_reliability}")
        if self.max_latency_ms <= 0 or self.min_rate_multiple <= 0:
            raise ValueError("max_latency_ms and min_rate_multiple must be positive, "
                             f"got {self.max_latency_ms} and {self.min_rate_multiple}")

    def passes(self, metrics: pd.DataFrame) -> pd.DataFrame:
        """One bool column per criterion and ``tagged`` (all three), for :func:`light_response_metrics`' table."""
        checks = pd.DataFrame({
            "reliable": metrics["reliability"] >= self.min_reliability,
            "fast": metrics["latency_ms"] <= self.max_latency_ms,          # NaN (never responds) fails
            "strong": metrics["rate_multiple"] >= self.min_rate_multiple}, index=metrics.index)
        checks["tagged"] = checks.all(axis=1)
        return checks

    def describe(self) -> str:
        return (f"a spike on at least {self.min_reliability:.0%} of pulses, median first-spike latency at most "
                f"{self.max_latency_ms:g} ms, evoked rate at least {self.min_rate_multiple:g} × baseline")


def light_pulse_onsets(epochs: pd.DataFrame) -> np.ndarray:
    pulses = epochs[(epochs["duration"] > PULSE_DURATION[0]) & (epochs["duration"] < PULSE_DURATION[1])]
    return np.sort(pulses["start_time"].to_numpy(dtype=float))


def _counts(spikes: np.ndarray, onsets: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Per trial, the spikes in ``[onset + window[0], onset + window[1])``."""
    lo = np.searchsorted(spikes, onsets + window[0], side="left")
    hi = np.searchsorted(spikes, onsets + window[1], side="left")
    return hi - lo


def _rate(counts: np.ndarray, window: tuple[float, float]) -> float:
    """Mean rate (Hz) over trials of per-trial ``counts`` in ``window``."""
    return float(counts.mean() / (window[1] - window[0]))


def _first_spike_latency(spikes: np.ndarray, onsets: np.ndarray, window: tuple[float, float] = LATENCY_S) -> np.ndarray:
    """Per pulse, seconds from onset to the first spike in ``window`` (NaN without one)."""
    first = np.append(spikes, np.inf)[np.searchsorted(spikes, onsets + window[0], side="left")] - onsets
    return np.where(first < window[1], first, np.nan)


def light_response_metrics(recording: Recording, unit_ids=None) -> pd.DataFrame:
    """Per cortical unit: ``baseline_hz``, ``evoked_hz``, the tutorial's ``ratio`` and the three criteria's
    measures, ``reliability``, ``latency_ms`` (NaN if the unit never fires in :data:`LATENCY_S`) and
    ``rate_multiple``. ``attrs['n_pulses']``: the pulses used."""
    onsets = light_pulse_onsets(recording.optogenetic_epochs)
    units = recording.units if unit_ids is None else recording.units.loc[unit_ids]
    cortical = units[units["region"].astype(str).str.startswith(CORTICAL_PREFIX)]
    baseline_floor = 1.0 / (len(onsets) * (BASELINE_S[1] - BASELINE_S[0])) if len(onsets) else np.nan
    rows = []
    for unit in cortical.index:
        spikes = recording.spike_times[unit]
        if len(onsets):
            evoked_counts = _counts(spikes, onsets, EVOKED_S)
            baseline, evoked = _rate(_counts(spikes, onsets, BASELINE_S), BASELINE_S), _rate(evoked_counts, EVOKED_S)
            reliability = float((evoked_counts > 0).mean())
            latency = _first_spike_latency(spikes, onsets)
            latency_ms = float(np.nanmedian(latency) * 1000) if np.isfinite(latency).any() else np.nan
        else:
            baseline = evoked = reliability = latency_ms = np.nan
        rows.append({"unit_id": unit, "region": cortical.at[unit, "region"], "baseline_hz": baseline, "evoked_hz": evoked,
                     "ratio": evoked / (baseline + 1), "reliability": reliability, "latency_ms": latency_ms,
                     "rate_multiple": evoked / max(baseline, baseline_floor) if len(onsets) else np.nan})
    columns = ["unit_id", "region", "baseline_hz", "evoked_hz", "ratio", "reliability", "latency_ms", "rate_multiple"]
    table = pd.DataFrame(rows, columns=columns).set_index("unit_id")
    table.attrs["n_pulses"] = len(onsets)
    return table


def passes_tutorial_ratio(metrics: pd.DataFrame) -> pd.Series:
    """The tutorial's rule on :func:`light_response_metrics`' table: ``evoked / (baseline + 1) > 2``."""
    return metrics["ratio"] > RATIO_THRESHOLD


def tag_units(recording: Recording, unit_ids=None) -> pd.DataFrame:
    """Per cortical unit: baseline and evoked rate, their ratio, and ``tagged`` by the tutorial's rule (ratio > 2)."""
    metrics = light_response_metrics(recording, unit_ids)
    table = metrics[["region", "baseline_hz", "evoked_hz", "ratio"]].copy()
    table["tagged"] = passes_tutorial_ratio(metrics)
    table.attrs["n_pulses"] = metrics.attrs["n_pulses"]
    return table


def tagging_accuracy(tags: pd.DataFrame, truth_tagged: pd.Series) -> dict:
    """Precision and recall of ``tags['tagged']`` against planted truth (a bool Series by unit id)."""
    truth = truth_tagged.reindex(tags.index).fillna(False).astype(bool)
    hits = int((tags["tagged"] & truth).sum())
    called, planted = int(tags["tagged"].sum()), int(truth.sum())
    return {"called": called, "planted": planted, "hits": hits,
            "precision": hits / called if called else float("nan"), "recall": hits / planted if planted else float("nan")}


#: the two rules compared in chapter 06, each by the column of :func:`light_table` holding its verdict
RULES = ("tutorial ratio", "three criteria")


def light_table(recordings: Mapping[int, Recording], units: pd.DataFrame, genotypes: Mapping[int, str],
                rule: TaggingCriteria, chr2: pd.Series | None = None) -> pd.DataFrame:
    """:func:`light_response_metrics` of the cortical units in ``units`` (``session_id``, ``unit_id``) of every
    session in ``recordings``, with ``session_id``, ``genotype`` and one bool column per rule of :data:`RULES`
    (the three criteria with the thresholds of ``rule``); ``chr2`` (bool by unit id, e.g. the demo world's
    planted truth) adds a ``ChR2`` column, absent ids False."""
    light = pd.concat([light_response_metrics(rec, units.loc[units["session_id"] == s, "unit_id"].to_numpy())
                       .assign(session_id=s, genotype=genotypes[s]) for s, rec in recordings.items()])
    light["tutorial ratio"] = passes_tutorial_ratio(light)
    light["three criteria"] = rule.passes(light)["tagged"]
    if chr2 is not None:
        light["ChR2"] = chr2.reindex(light.index, fill_value=False).astype(bool).to_numpy()
    return light


def rule_table(light: pd.DataFrame, rules: Sequence[str] = RULES) -> pd.DataFrame:
    """Per rule and genotype: cortical units and tagged units; with a ``ChR2`` column in ``light`` also the
    planted ChR2 cells, the hits and the precision and recall (2 decimals; nan where undefined)."""
    rows = []
    for name in rules:
        for genotype, group in light.groupby("genotype"):
            row = {"rule": name, "genotype": genotype, "cortical units": len(group), "tagged": int(group[name].sum())}
            if "ChR2" in group:
                scores = tagging_accuracy(group.assign(tagged=group[name]), group["ChR2"])
                row.update({"ChR2 cells": scores["planted"], "hits": scores["hits"],
                            "precision": round(scores["precision"], 2) if scores["called"] else np.nan,
                            "recall": round(scores["recall"], 2) if scores["planted"] else np.nan})
            rows.append(row)
    return pd.DataFrame(rows).set_index(["rule", "genotype"])


def rule_f1(table: pd.DataFrame, name: str) -> float:
    """The mean F1 over the Cre lines (wild type left out) of rule ``name`` in a :func:`rule_table`; nan without one."""
    cre = table.loc[name].drop(index="wt", errors="ignore")
    p, r = cre["precision"].fillna(0), cre["recall"].fillna(0)
    return float((2 * p * r / (p + r).where(p + r > 0, 1)).mean()) if len(cre) else float("nan")


def choose_rule(table: pd.DataFrame, choice: str = "auto", rules: Sequence[str] = RULES) -> tuple[str, str]:
    """The rule to use and why. ``"auto"``: the higher mean F1 against planted ChR2 cells (a tie goes to the
    three criteria), or the three criteria where ``table`` has no truth to score; otherwise ``choice`` itself."""
    if choice != "auto":
        if choice not in rules:
            raise ValueError(f"tagging_rule must be 'auto' or one of {list(rules)}, got {choice!r}")
        return choice, "it was chosen by the tagging_rule parameter"
    if "precision" not in table:
        return "three criteria", "without a planted truth the published criteria are the default"
    chosen = max(rules, key=lambda name: (rule_f1(table, name), name == "three criteria"))
    return chosen, (f"it has the higher mean F1 over the Cre lines against the planted ChR2 cells "
                    f"({', '.join(f'{n} {rule_f1(table, n):.2f}' for n in rules)})")


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
