"""Narrations of held-out frames: predicted grids -> the backend's narrator, in batches, saved as a table.

One row per narrated frame: session, population, stimulus, regime, frame id, the decoded narration
and the frame's reference caption. Stored as a CSV artifact with a sidecar
(``DataLayout.narrations(name)``: ``<data>/<profile>/narrations/<name>.csv``) so later chapters (scaling, cell types) append their
own populations without re-decoding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from neurrator.artifacts import check_artifact, write_artifact
from neurrator.rowfiles import Rows, chunk_rows, iter_chunks

MADE_BY = "04_narrate_heldout"
COLUMNS = ("session_id", "population", "stimulus", "regime", "frame", "narration", "reference")


def narrate_batch(backend, frame_ids: Sequence[int], grids: np.ndarray | Rows, *, references: Mapping[int, str],
                  stimulus: str, regime: str, session_id: int | str, population: str = "all units", batch_size: int = 32,
                  progress: bool = False, budget_bytes: int = 512 * 2**20) -> pd.DataFrame:
    """Narrate predicted ``grids`` (one per frame id) and pair each narration with its frame's reference caption.

    ``grids`` is an array or rows on disk (``read_predictions(...).outputs``); they reach the backend
    in blocks of at most ``budget_bytes`` of float32 (a whole number of batches), so memory holds one
    block however many frames there are. Blocks do not change a sentence: the backend batches within them.
    """
    frame_ids = [int(f) for f in frame_ids]
    if len(frame_ids) != len(grids):
        raise ValueError(f"{len(grids)} grids for {len(frame_ids)} frame ids")
    missing = sorted(set(frame_ids) - set(references))
    if missing:
        raise KeyError(f"no reference caption for frame(s) {missing[:5]} of {stimulus!r}: run notebook 02_targets")
    block = chunk_rows(grids.shape[1:], budget_bytes, multiple=batch_size)
    sentences: list[str] = []
    for chunk in tqdm(iter_chunks(grids, block), desc=f"narrating {regime}", unit="block",
                      total=-(-len(frame_ids) // block), disable=not progress or len(frame_ids) <= block):
        sentences += backend.narrate(chunk, batch_size=batch_size, progress=progress and len(frame_ids) <= block)
    return pd.DataFrame({"session_id": session_id, "population": population, "stimulus": stimulus, "regime": regime,
                         "frame": frame_ids, "narration": sentences, "reference": [references[f] for f in frame_ids]},
                        columns=list(COLUMNS))


def classifier_narrations(predicted, references: Mapping[int, str], *, stimulus: str, regime: str,
                          session_id: int | str, population: str = "all units") -> pd.DataFrame:
    """What a retrieval classifier over training images can say: for each frame of ``predicted`` (its logits and
    ``classes``, :func:`~neurrator.models.predictions.read_predictions`) the reference caption of the image it
    names; the ``decoder`` column says "image classifier"."""
    guessed = predicted.classes[np.asarray(predicted.outputs).argmax(1)]
    table = pd.DataFrame({"session_id": session_id, "population": population, "stimulus": stimulus, "regime": regime,
                          "frame": predicted.frame_ids, "narration": [references[int(g)] for g in guessed],
                          "reference": [references[int(f)] for f in predicted.frame_ids]})
    table["decoder"] = "image classifier"
    return table


def write_narrations(path: str | os.PathLike, table: pd.DataFrame, *, params: Mapping[str, Any] | None = None,
                     inputs: Mapping[str, str | os.PathLike] | None = None, made_by: str = MADE_BY) -> Path:
    """Save a narration table atomically with its sidecar (it must hold :data:`COLUMNS`)."""
    lacking = [c for c in COLUMNS if c not in table.columns]
    if lacking:
        raise ValueError(f"a narration table needs columns {list(COLUMNS)}; missing {lacking}")
    return write_artifact(path, lambda tmp: table.to_csv(tmp, index=False), made_by=made_by, params=params, inputs=inputs)


def read_narrations(path: str | os.PathLike, made_by: str = MADE_BY) -> pd.DataFrame:
    """A saved narration table; a missing or partial file names the notebook that makes it."""
    check_artifact(path, made_by=made_by)
    return pd.read_csv(path, keep_default_na=False)
