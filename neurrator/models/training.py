"""Train the spike encoders: an estimator (``fit`` / ``predict`` / ``save`` / ``load``) in the style of CEBRA.

:class:`SpikeDecoder` trains one of three objectives (:mod:`neurrator.models.objectives`: ``"patches"``,
``"infonce"``, ``"classifier"``, each with its output, loss and validation score) on the shared front end
(:mod:`neurrator.models.encoder`); the loop below is the same for all three.

Training follows the paper: AdamW (lr 3e-4, wd 1e-3), a cosine schedule over all steps, gradient
clipping at 1.0, batch 64, at most 60 epochs, early stopping (patience 12) on the validation score
(mean patch cosine for ``patches``), +-2-bin jitter and 10 % neuron dropout from :class:`SpikeWindows`.
Targets stream from the patch-target store, a batch of rows at a time. Every random draw is seeded
from ``(seed, epoch)``, so a run that resumes from its checkpoint ends with the same weights as one
that was never interrupted (tested). Mixed precision is used on GPU only.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from neurrator.artifacts import ArtifactError, atomic_path, check_artifact, write_artifact
from neurrator.config import check_profile
from neurrator.models.objectives import Outputs, TargetRows, objective as make_objective
from neurrator.runtime import compute_device
from neurrator.data.windows import SpikeWindows
from neurrator.rowfiles import chunk_rows

MADE_BY = "03_train"


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture widths (the defaults are the paper's)."""

    d_model: int = 384
    conv_channels: int = 128
    heads: int = 8
    temporal_layers: int = 2
    patch_layers: int = 2
    dropout: float = 0.2


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (the defaults are the paper's).

    ``windows_per_epoch``: a seeded sample of the training windows per epoch (None: all of them);
    ``val_windows``: a fixed seeded subset of the validation windows (None: all of them);
    ``threads``: CPU threads used while training (fixed, so results do not depend on the machine's cores);
    ``min_delta``: early stopping counts an epoch as progress only when the validation score beats the last
    counted score by more than this (0: any gain, the paper's rule); the weights kept are always the best epoch's.
    """

    lr: float = 3e-4
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 60
    patience: int = 12
    min_delta: float = 0.0
    grad_clip: float = 1.0
    jitter: int = 2
    neuron_dropout: float = 0.1
    windows_per_epoch: int | None = None
    val_windows: int | None = None
    temperature: float = 0.07
    seed: int = 0
    amp: bool = True
    device: str = "auto"
    threads: int | None = 2


#: ``paper``: the paper's encoder and schedule. ``demo``: the same architecture, narrower (d_model 128, 64 conv
#: channels), batch 16 at lr 2e-3, a cosine schedule over 15 epochs of 1024 sampled windows (960 steps), early
#: stopping after 3 epochs that gain less than 0.003 validation cosine. Chosen on a learning curve
#: (``benchmarks/learning_curve.py`` on chapter 03's session, results/learning_curve.json) as the cheapest recipe
#: (windows seen) whose best validation cosine on the sparse-random split lies within 0.03 of its plateau: 0.77
#: against 0.80 (1,280 steps at batch 64 and lr 1e-3, 5.7x the time), held-out patch cosine 0.72 against 0.75;
#: the previous preset (6 x 1024 windows at batch 64) reached 0.50 and 0.49. How long the rate stays high
#: matters more than the windows seen: at the same 20,480 windows, batch 16 (1,280 steps) reaches 0.80, batch 32
#: 0.75, batch 64 0.66. The contiguous-middle model stops 0.07 below its plateau (0.78 vs 0.85) with the same
#: held-out cosine (0.37); chapter 05's pan-session encoder 0.02 below (0.72 vs 0.74, which a longer run then
#: loses to overfitting).
PRESETS: dict[str, tuple[EncoderConfig, TrainConfig]] = {
    "paper": (EncoderConfig(), TrainConfig()),
    "demo": (EncoderConfig(d_model=128, conv_channels=64),
             TrainConfig(lr=2e-3, batch_size=16, max_epochs=15, patience=3, min_delta=0.003, windows_per_epoch=1024,
                         val_windows=256)),
}


#: overrides of the preset for an encoder of every session's units (05_scaling's pan-session pseudo-mouse).
#: Its input layer grows with the units (1699 demo units, ~8x a single session's). The learning curve
#: (``benchmarks/learning_curve.py``, split "pan_session sparse_random") measures the demo preset against a run
#: of twice its length on this pseudo-mouse; ``demo`` overrides nothing. ``paper`` keeps the paper's schedule.
PAN_SESSION_OPTIONS: dict[str, dict[str, Any]] = {
    "paper": {},
    "demo": {},
}


#: overrides of the preset for chapter 08's MLP-Patches baseline. Its output layer (hidden 768 x 49 x 1280 on demo,
#: 48 M weights) makes each AdamW step cost about as much as a batch-64 forward and backward pass, whatever the
#: batch; so on ``demo`` it sees the preset's windows (epochs x windows per epoch) in batches of 64, a quarter of
#: the encoder's steps. ``paper`` trains it exactly as the encoder.
MLP_OPTIONS: dict[str, dict[str, Any]] = {
    "paper": {},
    "demo": {"batch_size": 64},
}


def preset(profile: str, **overrides: Any) -> tuple[EncoderConfig, TrainConfig]:
    """The profile's configs with ``overrides`` applied to whichever config has that field."""
    encoder, train = PRESETS[check_profile(profile)]
    fields_e, fields_t = set(asdict(encoder)), set(asdict(train))
    unknown = set(overrides) - fields_e - fields_t
    if unknown:
        raise ValueError(f"unknown training option(s) {sorted(unknown)}; choose from {sorted(fields_e | fields_t)}")
    return (replace(encoder, **{k: v for k, v in overrides.items() if k in fields_e}),
            replace(train, **{k: v for k, v in overrides.items() if k in fields_t}))


class ArrayTargets:
    """An in-memory ``(frames, patches, dim)`` array with the same ``rows`` interface as the target store."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)
        self.shape = self.array.shape
        self.content_hash = _fingerprint(self.array)

    def rows(self, frame_indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.asarray(self.array[np.asarray(frame_indices, dtype=np.int64)], dtype=np.float32)


def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _targets_hash(targets: TargetRows, chunk: int = 64) -> str:
    """The grids' content hash (the store's recorded SHA-256), else a hash of every row, read in chunks."""
    if getattr(targets, "content_hash", None):
        return targets.content_hash
    digest = hashlib.sha256()
    for start in range(0, targets.shape[0], chunk):
        digest.update(np.ascontiguousarray(targets.rows(np.arange(start, min(start + chunk, targets.shape[0])))).tobytes())
    return digest.hexdigest()[:16]


def _readable_checkpoint(checkpoint: Path, device) -> dict | None:
    """A training checkpoint to resume from, or None where it cannot be read (truncated or corrupt: it only saves
    time, so it is moved aside, kept for inspection, and training starts over, saying so)."""
    try:
        return torch.load(checkpoint, map_location=device, weights_only=True)
    except Exception as err:   # torch raises RuntimeError, EOFError, pickle errors ... for a broken file
        aside = checkpoint.with_name(checkpoint.name + ".unreadable")
        os.replace(checkpoint, aside)
        warnings.warn(f"training checkpoint {checkpoint} is unreadable ({type(err).__name__}: {str(err)[:120]}); "
                      f"moved to {aside.name}, training starts over", stacklevel=3)
        return None


class _Threads:
    """Fix torch's CPU thread count inside a block (restored after)."""

    def __init__(self, n: int | None):
        self.n, self.previous = n, None

    def __enter__(self):
        if self.n:
            self.previous = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.previous:
            torch.set_num_threads(self.previous)


def _prefetched(windows: SpikeWindows, order: np.ndarray, batch_size: int, targets: TargetRows | None,
                background: bool):
    """Yield ``(windows, frame ids, target grids or None)`` batch by batch. With ``background`` (on a GPU)
    the next batch is read in a thread while the current one trains; on a CPU that thread would only
    compete with the model for the same cores. The batches are the same either way."""
    def load(start: int):
        x, frames = windows.batch(order[start:start + batch_size])
        return x, frames, None if targets is None else torch.from_numpy(targets.rows(frames))

    starts = range(0, len(order), batch_size)
    if not background:
        yield from map(load, starts)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, starts[0]) if len(starts) else None
        for i in range(len(starts)):
            batch = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(load, starts[i + 1])
            yield batch


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

    def _autocast(self, device: torch.device):
        if device.type == "cuda" and self.train.amp:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return torch.autocast(device.type, enabled=False)

    # ------------------------------------------------------------------ fitting
    def fit(self, train: SpikeWindows, val: SpikeWindows, targets: TargetRows, resume: bool = True,
            name: str = "train") -> "SpikeDecoder":
        """Train on ``train`` windows, early-stop on ``val``; ``targets`` give each frame's grid (``rows``)."""
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
        self.zscore_ = (train.mean.copy(), train.std.copy())
        self.outputs_ = self._objective.setup(targets, train_frames)
        device = self._device()
        # the per-epoch dropout seeds go to a forked RNG: the caller's torch RNG is left as it was
        with _Threads(cfg.threads if device.type == "cpu" else None), \
                torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            self._fit(train, val, targets, device, resume, name)
        return self

    def _signature(self, train: SpikeWindows, val: SpikeWindows, targets: TargetRows) -> dict:
        return {"objective": self.objective, "encoder": asdict(self.encoder), "train": asdict(self.train),
                "n_neurons": int(train.counts.shape[1]), "targets_shape": list(targets.shape),
                "targets": _targets_hash(targets),
                "data": _fingerprint(train.counts, train.centres, val.centres, train.frames, train.mean, train.std)}

    def _fit(self, train, val, targets, device, resume, name):
        cfg = self.train
        model = self._build(train.counts.shape[1]).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n_epoch = min(len(train), cfg.windows_per_epoch or len(train))
        steps = math.ceil(n_epoch / cfg.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps * cfg.max_epochs)
        scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp and not torch.cuda.is_bf16_supported())
        val_index = np.arange(len(val))
        if cfg.val_windows and cfg.val_windows < len(val):
            val_index = np.sort(np.random.default_rng([cfg.seed, 10**6]).choice(len(val), cfg.val_windows, replace=False))
        candidates = None if self.outputs_.candidates is None else torch.from_numpy(self.outputs_.candidates).to(device)

        state = {"epoch": 0, "best_score": -math.inf, "best_state": None, "bad_epochs": 0, "history": [], "finished": False,
                 "progress_score": -math.inf}
        signature = self._signature(train, val, targets)
        checkpoint = self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None
        saved = _readable_checkpoint(checkpoint, device) if resume and checkpoint and checkpoint.is_file() else None
        if saved is not None:
            if saved["signature"] != signature:
                raise ArtifactError(f"checkpoint {checkpoint} was made with other data or settings; "
                                    "delete it or call fit(..., resume=False) to start over")
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            scaler.load_state_dict(saved["scaler"])
            state = saved["state"]
            state.setdefault("progress_score", state["best_score"])

        bar = tqdm(total=cfg.max_epochs, initial=state["epoch"], desc=name, unit="epoch", disable=not self.progress)
        if state["history"]:                                        # resumed: show where it stands
            bar.set_postfix(loss=f"{state['history'][-1]['train_loss']:.3f}", val=f"{state['best_score']:.3f}")
        while not state["finished"]:
            epoch = state["epoch"]
            started = time.perf_counter()
            torch.manual_seed(cfg.seed * 100_003 + epoch)          # dropout draws of this epoch
            train.set_epoch(epoch)
            order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train))[:n_epoch]
            model.train()
            total, seen = 0.0, 0
            for x, frames, truth in _prefetched(train, order, cfg.batch_size,
                                                  targets if self._objective.streams_targets else None,
                                                  background=device.type == "cuda"):
                x = x.to(device, non_blocking=True)
                with self._autocast(device):
                    loss = self._loss(model(x), frames, truth, device, candidates)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                total += loss.item() * len(frames)
                seen += len(frames)
            val_loss, val_score = self._evaluate(model, val, val_index, targets, device, candidates)
            improved = val_score > state["best_score"]
            if improved:
                state["best_score"] = val_score
                state["best_state"] = copy.deepcopy(model.state_dict())
            if val_score > state["progress_score"] + cfg.min_delta:   # progress, as early stopping counts it
                state["progress_score"] = val_score
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
            state["history"].append({"epoch": epoch + 1, "train_loss": total / seen, "val_loss": val_loss,
                                     "val_score": val_score, "lr": scheduler.get_last_lr()[0],
                                     "best": improved, "seconds": time.perf_counter() - started})
            state["epoch"] = epoch + 1
            state["finished"] = state["epoch"] >= cfg.max_epochs or state["bad_epochs"] >= cfg.patience
            if checkpoint:
                with atomic_path(checkpoint) as tmp:
                    torch.save({"signature": signature, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "state": state}, tmp)
            bar.update(1)
            bar.set_postfix(loss=f"{total / seen:.3f}", val=f"{val_score:.3f}")
        if state["finished"] and bar.n < cfg.max_epochs:
            best = max(state["history"], key=lambda row: row["val_score"])["epoch"]
            bar.set_description(f"{name}: early stop, best epoch {best}")
        bar.close()
        model.load_state_dict(state["best_state"])
        self.model_ = model.eval()
        self.history_ = pd.DataFrame(state["history"])

    def _labels(self, frames, device) -> torch.Tensor | None:
        return None if self.outputs_.classes is None else self.outputs_.labels(frames, device)

    def _loss(self, out, frames, truth, device, candidates) -> torch.Tensor:
        truth = None if truth is None else truth.to(device, non_blocking=True)
        return self._objective.loss(out, truth, self._labels(frames, device), candidates, self.train.temperature)

    @torch.no_grad()
    def _evaluate(self, model, val, index, targets, device, candidates) -> tuple[float, float]:
        """Validation loss and score: mean patch cosine / embedding cosine / accuracy (higher is better).

        The retrieval objectives are validated on windows of training frames only (seen in other repeats)."""
        model.eval()
        losses, scores, n = 0.0, 0.0, 0
        for start in range(0, len(index), 256):
            x, frames = val.batch(index[start:start + 256])
            if self.outputs_.classes is not None:
                known = self.outputs_.known(frames)
                x, frames = x[torch.from_numpy(known)], frames[known]
                if not len(frames):
                    continue
            with self._autocast(device):
                out = model(x.to(device)).float()
            truth = torch.from_numpy(targets.rows(frames)).to(device) if self._objective.streams_targets else None
            labels = self._labels(frames, device)
            loss = self._objective.loss(out, truth, labels, candidates, self.train.temperature)
            score = self._objective.score(out, truth, labels, candidates)
            losses += float(loss) * len(frames)
            scores += float(score) * len(frames)
            n += len(frames)
        if not n:
            raise ValueError("no validation window shows a training frame: the retrieval variant cannot be validated")
        return losses / n, scores / n

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
        with self._autocast(device):
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
    def save(self, path: str | os.PathLike, *, params: Mapping[str, Any] | None = None,
             inputs: Mapping[str, str | os.PathLike] | None = None) -> Path:
        """One ``.pt`` file (weights, configs, z-score statistics, history) written atomically with a sidecar."""
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

        return write_artifact(path, write, made_by=MADE_BY,
                              params={"objective": self.objective, **dict(params or {})}, inputs=inputs)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto", params: Mapping[str, Any] | None = None) -> "SpikeDecoder":
        """A fitted decoder from :meth:`save` (the sidecar must exist; a missing file names notebook 03_train)."""
        check_artifact(path, made_by=MADE_BY, params=params)
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
                 path: str | os.PathLike, name: str, params: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, str | os.PathLike] | None = None, retrain: bool = False,
                 objective: str = "patches") -> SpikeDecoder:
    """Train a decoder on ``data`` (a :class:`~neurrator.data.windows.RegimeWindows`) and save it at ``path``.

    A finished or interrupted run in ``checkpoint_dir`` is resumed (a finished one costs nothing);
    ``retrain`` deletes its last checkpoint first (needed after changing the training options).
    ``params`` and ``inputs`` go to the saved file's sidecar (:meth:`SpikeDecoder.save`)."""
    folder = Path(checkpoint_dir)
    if retrain and (folder / "last.pt").exists():
        (folder / "last.pt").unlink()
    decoder = SpikeDecoder(objective, encoder, train, checkpoint_dir=folder)
    decoder.fit(data.train, data.val, targets, name=name)
    decoder.save(path, params=params, inputs=inputs)
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
