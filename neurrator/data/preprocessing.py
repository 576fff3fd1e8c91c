"""Chapter 01's steps over many sessions: bin every stimulus, tag every cortical unit, and the tables that
summarise both (one row per stimulus, regime or genotype)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.data import allen, optotagging
from neurrator.data.binning import BinnedStimulus, bin_spikes
from neurrator.data.recording import Recording
from neurrator.data.splits import TEST, TRAIN, VAL, BinSplit

MADE_BY = "01_preprocess"


def bin_sessions(layout, recordings: Mapping[int, Recording], stimuli: Sequence[str]) -> dict[tuple[int, str], BinnedStimulus]:
    """Every ``(session, stimulus)`` binned with all the session's units and saved beside its recording."""
    binned = {}
    for sid, recording in recordings.items():
        keep = allen.select_units(recording.units, "all")
        for stimulus in stimuli:
            binned[sid, stimulus] = b = bin_spikes(recording, stimulus, keep)
            b.save(layout.binned(sid, stimulus), params={"session_id": int(sid)}, inputs={"recording": layout.recording(sid)})
    return binned


def binned_summary(binned: Mapping[str, BinnedStimulus]) -> pd.DataFrame:
    """One row per stimulus: bins, units, repeats, count dtype and size in MB."""
    return pd.DataFrame([{"stimulus": s, "bins": b.counts.shape[0], "units": b.counts.shape[1],
                          "repeats": int(b.repeat.max()) + 1, "dtype": str(b.counts.dtype),
                          "MB": round(b.counts.nbytes / 2**20, 1)} for s, b in binned.items()])


def window_counts(regime_splits: Mapping[str, BinSplit]) -> pd.DataFrame:
    """One row per regime: training, validation and test windows and held-out frames."""
    return pd.DataFrame([{"regime": r, "train windows": len(s.centres[TRAIN]), "validation windows": len(s.centres[VAL]),
                          "test windows": len(s.centres[TEST]), "held-out frames": int(s.held_out.sum())}
                         for r, s in regime_splits.items()]).set_index("regime")


def tag_sessions(recordings: Mapping[int, Recording]) -> pd.DataFrame:
    """The tutorial's optotagging rule on every session's visual-cortex units, with session and genotype columns."""
    return pd.concat([optotagging.tag_units(rec, allen.select_units(rec.units, "visual cortex")).assign(
        session_id=sid, genotype=allen.short_genotype(rec.genotype)) for sid, rec in recordings.items()])


def tagging_summary(tags: pd.DataFrame, truth_tagged: pd.Series | None = None) -> pd.DataFrame:
    """Cortical units and tagged units per genotype; with planted truth (a bool Series by unit id), the rule's
    precision and recall too (NaN where it called, or the world planted, none)."""
    table = tags.groupby("genotype")["tagged"].agg(cortical_units="size", tagged="sum")
    if truth_tagged is not None:
        for genotype, group in tags.groupby("genotype"):
            scores = optotagging.tagging_accuracy(group, truth_tagged)
            table.loc[genotype, "precision"] = round(scores["precision"], 2) if scores["called"] else np.nan
            table.loc[genotype, "recall"] = round(scores["recall"], 2) if scores["planted"] else np.nan
    return table


def tagging_phrase(summary: pd.DataFrame) -> str:
    """One clause per Cre line of :func:`tagging_summary`: "Pvalb 12 of 80, precision 0.90, recall 0.75"."""
    def phrase(genotype, row):
        scores = "" if pd.isna(row.get("precision", np.nan)) else f", precision {row['precision']:.2f}, recall {row['recall']:.2f}"
        return f"{genotype} {int(row['tagged'])} of {int(row['cortical_units'])}{scores}"

    return "; ".join(phrase(g, summary.loc[g]) for g in summary.index if g != "wt")
