"""Training examples: a window of 20 bins (167 ms) x neurons centred on a bin, and that bin's frame.

Reads from the compact uint8/uint16 counts: each item z-scores just its own window, so no dense
float copy of the session is ever made. Augmentation (training only): +-``jitter`` bins of the
centre, restricted to centres that are themselves valid (so jitter never reaches a held-out frame),
and random neuron dropout. Every random draw comes from ``(seed, epoch, index)``: deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from neurrator.data.binning import BinnedStimulus
from neurrator.data.splits import TEST, TRAIN, VAL, WINDOW_BINS, BinSplit, split_bins, zscore_stats


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

    def _draws(self, index: int) -> tuple[int, np.ndarray | None]:
        """The (possibly jittered) centre of item ``index`` and its dropped-neuron mask, from (seed, epoch, index)."""
        centre = int(self.centres[index])
        if not (self.jitter or self.neuron_dropout):
            return centre, None
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        if self.jitter:
            shift = rng.integers(-self.jitter, self.jitter + 1)
            if self.valid[min(max(centre + shift, 0), len(self.valid) - 1)]:
                centre += shift
        dropped = rng.random(self.counts.shape[1]) < self.neuron_dropout if self.neuron_dropout else None
        return centre, dropped

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        centre, dropped = self._draws(index)
        block = self.counts[centre - self.half: centre - self.half + self.window].astype(np.float32)
        x = (block - self.mean) / self.std
        if dropped is not None:
            x[:, dropped] = 0.0
        return torch.from_numpy(x), int(self.frames[centre])

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Items ``indices`` at once: ``(len, window, neurons)`` float32 and their frame ids.

        Identical to stacking ``self[i]`` (tested) but one gather from the compact counts instead of a
        Python call, a copy and a collate per item."""
        indices = np.asarray(indices, dtype=np.int64)
        draws = [self._draws(i) for i in indices] if (self.jitter or self.neuron_dropout) else None
        centres = np.array([c for c, _ in draws]) if draws else self.centres[indices]
        block = self.counts[(centres - self.half)[:, None] + np.arange(self.window)]   # (len, window, neurons)
        x = (block.astype(np.float32) - self.mean) / self.std
        if draws and self.neuron_dropout:
            x *= ~np.stack([d for _, d in draws])[:, None, :]
        return torch.from_numpy(x), self.frames[centres].astype(np.int64)


@dataclass
class RegimeWindows:
    """The windows of one stimulus under one held-out regime, z-scored with training statistics."""

    regime: str
    split: BinSplit
    train: SpikeWindows          # augmented (jitter, neuron dropout)
    val: SpikeWindows
    test: SpikeWindows

    def counts(self) -> dict[str, int]:
        return {"train windows": len(self.train), "validation windows": len(self.val), "test windows": len(self.test),
                "held-out frames": int(self.split.held_out.sum())}


def regime_windows(binned: BinnedStimulus, regime: str, *, seed: int = 0,
                   fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), jitter: int = 2,
                   neuron_dropout: float = 0.1, zscore: tuple[np.ndarray, np.ndarray] | None = None,
                   holdout_fraction: float = 0.1, guard_frames: int = 0,
                   frame_groups: np.ndarray | None = None) -> RegimeWindows:
    """Split ``binned`` by ``regime`` (:func:`split_bins`) and build train / validation / test windows.

    z-score statistics come from this stimulus's training bins, or from ``zscore`` (required for
    ``zero_shot``, whose windows are all test windows of a model trained on another stimulus).
    ``guard_frames``, ``frame_groups``: see :func:`~neurrator.data.splits.split_bins`.
    """
    split = split_bins(binned.frame, binned.repeat, binned.bin_start, regime=regime, fractions=fractions, seed=seed,
                       bin_width=1 / binned.bin_hz, holdout_fraction=holdout_fraction, guard_frames=guard_frames,
                       frame_groups=frame_groups)
    if zscore is None:
        if regime == "zero_shot":
            raise ValueError("a zero-shot stimulus has no training bins: pass zscore=decoder.zscore_ of the model "
                             "trained on the other stimulus")
        zscore = zscore_stats(binned.counts, split.mask(TRAIN))
    mean, std = zscore
    if len(mean) != binned.counts.shape[1]:
        raise ValueError(f"z-score statistics are for {len(mean)} units but {binned.stimulus} has {binned.counts.shape[1]}: "
                         "bin every stimulus of a session with the same units (notebook 01_preprocess does)")

    return from_split(binned, split, (mean, std), seed=seed, jitter=jitter, neuron_dropout=neuron_dropout)


def from_split(binned: BinnedStimulus, split: BinSplit, zscore: tuple[np.ndarray, np.ndarray], *, seed: int = 0,
               jitter: int = 2, neuron_dropout: float = 0.1) -> RegimeWindows:
    """The train / validation / test windows of a saved ``split`` of ``binned`` (z-scored with ``zscore``, a
    decoder's ``zscore_``); only the training windows are augmented (``jitter``, ``neuron_dropout``)."""
    mean, std = zscore

    def windows(part: int, augment: bool) -> SpikeWindows:
        return SpikeWindows(binned.counts, binned.frame, split.centres[part], mean, std,
                            jitter=jitter if augment else 0, neuron_dropout=neuron_dropout if augment else 0.0, seed=seed)

    return RegimeWindows(split.regime, split, windows(TRAIN, True), windows(VAL, False), windows(TEST, False))


def subsample_training(data: RegimeWindows, n: int, seed: int = 0) -> RegimeWindows:
    """``data`` with ``n`` of its training windows drawn at random (seeded), for a control that trains on as many
    windows as another split; validation, test windows and z-scoring are unchanged, and the split's training
    centres are the drawn ones."""
    from dataclasses import replace

    train = data.train
    if not 0 < n <= len(train):
        raise ValueError(f"cannot draw {n} of {len(train)} training windows")
    centres = np.sort(np.random.default_rng(seed).choice(train.centres, n, replace=False))
    drawn = SpikeWindows(train.counts, train.frames, centres, train.mean, train.std, train.window,
                         jitter=train.jitter, neuron_dropout=train.neuron_dropout, seed=train.seed)
    split = replace(data.split, centres={**data.split.centres, TRAIN: centres})
    return replace(data, split=split, train=drawn)


def sample_per_frame(windows: SpikeWindows, per_frame: int | None) -> SpikeWindows:
    """At most ``per_frame`` of each frame's windows, evenly spaced over its centres in time order (so over
    its repeats), without augmentation; ``None`` keeps every window. Deterministic: no random draw."""
    if per_frame is None:
        return SpikeWindows(windows.counts, windows.frames, windows.centres, windows.mean, windows.std, windows.window)
    if per_frame < 1:
        raise ValueError(f"per_frame must be a positive number of windows (or None for all), got {per_frame}")
    centres = np.sort(windows.centres)
    frames = windows.frames[centres]
    keep = []
    for frame in np.unique(frames):
        own = centres[frames == frame]
        keep.append(own[np.unique(np.linspace(0, len(own) - 1, min(per_frame, len(own))).round().astype(int))])
    return SpikeWindows(windows.counts, windows.frames, np.sort(np.concatenate(keep)) if keep else centres,
                        windows.mean, windows.std, windows.window)


def neuron_mask(n_neurons: int, columns: Sequence[int] | np.ndarray | None) -> np.ndarray | None:
    """The 0/1 input mask that queries a decoder with ``columns`` only (None: every neuron, no mask)."""
    if columns is None:
        return None
    mask = np.zeros(n_neurons, np.float32)
    mask[np.asarray(columns, dtype=np.int64)] = 1
    return mask
