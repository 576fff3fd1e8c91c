"""Reference captions per stimulus: what the true frame 'says', against which narrations are scored.

``paper``: BLIP-2 captions of the frames (:class:`neurrator.vlm.blip2.Blip2Captioner`).
``demo``: the "oracle" reference, the demo narrator applied to the frame's true target grid.
Stored as one JSON artifact per stimulus (``DataLayout.captions(stimulus)`` + sidecar).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from neurrator.artifacts import check_artifact, write_json_artifact

MADE_BY = "02_targets"


def oracle_captions(backend, target_array: np.ndarray, batch_size: int = 32, progress: bool = True) -> list[str]:
    """The demo reference: the backend's narration of each frame's true target grid."""
    return backend.narrate(np.asarray(target_array, dtype=np.float32), batch_size=batch_size, progress=progress)


def reference_captions(profile: str, frames: np.ndarray, target_array: np.ndarray, backend,
                       blip2_model_id: str | None = None, batch_size: int = 16, progress: bool = True,
                       max_new_tokens: int = 30) -> tuple[list[str], dict]:
    """Reference captions of ``frames`` and the spec of what made them: BLIP-2 (paper, at most
    ``max_new_tokens`` tokens) or the oracle (demo)."""
    from neurrator.config import check_profile

    if check_profile(profile) == "demo":
        spec = {"backend": "oracle", "narrator": backend.target_spec()}
        return oracle_captions(backend, target_array, batch_size=batch_size, progress=progress), spec
    from neurrator.vlm.blip2 import DEFAULT_MODEL_ID, Blip2Captioner

    # the captions see what the targets saw: the backend's field of view
    captioner = Blip2Captioner(blip2_model_id or DEFAULT_MODEL_ID, field_of_view=backend.field_of_view,
                               max_new_tokens=max_new_tokens)
    return captioner.caption(frames, batch_size=batch_size, progress=progress), captioner.spec()


def write_captions(path: str | os.PathLike, stimulus: str, frame_ids: Sequence[int], captions: Sequence[str],
                   spec: dict, inputs: dict | None = None) -> Path:
    """Store captions (one per frame id) with a sidecar naming how they were made."""
    if len(frame_ids) != len(captions):
        raise ValueError(f"{len(captions)} captions for {len(frame_ids)} frames of {stimulus!r}")
    body = {"stimulus": stimulus, "frame_ids": [int(i) for i in frame_ids], "captions": list(captions)}
    return write_json_artifact(path, body, made_by=MADE_BY, params={"captioner": spec, "stimulus": stimulus}, inputs=inputs)


def read_captions(path: str | os.PathLike) -> dict[int, str]:
    """``frame id -> caption``; a missing or partial file names the notebook that makes it."""
    import json

    check_artifact(path, made_by=MADE_BY)
    body = json.loads(Path(path).read_text())
    return dict(zip(body["frame_ids"], body["captions"]))
