"""Reference captions per stimulus: what the true frame 'says', against which narrations are scored.

Two references, each one JSON artifact per stimulus (``DataLayout.captions(stimulus, reference)`` + sidecar):

- ``model``: ``paper``, BLIP-2 captions of the frames (:class:`neurrator.vlm.blip2.Blip2Captioner`);
  ``demo``, the "oracle", the demo narrator applied to the frame's true target grid. A matched score
  against it measures agreement with a model's reading of the frame.
- ``content``: what the frame shows, written by a person. ``demo``: the simulated world's description of
  the source each frame comes from. ``paper``: a user's CSV file per stimulus (columns ``frame``,
  ``caption``), absent by default.
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


def content_captions(profile: str, stimulus: str, n_frames: int, caption_file: str | os.PathLike | None = None,
                     world_stimuli: str | os.PathLike | None = None) -> tuple[list[str], dict] | None:
    """The ``content`` reference of ``stimulus``'s ``n_frames`` frames and its spec, or None where there is none.

    ``caption_file``: a CSV (``frame``, ``caption``; one row per frame) written by a person; it wins in both
    profiles. Otherwise ``demo`` reads the simulated world's source descriptions from ``world_stimuli`` (the
    world's stimulus folder) and ``paper`` has none.
    """
    import pandas as pd

    from neurrator.config import check_profile

    if caption_file is not None:
        path = Path(caption_file)
        if not path.is_file():
            raise FileNotFoundError(f"content caption file {path} for {stimulus!r} does not exist: pass a CSV with "
                                    "columns 'frame' and 'caption', or None for no content reference")
        table = pd.read_csv(path)
        missing = {"frame", "caption"} - set(table.columns)
        if missing:
            raise ValueError(f"{path} lacks column(s) {sorted(missing)}: a content caption file has 'frame' and 'caption'")
        frames = table["frame"].to_numpy()
        if sorted(frames.tolist()) != list(range(n_frames)):
            raise ValueError(f"{path} must caption each of {stimulus!r}'s {n_frames} frames (0..{n_frames - 1}) once; "
                             f"it has {len(frames)} rows for frames {frames.min()}..{frames.max()}")
        ordered = table.set_index("frame").loc[range(n_frames), "caption"].astype(str).tolist()
        return ordered, {"backend": "content", "source": "caption file", "file": path.name}
    if check_profile(profile) == "paper" or world_stimuli is None:
        return None
    from neurrator.stimulus_tables import frame_contents

    contents = frame_contents(world_stimuli)
    if stimulus not in contents or len(contents[stimulus]) != n_frames:
        raise ValueError(f"the world's stimulus tables in {world_stimuli} do not describe {n_frames} frames of "
                         f"{stimulus!r}: simulate the world again (notebook 01_preprocess)")
    return contents[stimulus], {"backend": "content", "source": "simulated world: source descriptions"}


def write_references(layout, frames: dict[str, np.ndarray], targets: dict, backend, *,
                     blip2_model_id: str | None = None, batch_size: int = 16, max_new_tokens: int = 30,
                     content_caption_files: dict | None = None, progress: bool = True) -> tuple[dict, dict]:
    """Both references of every stimulus in ``frames`` (its ``targets`` opened from ``layout.targets``), written to
    ``layout.captions(stimulus, ...)``: ``(model reference, content reference)``, each ``stimulus -> captions``. A
    stimulus without a content reference has none in the second dict and no stale file left on disk."""
    from neurrator.stimulus_tables import STIMULUS_FOLDER

    reference, content = {}, {}
    world_stimuli = layout.allen_cache / STIMULUS_FOLDER if layout.profile == "demo" else None
    for name, stack in frames.items():
        reference[name], spec = reference_captions(layout.profile, stack, targets[name], backend,
                                                   blip2_model_id=blip2_model_id, batch_size=batch_size,
                                                   progress=progress, max_new_tokens=max_new_tokens)
        write_captions(layout.captions(name), name, range(len(stack)), reference[name], spec,
                       inputs={"targets": targets[name].path})
    for name, stack in frames.items():
        made = content_captions(layout.profile, name, len(stack), caption_file=(content_caption_files or {}).get(name),
                                world_stimuli=world_stimuli)
        path = layout.captions(name, "content")
        if made is None:
            path.unlink(missing_ok=True)      # no stale content reference from an earlier run
            continue
        content[name], spec = made
        write_captions(path, name, range(len(stack)), content[name], spec)
    return reference, content


def write_captions(path: str | os.PathLike, stimulus: str, frame_ids: Sequence[int], captions: Sequence[str],
                   spec: dict, inputs: dict | None = None) -> Path:
    """Store captions (one per frame id) with a sidecar naming how they were made."""
    if len(frame_ids) != len(captions):
        raise ValueError(f"{len(captions)} captions for {len(frame_ids)} frames of {stimulus!r}")
    body = {"stimulus": stimulus, "frame_ids": [int(i) for i in frame_ids], "captions": list(captions)}
    return write_json_artifact(path, body, made_by=MADE_BY, params={"captioner": spec, "stimulus": stimulus}, inputs=inputs)


def read_captions(path: str | os.PathLike) -> dict[int, str]:
    """``frame id -> caption``; a missing or partial file names the notebook that makes it (02_targets)."""
    import json

    check_artifact(path, made_by=MADE_BY)
    body = json.loads(Path(path).read_text())
    return dict(zip(body["frame_ids"], body["captions"]))
