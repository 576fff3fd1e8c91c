"""The three training objectives of :class:`~neurrator.models.training.SpikeDecoder`, one class each.

An objective says what the network outputs (:meth:`Objective.setup`, :meth:`Objective.build`), how it
is trained (:meth:`Objective.loss`) and validated (:meth:`Objective.score`, higher is better); the
training loop in :mod:`neurrator.models.training` is the same for all three.

- ``"patches"`` (Neurrator): the frame's patch grid; loss 0.5 MSE + 0.5 (1 - cosine), score mean patch cosine;
- ``"infonce"`` (retrieval variant): one embedding, InfoNCE against the mean-pooled target grids of every
  training frame, score cosine to the true frame's pooled grid;
- ``"classifier"`` (image-identity holdout): logits over the training frames, score accuracy;
- ``"mlp_patches"`` (chapter 08's baseline): the patch grid from a one-hidden-layer MLP of the flattened
  window (:class:`~neurrator.models.encoder.MLPPatchEncoder`, hidden width 2 x d_model), same loss and score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, Sequence

import numpy as np
import torch

from neurrator.data.splits import WINDOW_BINS
from neurrator.models.encoder import MLPPatchEncoder, NeurratorEncoder, RetrievalEncoder, info_nce_loss, patch_loss
from neurrator.rowfiles import pooled_targets  # noqa: F401 (re-exported: chapters import it from here)


class TargetRows(Protocol):
    shape: tuple[int, ...]
    content_hash: str | None  # identifies the grids: a decoder is reused only for the same content

    def rows(self, frame_indices: Sequence[int] | np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Outputs:
    """What a fitted decoder outputs: its shape, and for the retrieval objectives the training frames."""

    shape: tuple[int, ...]
    classes: np.ndarray | None = None      # sorted frame id of each candidate / logit
    candidates: np.ndarray | None = None   # infonce: pooled target grid of each class

    def labels(self, frames: np.ndarray, device: torch.device) -> torch.Tensor:
        """The class index of each frame (a binary search per batch; every frame must have a class)."""
        frames = np.asarray(frames)
        index = np.searchsorted(self.classes, frames)
        if len(frames) and (index.max() >= len(self.classes) or not np.array_equal(self.classes[index], frames)):
            raise KeyError(f"frame(s) {sorted(set(frames.tolist()) - set(self.classes.tolist()))[:5]} have no class")
        return torch.as_tensor(index, device=device)

    def known(self, frames: np.ndarray) -> np.ndarray:
        """Which frames have a class (retrieval objectives)."""
        return np.isin(frames, self.classes)


class Objective:
    name: ClassVar[str]
    streams_targets: ClassVar[bool] = False  # each batch carries its frames' target grids

    def setup(self, targets: TargetRows, train_frames: np.ndarray) -> Outputs:
        raise NotImplementedError

    def build(self, n_neurons: int, outputs: Outputs, encoder) -> torch.nn.Module:
        e = encoder
        return RetrievalEncoder(n_neurons, outputs.shape[0], d_model=e.d_model, conv_channels=e.conv_channels,
                                heads=e.heads, temporal_layers=e.temporal_layers, dropout=e.dropout)

    def loss(self, out: torch.Tensor, truth: torch.Tensor | None, labels: torch.Tensor | None,
             candidates: torch.Tensor | None, temperature: float) -> torch.Tensor:
        raise NotImplementedError

    def score(self, out: torch.Tensor, truth: torch.Tensor | None, labels: torch.Tensor | None,
              candidates: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class PatchObjective(Objective):
    name = "patches"
    streams_targets = True

    def setup(self, targets, train_frames):
        return Outputs(tuple(targets.shape[1:]))

    def build(self, n_neurons, outputs, encoder):
        e = encoder
        return NeurratorEncoder(n_neurons, *outputs.shape, d_model=e.d_model, conv_channels=e.conv_channels,
                                heads=e.heads, temporal_layers=e.temporal_layers, patch_layers=e.patch_layers,
                                dropout=e.dropout)

    def loss(self, out, truth, labels, candidates, temperature):
        return patch_loss(out.float(), truth)

    def score(self, out, truth, labels, candidates):
        return torch.nn.functional.cosine_similarity(out, truth, dim=-1).mean()


class MLPPatchObjective(PatchObjective):
    name = "mlp_patches"

    def build(self, n_neurons, outputs, encoder):
        return MLPPatchEncoder(n_neurons, *outputs.shape, window=WINDOW_BINS, hidden=2 * encoder.d_model,
                               dropout=encoder.dropout)


class InfoNCEObjective(Objective):
    name = "infonce"

    def setup(self, targets, train_frames):
        return Outputs((targets.shape[-1],), train_frames, pooled_targets(targets, train_frames))

    def loss(self, out, truth, labels, candidates, temperature):
        return info_nce_loss(out.float(), candidates, labels, temperature)

    def score(self, out, truth, labels, candidates):
        return torch.nn.functional.cosine_similarity(out, candidates[labels], dim=-1).mean()


class ClassifierObjective(Objective):
    name = "classifier"

    def setup(self, targets, train_frames):
        return Outputs((len(train_frames),), train_frames)

    def loss(self, out, truth, labels, candidates, temperature):
        return torch.nn.functional.cross_entropy(out.float(), labels)

    def score(self, out, truth, labels, candidates):
        return (out.argmax(1) == labels).float().mean()


OBJECTIVES: dict[str, type[Objective]] = {o.name: o for o in (PatchObjective, InfoNCEObjective, ClassifierObjective,
                                                                  MLPPatchObjective)}


def objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]()
