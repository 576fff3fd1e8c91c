"""Training examples: a window of 20 bins (167 ms) x neurons centred on a bin, and that bin's frame.

Reads from the compact uint8/uint16 counts: each item z-scores just its own window, so no dense
float copy of the session is ever made. Augmentation (training only): +-``jitter`` bins of the
centre, restricted to centres that are themselves valid (so jitter never reaches a held-out frame),
and random neuron dropout. Every random draw comes from ``(seed, epoch, index)``: deterministic.
"""

from __future__ import annotations

import numpy as np
import torch

from neurrator.splits import WINDOW_BINS


class SpikeWindows(torch.utils.data.Dataset):
    """``(window x neurons float32 z-scored, frame id)`` items for the given window centres."""

    def __init__(self, counts: np.ndarray, frames: np.ndarray, centres: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 window: int = WINDOW_BINS, jitter: int = 0, neuron_dropout: float = 0.0, seed: int = 0):
        if counts.dtype not in (np.uint8, np.uint16):
            raise TypeError(f"counts must be the compact uint8/uint16 bins, got {counts.dtype}")
        if not 0 <= neuron_dropout < 1:
            raise ValueError(f"neuron_dropout must lie in [0, 1), got {neuron_dropout}")
        self.counts, self.frames = counts, np.asarray(frames)
        self.centres = np.asarray(centres, dtype=np.int64)
        self.valid = np.zeros(len(counts), bool)
        self.valid[self.centres] = True
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self.window, self.half = window, window // 2
        self.jitter, self.neuron_dropout, self.seed = jitter, neuron_dropout, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Different augmentation each epoch, reproducibly."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.centres)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        centre = int(self.centres[index])
        rng = None
        if self.jitter or self.neuron_dropout:
            rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.jitter:
            shift = rng.integers(-self.jitter, self.jitter + 1)
            if self.valid[min(max(centre + shift, 0), len(self.valid) - 1)]:
                centre += shift
        block = self.counts[centre - self.half: centre - self.half + self.window].astype(np.float32)
        x = (block - self.mean) / self.std
        if self.neuron_dropout:
            x[:, rng.random(x.shape[1]) < self.neuron_dropout] = 0.0
        return torch.from_numpy(x), int(self.frames[centre])
