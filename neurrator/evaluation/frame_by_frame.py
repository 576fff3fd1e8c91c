"""Every decoder's sentence per held-out frame, for the narration strips and the explorer: chapter 04's narrations
(one decoder per held-out condition of the session chapter 03 trained on) and chapter 06's cell-type populations
(the pan-session encoder queried with each population), each with its SBERT cosine against the frame's reference."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.evaluation import scoring

#: columns of a per-frame sentence table
COLUMNS = ("stimulus", "decoder", "kind", "frame", "narration", "score")
HELD_OUT, CELL_TYPE = "held-out condition", "cell type"


def condition_label(condition: str) -> str:
    """A held-out condition's name as a reader says it ("sparse random, guard 15")."""
    return condition.replace("_guard", ", guard ").replace("_", " ")


def heldout_sentences(narrations: pd.DataFrame, sbert_model) -> pd.DataFrame:
    """Chapter 04's narrations of its encoders (decoder "Neurrator"; the image classifier's retrieved captions are
    left out), each scored by its SBERT cosine with its frame's reference caption; one decoder per condition."""
    rows = narrations[narrations["decoder"] == "Neurrator"].reset_index(drop=True)
    if rows.empty:
        raise ValueError("no narrations by the encoder (decoder 'Neurrator'): run notebook 04_narrate_heldout")
    embedded = scoring.embed_unique(sbert_model, rows["narration"].tolist() + rows["reference"].tolist()).astype(np.float64)
    said, reference = np.split(embedded, 2)
    return pd.DataFrame({"stimulus": rows["stimulus"], "decoder": rows["regime"].map(condition_label), "kind": HELD_OUT,
                         "frame": rows["frame"].astype(int), "narration": rows["narration"], "score": (said * reference).sum(1)},
                        columns=list(COLUMNS))


def cell_type_sentences(population_narrations: pd.DataFrame, stimulus: str) -> pd.DataFrame:
    """Chapter 06's tagged populations' narrations (:func:`~neurrator.evaluation.cell_types.read_population_narrations`)
    as decoders "PV cells", ..., scored as chapter 06 scored them (SBERT with the reference)."""
    return pd.DataFrame({"stimulus": stimulus, "decoder": population_narrations["cell_type"] + " cells", "kind": CELL_TYPE,
                         "frame": population_narrations["frame"].astype(int), "narration": population_narrations["narration"],
                         "score": population_narrations["matched"]}, columns=list(COLUMNS))


def explored_frames(sentences: pd.DataFrame, stimulus: str, conditions: Sequence[str]) -> list[int]:
    """The frames of ``stimulus`` that any of chapter 04's ``conditions`` (names, as ``"sparse_random"``) or any cell
    type held out: the explorer's slider runs over them."""
    labels = [condition_label(c) for c in conditions]
    rows = sentences[(sentences["stimulus"] == stimulus)
                     & (sentences["decoder"].isin(labels) | (sentences["kind"] == CELL_TYPE))]
    return sorted(int(f) for f in rows["frame"].unique())


def strip_summary(sentences: pd.DataFrame, references: Mapping[int, str]) -> dict[str, float | int]:
    """One decoder's sentences over a stretch of consecutive frames (columns ``frame``, ``narration``, ``score``):
    how often the decoded sentence and the reference change from frame to frame, its distinct sentences and mean
    SBERT cosine."""
    ordered = sentences.sort_values("frame")
    said = ordered["narration"].tolist()
    truth = [references[int(f)] for f in ordered["frame"]]
    return {"frames": len(said), "first frame": int(ordered["frame"].iloc[0]), "last frame": int(ordered["frame"].iloc[-1]),
            "sentence changes": sum(a != b for a, b in zip(said, said[1:])),
            "reference changes": sum(a != b for a, b in zip(truth, truth[1:])),
            "distinct sentences": len(set(said)), "mean SBERT": round(float(ordered["score"].mean()), 2)}


def strip_text(summary: Mapping) -> str:
    """:func:`strip_summary` in a sentence."""
    return (f"over frames {summary['first frame']}–{summary['last frame']} the decoded sentence changes "
            f"{summary['sentence changes']} times ({summary['distinct sentences']} distinct sentences) while the reference "
            f"changes {summary['reference changes']} times; mean SBERT cosine {summary['mean SBERT']:.2f}")
