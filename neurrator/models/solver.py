"""The training loop of :class:`~neurrator.models.training.SpikeDecoder`, as CEBRA keeps its loop in ``cebra.solver``.

:class:`Solver` trains a built network on one objective (:mod:`neurrator.models.objectives`); the loop is the
same for all three. It follows the paper: AdamW (lr 3e-4, wd 1e-3), a cosine schedule over all steps, gradient
clipping at 1.0, batch 64, at most 60 epochs, early stopping (patience 12) on the validation score (mean patch
cosine for ``patches``), +-2-bin jitter and 10 % neuron dropout from :class:`SpikeWindows`. Targets stream from
the patch-target store, a batch of rows at a time. Every random draw is seeded from ``(seed, epoch)``, so a run
that resumes from its checkpoint (``last.pt``, written after every epoch) ends with the same weights as one that
was never interrupted (tested). Mixed precision is used on GPU only.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neurrator.artifacts import ArtifactError, atomic_path
from neurrator.data.windows import SpikeWindows
from neurrator.models.configs import TrainConfig
from neurrator.models.objectives import Objective, Outputs, TargetRows


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


def autocast(device: torch.device, amp: bool):
    """Mixed precision on a GPU with ``amp`` (bfloat16 where supported, else float16); full precision elsewhere."""
    if device.type == "cuda" and amp:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast(device.type, enabled=False)


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


class Solver:
    """Optimisation, early stopping, checkpoint resume / save, validation and the progress bar for one network.

    ``objective`` gives the loss and the validation score, ``outputs`` what the network predicts (its
    ``classes`` and ``candidates`` for the retrieval objectives), ``config`` the optimisation; ``progress``
    shows a bar, one step an epoch.
    """

    def __init__(self, objective: Objective, outputs: Outputs, config: TrainConfig, progress: bool = True):
        self.objective, self.outputs, self.config, self.progress = objective, outputs, config, progress

    def fit(self, model: torch.nn.Module, train: SpikeWindows, val: SpikeWindows, targets: TargetRows,
            device: torch.device, *, signature: dict, checkpoint: Path | None, resume: bool = True,
            name: str = "train") -> tuple[torch.nn.Module, list[dict]]:
        """Train ``model`` (on ``device``) until ``max_epochs`` or early stopping; ``(model with the best
        validation epoch's weights, in eval mode, history rows)``.

        ``checkpoint`` (``last.pt``, or None) is written after every epoch with ``signature`` (what the run was
        made from) inside; with ``resume`` a readable one resumes the run, and one whose signature differs raises
        :class:`~neurrator.artifacts.ArtifactError`."""
        cfg = self.config
        # on a CPU, AdamW's fused kernel (one pass per parameter instead of a Python loop of tensor operations:
        # benchmarks/training_threads.py)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                      fused=True if device.type == "cpu" else None)
        n_epoch = min(len(train), cfg.windows_per_epoch or len(train))
        steps = math.ceil(n_epoch / cfg.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps * cfg.max_epochs)
        scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp and not torch.cuda.is_bf16_supported())
        val_index = np.arange(len(val))
        if cfg.val_windows and cfg.val_windows < len(val):
            val_index = np.sort(np.random.default_rng([cfg.seed, 10**6]).choice(len(val), cfg.val_windows, replace=False))
        candidates = None if self.outputs.candidates is None else torch.from_numpy(self.outputs.candidates).to(device)

        state = {"epoch": 0, "best_score": -math.inf, "best_state": None, "bad_epochs": 0, "history": [], "finished": False,
                 "progress_score": -math.inf}
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
                                                  targets if self.objective.streams_targets else None,
                                                  background=device.type == "cuda"):
                x = x.to(device, non_blocking=True)
                with autocast(device, cfg.amp):
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
        return model.eval(), state["history"]

    def _labels(self, frames, device) -> torch.Tensor | None:
        return None if self.outputs.classes is None else self.outputs.labels(frames, device)

    def _loss(self, out, frames, truth, device, candidates) -> torch.Tensor:
        truth = None if truth is None else truth.to(device, non_blocking=True)
        return self.objective.loss(out, truth, self._labels(frames, device), candidates, self.config.temperature)

    @torch.no_grad()
    def _evaluate(self, model, val, index, targets, device, candidates) -> tuple[float, float]:
        """Validation loss and score: mean patch cosine / embedding cosine / accuracy (higher is better).

        The retrieval objectives are validated on windows of training frames only (seen in other repeats)."""
        model.eval()
        losses, scores, n = 0.0, 0.0, 0
        for start in range(0, len(index), 256):
            x, frames = val.batch(index[start:start + 256])
            if self.outputs.classes is not None:
                known = self.outputs.known(frames)
                x, frames = x[torch.from_numpy(known)], frames[known]
                if not len(frames):
                    continue
            with autocast(device, self.config.amp):
                out = model(x.to(device)).float()
            truth = torch.from_numpy(targets.rows(frames)).to(device) if self.objective.streams_targets else None
            labels = self._labels(frames, device)
            loss = self.objective.loss(out, truth, labels, candidates, self.config.temperature)
            score = self.objective.score(out, truth, labels, candidates)
            losses += float(loss) * len(frames)
            scores += float(score) * len(frames)
            n += len(frames)
        if not n:
            raise ValueError("no validation window shows a training frame: the retrieval variant cannot be validated")
        return losses / n, scores / n
