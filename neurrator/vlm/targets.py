"""Patch-target store: one float16 memory-mapped array per stimulus, ``(frames, patches, dim)``.

Layout under the store's root (``DataLayout.targets``: ``<data>/<profile>/targets/``)::

    <stimulus>.npy            float16 .npy (any tool can ``np.load(..., mmap_mode="r")`` it)
    <stimulus>.npy.meta.json  sidecar: backend spec (model, revision, layer, preprocessing),
                              shape, content hash of the frames, hash of the array

Writing goes chunk by chunk into a temporary file that is renamed into place; reading a batch of
frames reads only those rows, with positioned reads rather than a memory map, so the process's
resident memory stays at one batch whatever the store's size (mapped pages would count towards it).
A store made by another backend, or from other frames, is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from neurrator.artifacts import ArtifactError, check_artifact, read_sidecar, write_artifact
from neurrator.rowfiles import RowFile
from neurrator.vlm.base import VisionLanguageBackend

MADE_BY = "02_targets"


def frames_hash(frames: np.ndarray, chunk: int = 64) -> str:
    """SHA-256 of the frames' shape, dtype and pixels (chunked: no copy of the whole movie)."""
    digest = hashlib.sha256(f"{frames.shape}|{frames.dtype}".encode())
    for start in range(0, len(frames), chunk):
        digest.update(np.ascontiguousarray(frames[start:start + chunk]).tobytes())
    return digest.hexdigest()


class PatchTargetStore:
    """Per-stimulus float16 target grids on disk (see module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, stimulus: str) -> Path:
        if not stimulus or "/" in stimulus or stimulus.startswith("."):
            raise ValueError(f"invalid stimulus name {stimulus!r}")
        return self.root / f"{stimulus}.npy"

    def stimuli(self) -> list[str]:
        return sorted(p.name[: -len(".npy.meta.json")] for p in self.root.glob("*.npy.meta.json"))

    @staticmethod
    def _params(backend_spec: dict, frames: np.ndarray, grid_shape: Sequence[int]) -> dict:
        return {"backend": backend_spec, "frames_sha256": frames_hash(frames),
                "shape": [len(frames), *grid_shape], "dtype": "float16"}

    def write(self, stimulus: str, frames: np.ndarray, backend: VisionLanguageBackend, chunk_size: int = 32,
              progress: bool = True, overwrite: bool = False) -> Path:
        """Compute and store the targets of ``frames``; a valid store for the same backend and frames is kept."""
        from tqdm import tqdm

        path = self.path(stimulus)
        params = self._params(backend.target_spec(), frames, backend.grid_shape)
        if not overwrite:
            try:
                check_artifact(path, made_by=MADE_BY, params=params)
                return path
            except ArtifactError:
                pass

        shape = tuple(params["shape"])

        def fill(tmp: Path) -> None:
            np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape).flush()  # header + size
            offset = RowFile.npy(tmp).offset
            row_bytes = int(np.prod(shape[1:])) * 2
            with open(tmp, "r+b") as handle, tqdm(total=len(frames), desc=f"targets {stimulus}", unit="frame", disable=not progress) as bar:
                for start in range(0, len(frames), chunk_size):
                    grids = backend.compute_targets(np.asarray(frames[start:start + chunk_size]))
                    if grids.shape[1:] != shape[1:]:
                        raise ValueError(f"backend returned grids of shape {grids.shape[1:]}, expected {shape[1:]}")
                    handle.seek(offset + start * row_bytes)
                    handle.write(np.ascontiguousarray(grids, dtype=np.float16).tobytes())
                    bar.update(len(grids))

        return write_artifact(path, fill, made_by=MADE_BY, params=params)

    def open(self, stimulus: str, backend_spec: dict | None = None, frames: np.ndarray | None = None) -> "StoredTargets":
        """Read access to a stimulus's grids, after checking its sidecar.

        With ``backend_spec`` and/or ``frames`` the store must have been made by that backend from
        exactly those frames; otherwise :class:`ArtifactError` says what differs.
        """
        path = self.path(stimulus)
        meta = check_artifact(path, made_by=MADE_BY)
        recorded = meta["params"]
        if backend_spec is not None and recorded["backend"] != backend_spec:
            differs = sorted(k for k in set(recorded["backend"]) | set(backend_spec)
                             if recorded["backend"].get(k) != backend_spec.get(k))
            raise ArtifactError(
                f"target store {path} was made by backend {recorded['backend'].get('backend')!r} "
                f"({recorded['backend'].get('model_id')}), not the requested "
                f"{backend_spec.get('backend')!r} ({backend_spec.get('model_id')}); differs in: {', '.join(differs)}. "
                f"Run notebook {MADE_BY} with this profile to make it"
            )
        if frames is not None and recorded["frames_sha256"] != frames_hash(frames):
            raise ArtifactError(f"target store {path} was made from other frames of {stimulus!r}: run notebook {MADE_BY} to remake it")
        return StoredTargets(path, tuple(recorded["shape"]), content_hash=meta["sha256"])

    def batch(self, stimulus: str, frame_indices: Sequence[int] | np.ndarray, **check) -> np.ndarray:
        """float32 grids of the given frames (opens and checks the store; loops should ``open`` once and call ``rows``)."""
        return self.open(stimulus, **check).rows(frame_indices)

    def summary(self) -> list[dict]:
        """One row per stored stimulus: frames, patches, dim, size on disk, backend."""
        rows = []
        for stimulus in self.stimuli():
            meta = read_sidecar(self.path(stimulus))
            frames, patches, dim = meta["params"]["shape"]
            rows.append({"stimulus": stimulus, "frames": frames, "patches": patches, "dim": dim,
                         "MB_on_disk": round(meta["size_bytes"] / 2**20, 1),
                         "MB_as_float32_table": round(frames * patches * dim * 4 / 2**20, 1),
                         "backend": meta["params"]["backend"]["backend"]})
        return rows



class StoredTargets(RowFile):
    """Read-only grids of one stimulus: ``rows(indices)`` reads just those rows from disk as float32."""

    def __init__(self, path: Path, shape: tuple[int, ...], content_hash: str | None = None):
        stored = RowFile.npy(path)
        super().__init__(path, stored.offset, shape, np.float16)
        self.content_hash = content_hash  # SHA-256 of the array file, from the sidecar (what reuse is keyed by)
        expected = self.offset + int(np.prod(shape)) * self.dtype.itemsize
        if stored.shape != tuple(shape) or self.path.stat().st_size != expected:
            raise ArtifactError(f"{self.path} holds {stored.shape} in {self.path.stat().st_size} bytes, its sidecar's "
                                f"shape {tuple(shape)} needs {expected}: run notebook {MADE_BY}")


def storage_cost(shapes: dict[str, tuple[int, int, int]], batch: int = 64) -> pd.DataFrame:
    """Per ``(frames, patches, dim)`` target shape: a float32 table in RAM and the float16 store on disk (GB), and
    the RAM one batch of ``batch`` float32 grids takes (MB)."""
    return pd.DataFrame([{"stimulus": name, "float32 table in RAM (GB)": round(np.prod(s) * 4 / 1e9, 2),
                          "float16 store on disk (GB)": round(np.prod(s) * 2 / 1e9, 2),
                          f"RAM for a batch of {batch} (MB)": round(batch * s[1] * s[2] * 4 / 1e6, 1)}
                         for name, s in shapes.items()]).set_index("stimulus")
