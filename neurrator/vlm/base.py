"""The one interface the rest of Neurrator uses to talk to a frozen vision–language model.

A backend is two frozen functions and a shape:

- ``compute_targets(frames)``: stimulus frames -> the patch grids its own vision tower produces
  (the encoder's regression targets), float32 ``(frames, patches, dim)``;
- ``narrate(grids)``: patch grids (true or predicted) -> one sentence each, greedy and deterministic;
- ``grid_shape``: ``(patches, dim)``.

Nothing downstream knows which backend it talks to.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch

PROMPT = "USER: <image>\nDescribe this scene in one sentence.\nASSISTANT:"


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU (a request for a missing GPU is an error)."""
    from neurrator.runtime import compute_device

    return torch.device(compute_device(device) if device in ("auto", "cpu", "cuda") else device)


def resolve_dtype(dtype: torch.dtype | str | None, device: torch.device) -> torch.dtype:
    """``None``: float16 on CUDA (the released dtype of LLaVA-1.5 / BLIP-2, the same on every GPU), float32 on CPU."""
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def load_frozen(model_class, model_id: str, revision: str | None, dtype: torch.dtype, device: torch.device, kind: str):
    """``(model, processor, commit hash)`` from one resolved revision, frozen in eval mode on ``device``.

    Offline the hub is unreachable, so a failed load says to pass a local ``save_pretrained`` directory.
    """
    from pathlib import Path

    from transformers import AutoProcessor
    from transformers.utils.hub import resolve_revision

    pinned = resolve_revision(model_id, revision)  # one resolution: model and processor from one commit
    try:
        processor = AutoProcessor.from_pretrained(model_id, revision=pinned)
        model = model_class.from_pretrained(model_id, revision=pinned, dtype=dtype)
    except (OSError, ValueError) as err:
        at_revision = f" at revision {revision!r}" if revision else ""
        if Path(model_id).is_dir():
            hint = f"that directory does not hold a {kind} model and processor saved with save_pretrained()"
        else:
            hint = ("it is not a local directory, and offline the Hugging Face hub is unreachable: download the "
                    "model beforehand or pass a local path to a directory saved with save_pretrained()")
        raise OSError(f"could not load {kind} model {model_id!r}{at_revision}: {err}\n{hint}.") from err
    model.to(device).eval().requires_grad_(False)
    return model, processor, getattr(pinned, "resolved", None)


def frames_to_rgb(frames: np.ndarray) -> np.ndarray:
    """Validate uint8 frames ``(N, H, W)`` (grayscale, as Allen stimuli) or ``(N, H, W, 3)``; return RGB."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"frames must be uint8 images, got dtype {frames.dtype}; convert with np.clip(x, 0, 255).astype(np.uint8)")
    if frames.ndim == 3:
        return np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return frames
    raise ValueError(f"frames must have shape (N, H, W) or (N, H, W, 3), got {frames.shape}")


#: How a 304 x 608 Allen frame becomes the square image a vision tower sees; targets and reference
#: captions must use the same one. "pad": the whole frame, padded to a square with ``fill`` (LLaVA-1.5's
#: own preprocessing, ``image_aspect_ratio: pad``, the default); "crop": the centre square, i.e. the
#: middle half of the frame (what CLIP's processor does to a wide image); "squeeze": the whole frame
#: resized to a square, distorted (what BLIP-2's processor does).
FIELDS_OF_VIEW = ("pad", "crop", "squeeze")


def check_field_of_view(field_of_view: str) -> str:
    if field_of_view not in FIELDS_OF_VIEW:
        raise ValueError(f"unknown field of view {field_of_view!r}: use one of {', '.join(FIELDS_OF_VIEW)}")
    return field_of_view


def square_field_of_view(frames: np.ndarray, field_of_view: str = "pad",
                         fill: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """uint8 frames ``(N, H, W[, 3])`` -> square RGB ``(N, S, S, 3)`` with the chosen :data:`FIELDS_OF_VIEW`."""
    check_field_of_view(field_of_view)
    rgb = frames_to_rgb(frames)
    n, height, width, _ = rgb.shape
    if field_of_view == "pad":
        side = max(height, width)
        out = np.empty((n, side, side, 3), np.uint8)
        out[:] = np.asarray(fill, np.uint8)
        top, left = (side - height) // 2, (side - width) // 2
        out[:, top:top + height, left:left + width] = rgb
        return out
    if field_of_view == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return np.ascontiguousarray(rgb[:, top:top + side, left:left + side])
    from PIL import Image  # "squeeze"

    side = min(height, width)
    return np.stack([np.asarray(Image.fromarray(f).resize((side, side), Image.BICUBIC)) for f in rgb]) \
        if n else np.zeros((0, side, side, 3), np.uint8)


def processor_fill(image_processor) -> tuple[int, int, int]:
    """The padding colour LLaVA-1.5 uses: the processor's ``image_mean`` in 0-255."""
    return tuple(int(round(255 * m)) for m in getattr(image_processor, "image_mean", (0, 0, 0)))


def check_grids(grids: Any, grid_shape: tuple[int, int]) -> np.ndarray:
    """Patch grids as float32 ``(N, patches, dim)``, refusing a shape that is not the backend's."""
    grids = np.asarray(grids, dtype=np.float32)
    if grids.ndim == 2:
        grids = grids[None]
    if grids.ndim != 3 or tuple(grids.shape[1:]) != tuple(grid_shape):
        raise ValueError(f"patch grids must have shape (N, {grid_shape[0]}, {grid_shape[1]}) for this backend, got {grids.shape}")
    if not np.isfinite(grids).all():
        raise ValueError("patch grids contain NaN or inf")
    return grids


class VisionLanguageBackend(abc.ABC):
    """A frozen VLM: frames -> target patch grids, patch grids -> sentences (see module docstring)."""

    name: str = "abstract"

    @property
    @abc.abstractmethod
    def grid_shape(self) -> tuple[int, int]:
        """``(patches, dim)`` of one target grid."""

    @abc.abstractmethod
    def target_spec(self) -> dict:
        """JSON-able description of how targets are made (backend, model id/revision, layer,
        preprocessing); stored in the patch-target store's sidecar."""

    @abc.abstractmethod
    def compute_targets(self, frames: np.ndarray) -> np.ndarray:
        """float32 ``(N, patches, dim)`` target grids for uint8 frames (see :func:`frames_to_rgb`)."""

    @abc.abstractmethod
    def narrate(self, grids: np.ndarray, batch_size: int = 32, progress: bool = False) -> list[str]:
        """One sentence per grid, frozen and greedy: the same grid always gives the same sentence."""

    def narrate_frames(self, frames: np.ndarray, batch_size: int = 32) -> list[str]:
        """The 'oracle' narration: narrate the true target grids of ``frames``."""
        return self.narrate(self.compute_targets(frames), batch_size=batch_size)
