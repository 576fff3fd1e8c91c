"""The simulated world's stimulus tables: which source (clip or photograph) each frame comes from, what it
shows, and its planted content flags. Written by :mod:`neurrator.world.stimuli`; read here by every stage that
needs the planted truth or the person-written content (below ``vlm/``, ``world/`` and ``data/``, which all read
them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neurrator.artifacts import ArtifactError, check_artifact

MADE_BY = "neurrator simulate"
FRAME_INFO_FILE, SOURCES_FILE = "stimulus_frame_info.csv", "stimulus_sources.csv"
STIMULUS_FOLDER = "neurrator_stimuli"  # inside a simulated Allen cache


def frame_contents(directory: str | Path) -> dict[str, list[str]]:
    """``stimulus -> one description per frame``: the person-written content of the source each frame comes
    from (``Source.content``), read from the tables :func:`save_stimuli` wrote (not the frames)."""
    directory = Path(directory)
    info_path, sources_path = directory / FRAME_INFO_FILE, directory / SOURCES_FILE
    try:
        for path in (info_path, sources_path):
            check_artifact(path, made_by=MADE_BY)
    except ArtifactError as err:
        raise ArtifactError(f"no stimulus tables in {directory}: run `neurrator simulate` (notebook 01_preprocess) "
                            f"to build them ({err})") from None
    info = pd.read_csv(info_path)
    content = pd.read_csv(sources_path, dtype={"frames": str}).set_index(["stimulus", "source"])["content"]
    return {name: [content[(name, source)] for source in table.sort_values("frame")["source"]]
            for name, table in info.groupby("stimulus", sort=False)}


def read_frame_info(directory: str | Path) -> dict[str, pd.DataFrame]:
    """``stimulus -> frame table`` (frame, source, content flags such as ``vehicle``, ``mean_luminance``,
    ``rms_contrast``) of a simulated world, without loading the frames: the planted truth per frame."""
    path = Path(directory) / FRAME_INFO_FILE
    try:
        check_artifact(path, made_by=MADE_BY)
    except ArtifactError as err:
        raise ArtifactError(f"no stimulus tables in {directory}: run `neurrator simulate` (notebook 01_preprocess) "
                            f"to build them ({err})") from None
    info = pd.read_csv(path)
    return {name: table.drop(columns="stimulus").sort_values("frame").reset_index(drop=True)
            for name, table in info.groupby("stimulus", sort=False)}


def frame_sources(allen_cache: str | Path, stimulus: str) -> np.ndarray | None:
    """The source (clip or photograph) of each frame of ``stimulus`` in a simulated world's Allen cache, by
    frame id; None for a cache without the simulated world's stimulus tables (a real Allen cache, whose
    natural scenes are each their own photograph)."""
    directory = Path(allen_cache) / STIMULUS_FOLDER
    if not (directory / FRAME_INFO_FILE).is_file():
        return None
    info = read_frame_info(directory)
    if stimulus not in info:
        raise KeyError(f"the simulated world has no stimulus {stimulus!r} (it has {sorted(info)})")
    return info[stimulus].set_index("frame")["source"].sort_index().to_numpy()
