"""The Allen Visual Coding Neuropixels cache's layout, as allensdk's ``EcephysProjectCache`` reads it: one home for
what the demo world's writer (:mod:`neurrator.world.allen_cache`) and the reader (:mod:`neurrator.data.allen`)
must agree on."""

from __future__ import annotations

import os
from pathlib import Path

MANIFEST_NAME = "manifest.json"
SESSION_TYPE = "brain_observatory_1.1"

#: stimulus name -> movie number in the cache's ``natural_movie_<n>.h5`` templates
MOVIE_NUMBERS = {"natural_movie_one": 1, "natural_movie_three": 3}


def session_file(cache_dir: str | os.PathLike, session_id: int) -> Path:
    """Where a cache keeps one session's NWB (allensdk's ``session_<id>/session_<id>.nwb``)."""
    return Path(cache_dir) / f"session_{int(session_id)}" / f"session_{int(session_id)}.nwb"
