"""Train the spike encoders: an estimator (``fit`` / ``predict`` / ``save`` / ``load``) in the style of CEBRA.

:class:`SpikeDecoder` trains one of three objectives (:mod:`neurrator.models.objectives`: ``"patches"``,
``"infonce"``, ``"classifier"``, each with its output, loss and validation score) on the shared front end
(:mod:`neurrator.models.encoder`), configured by :mod:`neurrator.models.configs`; ``fit`` hands the built
network to the training loop, :class:`~neurrator.models.solver.Solver` (the paper's optimisation, early
stopping and checkpoint resume), the same for all three. Here too: :class:`ArrayTargets` (in-memory target
grids), :func:`fit_and_save` and :func:`training_summary`.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from neurrator.artifacts import check_artifact, write_artifact
from neurrator.models.configs import EncoderConfig, TrainConfig
from neurrator.models.objectives import Outputs, TargetRows, objective as make_objective
from neurrator.models.solver import Solver, _fingerprint, _targets_hash, _Threads, autocast
from neurrator.runtime import compute_device
from neurrator.data.windows import SpikeWindows
from neurrator.rowfiles import chunk_rows

# EncoderConfig and TrainConfig live in neurrator.models.configs and are re-exported on purpose: notebooks and
# tests import them with the estimator
__all__ = ["ArrayTargets", "EncoderConfig", "SpikeDecoder", "TrainConfig", "fit_and_save", "training_summary"]


class ArrayTargets:
    """An in-memory ``(frames, patches, dim)`` array with the same ``rows`` interface as the target store."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)
        self.shape = self.array.shape
        self.content_hash = _fingerprint(self.array)

    def rows(self, frame_indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.asarray(self.array[np.asarray(frame_indices, dtype=np.int64)], dtype=np.float32)


class SpikeDecoder:
    """Spike windows -> patch grids (or retrieval embeddings / image logits): ``fit``, ``predict``, ``save``, ``load``.

    ``checkpoint_dir``: where ``last.pt`` is written after every epoch; ``fit`` resumes from it when
    it exists and was made with the same data and configs, and a finished checkpoint is simply loaded.
    After ``fit``: ``model_`` (best validation epoch), ``history_`` (one row per epoch), ``zscore_``
    (the training statistics the windows must use), ``classes_`` (classifier: frame id per logit).
    """

    def __init__(self, objective: str = "patches", encoder: EncoderConfig = EncoderConfig(),
                 train: TrainConfig = TrainConfig(), checkpoint_dir: str | os.PathLike | None = None, progress: bool = True):
        self._objective = make_objective(objective)
        self.objective, self.encoder, self.train = objective, encoder, train
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress
        self.model_: torch.nn.Module | None = None
        self.history_ = pd.DataFrame()
        self.zscore_: tuple[np.ndarray, np.ndarray] | None = None
        self.outputs_: Outputs | None = None

    @property
    def out_shape_(self) -> tuple[int, ...] | None:
        return None if self.outputs_ is None else self.outputs_.shape

    @property
    def classes_(self) -> np.ndarray | None:
        """Retrieval objectives: the frame id of each candidate / logit."""
        return None if self.outputs_ is None else self.outputs_.classes

    # ------------------------------------------------------------------ building
    def _build(self, n_neurons: int) -> torch.nn.Module:
        """The network with the weights its seed gives; the caller's torch RNG is left as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.train.seed)
            return self._objective.build(n_neurons, self.outputs_, self.encoder)

    def _device(self) -> torch.device:
        return torch.device(compute_device(self.train.device))

    # ------------------------------------------------------------------ fitting
    def fit(self, train: SpikeWindows, val: SpikeWindows, targets: TargetRows, resume: bool = True,
            name: str = "train", start: "SpikeDecoder | None" = None) -> "SpikeDecoder":
        """Train on ``train`` windows, early-stop on ``val``; ``targets`` give each frame's grid (``rows``).

        ``start``: a fitted decoder of the same architecture, inputs and z-scoring whose weights the network starts
        from (fine-tuning, e.g. :meth:`restricted_to` of a larger encoder); None: the seed's random weights."""
        cfg = self.train
        if not len(train) or not len(val):
            raise ValueError(f"need training and validation windows, got {len(train)} and {len(val)}: "
                             "check the split (notebook 01_preprocess shows the window counts per regime)")
        if not (np.array_equal(train.mean, val.mean) and np.array_equal(train.std, val.std)):
            raise ValueError("training and validation windows must be z-scored with the same (training) statistics")
        train_frames = np.unique(train.frames[train.centres])
        if train_frames.max() >= targets.shape[0]:
            raise ValueError(f"windows show frame {train_frames.max()} but the targets hold {targets.shape[0]} frames: "
                             "are they from the same stimulus?")
        if start is not None:
            start._check_compatible(self, train)
        self.zscore_ = (train.mean.copy(), train.std.copy())
        self.outputs_ = self._objective.setup(targets, train_frames)
        device = self._device()
        # the per-epoch dropout seeds go to a forked RNG: the caller's torch RNG is left as it was
        with _Threads(cfg.threads if device.type == "cpu" else None), \
                torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            model = self._build(train.counts.shape[1]).to(device)
            if start is not None:
                model.load_state_dict(start.model_.state_dict())
            solver = Solver(self._objective, self.outputs_, cfg, progress=self.progress)
            self.model_, history = solver.fit(
                model, train, val, targets, device, signature=self._signature(train, val, targets, start),
                checkpoint=self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None, resume=resume, name=name)
        self.history_ = pd.DataFrame(history)
        return self

    def _signature(self, train: SpikeWindows, val: SpikeWindows, targets: TargetRows,
                   start: "SpikeDecoder | None" = None) -> dict:
        signature = {"objective": self.objective, "encoder": asdict(self.encoder), "train": asdict(self.train),
                     "n_neurons": int(train.counts.shape[1]), "targets_shape": list(targets.shape),
                     "targets": _targets_hash(targets),
                     "data": _fingerprint(train.counts, train.centres, val.centres, train.frames, train.mean, train.std)}
        if start is not None:   # a fine-tuning run is another run than one from the seed's weights
            signature["start"] = start.weights_digest()
        return signature

    def _check_compatible(self, other: "SpikeDecoder", train: SpikeWindows) -> None:
        """Raise unless this fitted decoder can be ``other``'s starting point on ``train``."""
        self._check_fitted()
        if (self.objective, self.encoder) != (other.objective, other.encoder):
            raise ValueError(f"the starting decoder is a {self.objective} network of {self.encoder}; this one is a "
                             f"{other.objective} network of {other.encoder}: build it with the same objective and EncoderConfig")
        if self.model_.n_neurons != train.counts.shape[1]:
            raise ValueError(f"the starting decoder takes {self.model_.n_neurons} neurons, the windows have "
                             f"{train.counts.shape[1]}: restrict it to the windows' units first (restricted_to)")
        mean, std = self.zscore_
        if not (np.array_equal(mean, train.mean) and np.array_equal(std, train.std)):
            raise ValueError("the windows are z-scored with statistics other than the starting decoder's: "
                             "build them with its zscore_")

    def weights_digest(self) -> str:
        """sha256 (16 hex digits) of the fitted network's weights, in state-dict order."""
        self._check_fitted()
        arrays = [v.detach().cpu().contiguous().numpy() for v in self.model_.state_dict().values()]
        return _fingerprint(*arrays)[:16]

    def restricted_to(self, columns: Sequence[int] | np.ndarray) -> "SpikeDecoder":
        """The same fitted network for the neurons at ``columns`` alone (in that order): the input convolutions keep
        those neurons' weights and z-scoring, everything else is shared. Its output on windows of those units
        equals the masked query of the full network (:func:`neurrator.data.windows.neuron_mask`), so it is
        where a population's own encoder starts (``fit(..., start=...)``)."""
        self._check_fitted()
        columns = np.asarray(columns, dtype=np.int64)
        n = self.model_.n_neurons
        if not len(columns) or columns.min() < 0 or columns.max() >= n or len(np.unique(columns)) != len(columns):
            raise ValueError(f"columns must be distinct positions among the decoder's {n} neurons, got {len(columns)}")
        if not hasattr(self.model_, "front"):
            raise ValueError(f"restricted_to needs the convolutional front end; a {self.objective} network has none")
        state = self.model_.state_dict()
        keep = torch.as_tensor(columns)
        state = {k: (v[:, keep.to(v.device)].clone() if k.startswith("front.convs.") and k.endswith(".weight") else v.clone())
                 for k, v in state.items()}
        restricted = SpikeDecoder(self.objective, self.encoder, self.train, progress=self.progress)
        restricted.outputs_ = self.outputs_
        restricted.zscore_ = tuple(a[columns].copy() for a in self.zscore_)
        model = restricted._build(len(columns))
        model.load_state_dict(state)
        restricted.model_ = model.to(next(self.model_.parameters()).device).eval()
        restricted.history_ = pd.DataFrame()
        return restricted

    # ------------------------------------------------------------------ using
    def _check_fitted(self) -> None:
        if self.model_ is None:
            raise RuntimeError("this SpikeDecoder is not fitted: call fit() or SpikeDecoder.load()")

    def _predict_setup(self, windows: SpikeWindows, neuron_mask):
        self._check_fitted()
        mean, std = self.zscore_
        if not (np.array_equal(windows.mean, mean) and np.array_equal(windows.std, std)):
            raise ValueError("windows are z-scored with statistics other than the training ones: "
                             "build them with mean, std = decoder.zscore_")
        if windows.jitter or windows.neuron_dropout:
            windows = SpikeWindows(windows.counts, windows.frames, windows.centres, mean, std, windows.window)
        device = next(self.model_.parameters()).device
        mask = None if neuron_mask is None else torch.as_tensor(np.asarray(neuron_mask), dtype=torch.float32, device=device)
        return windows, device, mask

    def _batch_size(self, batch_size: int | None) -> int:
        """The caller's batch, else 256 windows or fewer: a paper-sized batch's activations (576 x 1024 outputs)
        take about 16 MB per window, so the default keeps one batch's outputs near 128 MB."""
        return batch_size or min(256, chunk_rows(self.out_shape_, 128 * 2**20))

    def _forward(self, windows: SpikeWindows, index: np.ndarray, device, mask) -> torch.Tensor:
        x, _ = windows.batch(index)
        with autocast(device, self.train.amp):
            return self.model_(x.to(device), mask).float().cpu()

    @torch.no_grad()
    def predict(self, windows: SpikeWindows, neuron_mask: np.ndarray | None = None, batch_size: int | None = None,
                by_frame: bool = False, progress: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Outputs for every window of ``windows`` (augmentation is not applied), in memory.

        ``neuron_mask`` (neurons,) of 0/1 queries a subset of neurons; ``batch_size`` windows go through the
        model at a time (default: see :meth:`_batch_size`). ``by_frame=True`` returns
        ``(frame_ids, outputs averaged over each frame's windows)``: the chunks of
        :meth:`predict_by_frame` joined. At the paper's shapes (3600 frames x 576 x 1024) that is
        8.5 GB: stream :meth:`predict_by_frame` into :func:`neurrator.models.predictions.write_predictions` instead.
        """
        if by_frame:
            frame_ids, chunks = self.predict_by_frame(windows, neuron_mask, batch_size=batch_size, progress=progress)
            return frame_ids, np.concatenate(list(chunks)) if len(frame_ids) else np.zeros((0, *self.out_shape_), np.float32)
        windows, device, mask = self._predict_setup(windows, neuron_mask)
        batch_size = self._batch_size(batch_size)
        out_all = np.empty((len(windows), *self.out_shape_), np.float32)
        with _Threads(self.train.threads if device.type == "cpu" else None):
            for start in tqdm(range(0, len(windows), batch_size), desc="predict", unit="batch", disable=not progress):
                index = np.arange(start, min(start + batch_size, len(windows)))
                out_all[index] = self._forward(windows, index, device, mask).numpy()
        return out_all

    def predict_by_frame(self, windows: SpikeWindows, neuron_mask: np.ndarray | None = None, batch_size: int | None = None,
                         chunk_frames: int | None = None, progress: bool = False):
        """``(frame_ids, chunks)``: each frame's output averaged over its windows, as a generator of float32
        blocks of consecutive frames (in ``frame_ids`` order).

        The windows are taken frame by frame, so memory holds one block of ``chunk_frames`` frames
        (by default as many as fit in 256 MB as float32) whatever the number of frames; sums are float32.
        """
        windows, device, mask = self._predict_setup(windows, neuron_mask)
        batch_size = self._batch_size(batch_size)
        frames_all = windows.frames[windows.centres].astype(np.int64)
        order = np.argsort(frames_all, kind="stable")
        frame_ids, first, counts = np.unique(frames_all[order], return_index=True, return_counts=True)
        chunk_frames = chunk_frames or chunk_rows(self.out_shape_)

        @torch.no_grad()
        def blocks():
            bar = tqdm(total=len(windows), desc="predict", unit="window", disable=not progress)
            for f0 in range(0, len(frame_ids), chunk_frames):
                f1 = min(f0 + chunk_frames, len(frame_ids))
                members = order[first[f0]:first[f1 - 1] + counts[f1 - 1]]    # this block's windows, frame by frame
                slot = torch.from_numpy(np.repeat(np.arange(f1 - f0), counts[f0:f1]))
                sums = torch.zeros((f1 - f0, *self.out_shape_), dtype=torch.float32)
                with _Threads(self.train.threads if device.type == "cpu" else None):   # restored before each yield
                    for start in range(0, len(members), batch_size):
                        out = self._forward(windows, members[start:start + batch_size], device, mask)
                        sums.index_add_(0, slot[start:start + batch_size], out)
                        bar.update(len(out))
                yield (sums / torch.from_numpy(counts[f0:f1]).float().reshape(-1, *[1] * len(self.out_shape_))).numpy()
            bar.close()

        return frame_ids, blocks()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, made_by: str, params: Mapping[str, Any] | None = None,
             inputs: Mapping[str, str | os.PathLike] | None = None) -> Path:
        """One ``.pt`` file (weights, configs, z-score statistics, history) written atomically with a sidecar
        naming ``made_by``, the notebook that trains it."""
        self._check_fitted()
        body = {"objective": self.objective, "encoder": asdict(self.encoder), "train": asdict(self.train),
                "n_neurons": self.model_.n_neurons, "out_shape": list(self.out_shape_),
                "model": {k: v.cpu() for k, v in self.model_.state_dict().items()},
                "zscore": [torch.from_numpy(a) for a in self.zscore_],
                "classes": None if self.outputs_.classes is None else torch.from_numpy(self.outputs_.classes),
                "candidates": None if self.outputs_.candidates is None else torch.from_numpy(self.outputs_.candidates),
                "history": self.history_.to_dict(orient="list")}
        def write(tmp):   # via a buffer: torch.save names the archive after the (randomly named) temporary file
            buffer = io.BytesIO()
            torch.save(body, buffer)
            Path(tmp).write_bytes(buffer.getvalue())

        return write_artifact(path, write, made_by=made_by,
                              params={"objective": self.objective, **dict(params or {})}, inputs=inputs)

    @classmethod
    def load(cls, path: str | os.PathLike, *, made_by: str, device: str = "auto",
             params: Mapping[str, Any] | None = None) -> "SpikeDecoder":
        """A fitted decoder from :meth:`save` (the sidecar must exist; a missing or stale file names ``made_by``,
        the notebook that trains it)."""
        check_artifact(path, made_by=made_by, params=params)
        body = torch.load(path, map_location="cpu", weights_only=True)
        decoder = cls(body["objective"], EncoderConfig(**body["encoder"]), TrainConfig(**body["train"]), progress=False)
        decoder.zscore_ = tuple(t.numpy() for t in body["zscore"])
        decoder.outputs_ = Outputs(tuple(body["out_shape"]), *(None if body[k] is None else body[k].numpy()
                                                              for k in ("classes", "candidates")))
        model = decoder._build(body["n_neurons"])
        model.load_state_dict(body["model"])
        decoder.model_ = model.to(compute_device(device)).eval()
        decoder.history_ = pd.DataFrame(body["history"])
        return decoder


def fit_and_save(data, targets: TargetRows, encoder: EncoderConfig, train: TrainConfig, *, checkpoint_dir: str | os.PathLike,
                 path: str | os.PathLike, name: str, made_by: str, params: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, str | os.PathLike] | None = None, retrain: bool = False,
                 objective: str = "patches", start: SpikeDecoder | None = None) -> SpikeDecoder:
    """Train a decoder on ``data`` (a :class:`~neurrator.data.windows.RegimeWindows`) and save it at ``path``.

    A finished or interrupted run in ``checkpoint_dir`` is resumed (a finished one costs nothing);
    ``retrain`` deletes its last checkpoint first (needed after changing the training options).
    ``made_by`` (the calling notebook), ``params`` and ``inputs`` go to the saved file's sidecar
    (:meth:`SpikeDecoder.save`); ``start``: weights to fine-tune from (:meth:`SpikeDecoder.fit`)."""
    folder = Path(checkpoint_dir)
    if retrain and (folder / "last.pt").exists():
        (folder / "last.pt").unlink()
    decoder = SpikeDecoder(objective, encoder, train, checkpoint_dir=folder)
    decoder.fit(data.train, data.val, targets, name=name, start=start)
    decoder.save(path, made_by=made_by, params=params, inputs=inputs)
    return decoder


def training_summary(decoders: Mapping[str, SpikeDecoder], plateaus: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Where each fitted decoder's training ended, one row per name: epochs run of those scheduled, the best
    epoch (the weights kept) and its validation score, whether early stopping ended the run, and, for names
    in ``plateaus``, the measured plateau of that split (the best validation score of the architecture run to
    convergence) and the gap to it."""
    rows = {}
    for name, decoder in decoders.items():
        history = decoder.history_
        if history.empty:
            raise ValueError(f"decoder {name!r} has no training history: fit or load it first")
        best = int(history["val_score"].idxmax())
        row = {"epochs run": len(history), "epochs scheduled": decoder.train.max_epochs,
               "best epoch": int(history["epoch"].iloc[best]), "best validation": float(history["val_score"].iloc[best]),
               "stopped early": len(history) < decoder.train.max_epochs,
               "training (s)": float(history["seconds"].sum())}
        if plateaus and name in plateaus:
            row["plateau"] = float(plateaus[name])
            row["below plateau"] = row["plateau"] - row["best validation"]
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
