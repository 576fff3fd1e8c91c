"""Held-out predictions of a trained decoder: one output per frame, written and read a block of frames at a time.

A predictions file is an uncompressed ``.npz`` with ``frame_ids`` (int64), ``outputs`` (float16 for
patch grids, like the target store; float32 for embeddings and logits) and, for the classifier,
``classes`` (the frame id of each logit), with a sidecar. ``np.load`` opens it; :func:`read_predictions`
gives the outputs as rows read from disk on demand, so a paper-sized file (3600 x 576 x 1024 grids,
4.2 GB) is never loaded whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from neurrator.artifacts import ArtifactError, check_artifact, write_artifact
from neurrator.rowfiles import NpzWriter, RowFile

@dataclass(frozen=True)
class Predictions:
    """What :func:`read_predictions` returns: ``outputs.rows(i)`` is the output for ``frame_ids[i]``."""

    frame_ids: np.ndarray
    outputs: RowFile
    classes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame_ids)


def write_predictions(path: str | os.PathLike, frame_ids: np.ndarray, outputs: np.ndarray | Iterable[np.ndarray], *,
                      made_by: str, out_shape: tuple[int, ...] | None = None, classes: np.ndarray | None = None,
                      params: Mapping[str, Any] | None = None, inputs: Mapping[str, str | os.PathLike] | None = None) -> Path:
    """Per-frame outputs written atomically with a sidecar naming ``made_by`` (the notebook that predicts them).

    ``outputs`` is an array ``(frames, ...)`` or an iterable of blocks of consecutive frames (what
    :meth:`SpikeDecoder.predict_by_frame` yields; then ``out_shape`` gives each frame's output shape).
    Grids (3-d and more) are stored as float16, anything smaller as float32.
    """
    frame_ids = np.asarray(frame_ids, np.int64)
    if isinstance(outputs, np.ndarray):
        out_shape, blocks = outputs.shape[1:], [outputs]
        if len(outputs) != len(frame_ids):
            raise ValueError(f"{len(outputs)} outputs for {len(frame_ids)} frame ids")
    elif out_shape is None:
        raise ValueError("streamed outputs need out_shape (each frame's output shape)")
    else:
        blocks = outputs
    dtype = np.float16 if len(out_shape) >= 2 else np.float32

    def write(tmp: Path) -> None:
        with NpzWriter(tmp) as archive:
            archive.add("frame_ids", frame_ids)
            if classes is not None:
                archive.add("classes", np.asarray(classes, np.int64))
            archive.add_rows("outputs", (len(frame_ids), *out_shape), dtype, blocks)

    return write_artifact(path, write, made_by=made_by, params=params, inputs=inputs)


def read_predictions(path: str | os.PathLike, *, made_by: str, params: Mapping[str, Any] | None = None) -> Predictions:
    """The :class:`Predictions` of :func:`write_predictions`; a missing or partial file names ``made_by``."""
    check_artifact(path, made_by=made_by, params=params)
    with np.load(path, allow_pickle=False) as data:
        if "outputs" not in data.files or "frame_ids" not in data.files:
            raise ArtifactError(f"{path} holds {data.files}, not frame_ids and outputs: run notebook {made_by} to remake it")
        frame_ids = data["frame_ids"]
        classes = data["classes"] if "classes" in data.files else None
    outputs = RowFile.npz(path, "outputs")
    if len(outputs) != len(frame_ids):
        raise ArtifactError(f"{path}: {len(outputs)} outputs for {len(frame_ids)} frame ids: run notebook {made_by} to remake it")
    return Predictions(frame_ids, outputs, classes)


def predict_to_file(decoder, windows, path: str | os.PathLike, *, made_by: str, params: Mapping[str, Any] | None = None,
                    inputs: Mapping[str, str | os.PathLike] | None = None) -> Predictions:
    """Stream ``decoder``'s output for each frame of ``windows`` (averaged over the frame's windows, a block of
    frames at a time: :meth:`SpikeDecoder.predict_by_frame`) to ``path``, and open it for reading. A classifier's
    classes are saved with its logits."""
    frame_ids, blocks = decoder.predict_by_frame(windows)
    write_predictions(path, frame_ids, blocks, made_by=made_by, out_shape=decoder.out_shape_, classes=decoder.classes_,
                      params=params, inputs=inputs)
    return read_predictions(path, made_by=made_by)
