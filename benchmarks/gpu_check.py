"""The paper profile on a GPU, one prepared check: training throughput, predictions, narrator equivalence, determinism.

One script, one JSON (default ``benchmarks/results/gpu_check.json``), sized to finish within 8 minutes on one
H100/H200-class GPU (a step not started within ``--budget-s``, 390 s, is skipped). It installs nothing and needs
nothing beyond the default install (``make env``) and the ``paper`` extra (it uses neither torchvision nor
open_clip; it records whether they are installed), downloads nothing (the hub is switched offline; the narrators
are tiny random models built locally) and runs from a clean checkout. Each step runs in its own try/except
(``status`` ok / failed / skipped, with ``error``) and the JSON is rewritten atomically after every step, so a
timeout still leaves what was measured:

- ``environment``: GPU name, driver and CUDA versions (``nvidia-smi`` where present, else torch), torch / cuDNN /
  transformers versions, whether the paper extra is installed, CPU model, git commit.
- ``train_gpu``: the ``paper`` preset's encoder (``profiles.get("paper").encoder_preset()``: d_model 384, ...) trained by the real loop,
  ``SpikeDecoder("patches").fit`` (AdamW, cosine schedule, clipping, AMP, jitter, neuron dropout, the background
  target reader), on synthetic spike counts (2,000 units, ``SpikeWindows`` from ``regime_windows``) and synthetic
  target grids (576 patches x 1,024, float16 in an ``ArrayTargets``, as the store keeps them), batch 64, one epoch of
  ``warmup + steps`` batches. Timed: the wall time of the last ``steps`` optimisation steps (a time stamp at every
  ``CosineAnnealingLR.step``, the last call of a step, after a CUDA sync); peak GPU memory
  (``torch.cuda.max_memory_allocated``) over the whole fit; the input pipeline alone (the same batches without the
  model); the forward rate of ``predict`` on validation windows. From them, the projected time of the paper's
  schedule: 60 epochs over every training window plus a validation pass per epoch, with the windows per epoch
  computed by ``split_bins`` on the timeline of a real Brain Observatory 1.1 session's natural_movie_one (900
  frames at 30 Hz, 120 Hz bins, ``--movie-repeats`` repeats in two blocks, ``--regime``, the project's 70/15/15
  repeat fractions), against the paper's report of about one hour per encoder on an A100.
- ``train_cpu``: the same fit on the CPU for ``--cpu-steps`` timed steps (the preset's 2 torch threads unless
  ``--cpu-threads``): the other side of the GPU/CPU steps-per-second ratio.
- ``predict_metrics``: chapter 03's held-out step at paper shapes with the trained decoder: ``predict_by_frame`` of
  two windows for each of ``--predict-frames`` frames streamed into ``write_predictions``, then ``mean_patch_cosine``
  (true and shuffled targets), ``linear_cka``, ``ranks_among`` / ``summarise_ranks`` and ``knn_purity`` of the
  patch-averaged grids (time, peak GPU memory, the metric values).
- ``llava_equivalence`` / ``blip2_equivalence``: the tiny random LLaVA-1.5 and BLIP-2 of the tests, loaded by
  ``LlavaBackend`` / ``Blip2Captioner`` on CUDA in float16 (their default dtype there). LLaVA: a frame's targets
  (``compute_targets``) equal the vision tower's own layer -2 without CLS on the processor's pixels, the projected
  features equal ``get_image_features``, and narrating the injected targets gives the tokens ``generate`` gives
  from the pixels. BLIP-2 (a captioner: nothing is injected): the captioner's hand-built prompt ids equal the ids
  the model builds itself, its captions equal the model's own ``generate`` from pixels, and so do the first step's
  logits. Differences are gated at 16 float16 ulps of the reference's largest value (float32: 2^-16); frames are
  compared one at a time (batched results are recorded, not gated: batch shapes pick other kernels).
- ``determinism``: two CUDA fits of a small encoder with the same seed (AMP on): bitwise equal or not, and the
  largest absolute difference of the weights.

The builders of the tiny narrators come from the tests: ``tests/tiny_llava.py`` (``build_tiny_llava``) and
``tests/tiny_models.py`` (``build_tiny_blip2``); this script puts ``tests/`` on ``sys.path`` to import them.

``--cpu-smoke`` runs every step at toy sizes (a tiny encoder, 49 patches x 32, 50 units, a couple of steps) on
the CPU in well under a minute; there the "GPU" side runs on the CPU and is labelled so (``tests/test_gpu_check.py``).
Without a CUDA device (or with a CPU build of torch) the GPU steps are recorded as skipped, with the reason.

Usage: .venv/bin/python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.json] [--steps 40]
       [--warmup 5] [--cpu-steps 2] [--predict-frames 900] [--movie-repeats 20] [--regime repeat] [--only STEP ...]
       .venv/bin/python benchmarks/gpu_check.py --cpu-smoke --out /tmp/gpu_check_smoke.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # nothing is downloaded: the narrators are built locally
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check.json"
STEP_NAMES = ("environment", "train_gpu", "train_cpu", "predict_metrics", "llava_equivalence", "blip2_equivalence",
              "determinism")
#: the paper: at most 60 epochs, about one hour per encoder on an A100
PAPER_EPOCHS, PAPER_HOURS_A100 = 60, 1.0
#: natural_movie_one: 900 frames at 30 Hz, counted in 120 Hz bins; Brain Observatory 1.1 shows it 20 times in 2 blocks
MOVIE_FRAMES, MOVIE_HZ = 900, 30
#: untimed CPU training steps before the timed ones
CPU_WARMUP = 1
#: relative tolerance of the equivalence checks, as a fraction of the reference's largest absolute value (at least 1)
REL_TOL = {torch.float16: 16 * 2.0**-10, torch.bfloat16: 16 * 2.0**-7, torch.float32: 2.0**-16}


class Skip(Exception):
    """Raised by a step that cannot run here (its reason goes to the JSON)."""


@dataclass(frozen=True)
class Sizes:
    """What a run trains and predicts: the paper's shapes on a GPU, toy shapes in ``--cpu-smoke``."""

    units: int
    patches: int
    dim: int
    frames: int                 # frames of the synthetic movie (targets)
    repeats: int                # its repeats (the synthetic session's bins: frames x 4 x repeats)
    encoder: dict               # EncoderConfig overrides of the paper preset ({}: the paper's widths)
    det_units: int              # the determinism step's small encoder
    det_patches: int
    det_dim: int
    det_encoder: dict
    det_epochs: int
    det_windows: int


PAPER = Sizes(units=2000, patches=576, dim=1024, frames=MOVIE_FRAMES, repeats=4, encoder={},
              det_units=200, det_patches=144, det_dim=128, det_encoder=dict(d_model=64, conv_channels=32),
              det_epochs=2, det_windows=512)
SMOKE = Sizes(units=50, patches=49, dim=32, frames=60, repeats=4,
              encoder=dict(d_model=32, conv_channels=16, heads=4, temporal_layers=1, patch_layers=1),
              det_units=50, det_patches=49, det_dim=32,
              det_encoder=dict(d_model=32, conv_channels=16, heads=4, temporal_layers=1, patch_layers=1),
              det_epochs=2, det_windows=128)


@dataclass
class Context:
    """What the steps share: the options, the device the "GPU" side runs on and the decoder trained first."""

    args: argparse.Namespace
    sizes: Sizes
    device: str                          # "cuda", or "cpu" in smoke mode
    label: str
    shared: dict = field(default_factory=dict)

    @property
    def smoke(self) -> bool:
        return self.args.cpu_smoke

    def need_gpu(self) -> None:
        if self.device == "cuda" and not torch.cuda.is_available():
            build = torch.version.cuda
            why = f"(CUDA {build} build) sees no GPU" if build else \
                "is a CPU build; install the CUDA build of the same torch version first"
            raise Skip(f"no CUDA device: torch {torch.__version__} {why}; --cpu-smoke runs the steps on the CPU")


# ------------------------------------------------------------------ small helpers
def _round(value: float, digits: int = 4) -> float:
    return float(round(float(value), digits))


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device: str) -> dict:
    if device != "cuda":
        return {"peak_gpu_allocated_mb": None, "peak_gpu_reserved_mb": None}
    return {"peak_gpu_allocated_mb": _round(torch.cuda.max_memory_allocated() / 2**20, 1),
            "peak_gpu_reserved_mb": _round(torch.cuda.max_memory_reserved() / 2**20, 1)}


def _peak_rss_mb() -> float | None:
    try:
        return _round(int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024, 1)
    except (OSError, AttributeError):
        return None


def _tests_on_path() -> None:
    """The tiny narrators' builders live in tests/ (tiny_llava.py, tiny_models.py)."""
    tests = str(ROOT / "tests")
    if not (ROOT / "tests" / "tiny_llava.py").is_file():
        raise Skip(f"the tiny-model builders are not in {tests} (a checkout of the repository has them)")
    if tests not in sys.path:
        sys.path.insert(0, tests)


@contextlib.contextmanager
def step_stamps(device: str):
    """A time stamp at every ``CosineAnnealingLR.step`` (one at construction, then one per optimisation step: the
    last call of each step of the training loop), after a CUDA sync; the class is restored afterwards."""
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR
    original, stamps = scheduler.step, []

    def stamped(self, *args, **kwargs):
        original(self, *args, **kwargs)
        _sync(device)
        stamps.append(time.perf_counter())

    scheduler.step = stamped
    try:
        yield stamps
    finally:
        scheduler.step = original


def synthetic_session(sizes: Sizes, units: int | None = None, seed: int = 0):
    """A synthetic ``BinnedStimulus``: Poisson counts (rate 0.3 a bin) of ``units`` units over ``repeats`` back-to-back
    repeats of a ``frames``-frame movie at 4 bins a frame (30 Hz movie, 120 Hz bins)."""
    from neurrator.data.binning import BIN_HZ, BinnedStimulus

    units = units or sizes.units
    per_frame = BIN_HZ // MOVIE_HZ
    n = sizes.frames * per_frame * sizes.repeats
    counts = np.random.default_rng(seed).poisson(0.3, size=(n, units)).astype(np.uint8)
    index = np.arange(n)
    return BinnedStimulus("natural_movie_one", np.arange(units, dtype=np.int64), counts, index / BIN_HZ,
                          np.tile(np.repeat(np.arange(sizes.frames), per_frame), sizes.repeats).astype(np.int32),
                          (index // (sizes.frames * per_frame)).astype(np.int32), np.zeros(n, np.int16),
                          (index // per_frame).astype(np.int32), (index % per_frame).astype(np.int16), BIN_HZ)


def synthetic_targets(frames: int, patches: int, dim: int, seed: int = 0):
    """Standard-normal target grids stored as float16 (as the patch-target store keeps them), in an ``ArrayTargets``."""
    from neurrator.models.training import ArrayTargets

    rng = np.random.default_rng(seed)
    grids = np.empty((frames, patches, dim), np.float16)
    for start in range(0, frames, 64):
        stop = min(start + 64, frames)
        grids[start:stop] = rng.standard_normal((stop - start, patches, dim), dtype=np.float32)
    return ArrayTargets(grids)


def paper_windows(repeats: int = 20, regime: str = "repeat", blocks: int = 2, seed: int = 0) -> dict:
    """Training and validation windows of natural_movie_one on a real session's timeline: 900 frames at 30 Hz in
    120 Hz bins (4 a frame), ``repeats`` back-to-back repeats in ``blocks`` blocks apart in time, split by the
    project's ``split_bins`` (70/15/15 of the repeats; a held-out regime also holds out frames)."""
    from neurrator.data.binning import BIN_HZ
    from neurrator.data.splits import TRAIN, VAL, split_bins

    per_frame = BIN_HZ // MOVIE_HZ
    per_repeat = MOVIE_FRAMES * per_frame
    frame = np.tile(np.repeat(np.arange(MOVIE_FRAMES), per_frame), repeats)
    repeat = np.repeat(np.arange(repeats), per_repeat)
    block = np.repeat(np.arange(repeats) * blocks // repeats, per_repeat)
    bin_start = np.arange(len(frame)) / BIN_HZ + block * 3600.0     # other stimuli between the blocks
    split = split_bins(frame, repeat, bin_start, regime=regime, seed=seed, bin_width=1 / BIN_HZ)
    return {"movie_repeats": repeats, "blocks": blocks, "regime": regime,
            "training_repeats": int(len(np.unique(repeat[split.mask(TRAIN)]))),
            "train_windows": int(len(split.centres[TRAIN])), "val_windows": int(len(split.centres[VAL]))}


def projection(windows: dict, steps_per_s: float, val_windows_per_s: float | None, batch: int) -> dict:
    """Hours of the paper's schedule (60 epochs over every training window, all validation windows each epoch)."""
    steps = math.ceil(windows["train_windows"] / batch)
    train_h = PAPER_EPOCHS * steps / steps_per_s / 3600
    val_h = PAPER_EPOCHS * windows["val_windows"] / val_windows_per_s / 3600 if val_windows_per_s else None
    total = train_h + (val_h or 0.0)
    return {**windows, "steps_per_epoch": steps, "epochs": PAPER_EPOCHS, "training_hours": _round(train_h, 3),
            "validation_hours": None if val_h is None else _round(val_h, 3), "total_hours": _round(total, 3),
            "over_paper_a100_hours": _round(total / PAPER_HOURS_A100, 3)}


def _fit_for_throughput(ctx: Context, device: str, warmup: int, steps: int, threads: int | None) -> tuple:
    """The real training loop for one epoch of ``warmup + steps`` batches: ``(rates and memory, decoder, windows,
    batch size)``."""
    from neurrator.data.windows import regime_windows
    from neurrator import profiles
    from neurrator.models.training import SpikeDecoder

    if "session" not in ctx.shared:
        ctx.shared["session"] = synthetic_session(ctx.sizes)
        ctx.shared["targets"] = synthetic_targets(ctx.sizes.frames, ctx.sizes.patches, ctx.sizes.dim)
    binned, targets = ctx.shared["session"], ctx.shared["targets"]
    encoder, train = profiles.get("paper").encoder_preset(**ctx.sizes.encoder)
    batch = train.batch_size
    train = replace(train, max_epochs=1, windows_per_epoch=(warmup + steps) * batch, val_windows=batch,
                    device=device, threads=threads if threads is not None else train.threads)
    data = regime_windows(binned, "repeat", seed=train.seed, jitter=train.jitter, neuron_dropout=train.neuron_dropout)
    if len(data.train) < train.windows_per_epoch:
        raise ValueError(f"{len(data.train)} training windows for {train.windows_per_epoch} a timed epoch")
    decoder = SpikeDecoder("patches", encoder, train, progress=False)
    _reset_peak(device)
    started = time.perf_counter()
    with step_stamps(device) as stamps:
        decoder.fit(data.train, data.val, targets)
    fit_s = time.perf_counter() - started
    if len(stamps) < steps + 1:
        raise RuntimeError(f"{len(stamps)} scheduler steps recorded, expected {warmup + steps + 1}")
    step_s = np.diff(stamps[-(steps + 1):])
    amp = device == "cuda" and train.amp
    out = {"device": device, "encoder": asdict(encoder), "batch_size": batch, "units": ctx.sizes.units,
           "target_shape": [ctx.sizes.patches, ctx.sizes.dim], "amp": amp,
           "amp_dtype": (("bfloat16" if torch.cuda.is_bf16_supported() else "float16 + GradScaler") if amp else None),
           "torch_threads": train.threads if device == "cpu" else None,
           "warmup_steps": warmup, "timed_steps": steps,
           "steps_per_s": _round(steps / step_s.sum(), 3), "median_steps_per_s": _round(1 / np.median(step_s), 3),
           "windows_per_s": _round(steps * batch / step_s.sum(), 1),
           "step_seconds": [_round(t, 4) for t in step_s],
           "first_steps_seconds": _round(stamps[-(steps + 1)] - stamps[0], 3),
           "fit_seconds_incl_setup_and_validation": _round(fit_s, 3),
           "train_loss": _round(decoder.history_["train_loss"].iloc[0], 5), **_peak_mb(device)}
    return out, decoder, data, batch


# ------------------------------------------------------------------ the steps
def step_environment(ctx: Context) -> dict:
    from neurrator.book.environment import cpu_model

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    out = {"mode": "cpu-smoke" if ctx.smoke else "gpu", "device_label": ctx.label, "python": platform.python_version(),
           "platform": platform.platform(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
           "torch": torch.__version__, "torch_cuda_build": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "cuda_available": torch.cuda.is_available(),
           "packages": {name: version(name) for name in ("neurrator", "torch", "transformers", "numpy", "torchvision",
                                                         "open-clip-torch", "accelerate")},
           "paper_extra_installed": all(version(n) != "not installed" for n in ("torchvision", "open-clip-torch"))}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(gpu_name=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                   gpu_capability=f"{props.major}.{props.minor}", gpu_memory_gb=_round(props.total_memory / 2**30, 1),
                   bf16_supported=torch.cuda.is_bf16_supported())
        with contextlib.suppress(Exception):
            value = torch._C._cuda_getDriverVersion()            # e.g. 12080: the driver's CUDA API version
            out["driver_cuda_version_torch"] = f"{value // 1000}.{value % 1000 // 10}"
    try:
        query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30)
        header = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
        rows = [[c.strip() for c in line.split(",")] for line in query.stdout.strip().splitlines() if line.strip()]
        if query.returncode == 0 and rows:
            out.update(nvidia_smi_gpu=rows[0][0], driver_version=rows[0][1], nvidia_smi_memory=rows[0][2])
        cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
        out["driver_cuda_version"] = cuda.group(1) if cuda else out.get("driver_cuda_version_torch")
    except (OSError, subprocess.SubprocessError) as err:
        out["nvidia_smi"] = f"unavailable ({type(err).__name__})"
        out["driver_cuda_version"] = out.get("driver_cuda_version_torch")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10)
        if git.returncode == 0:
            out["git_commit"], out["git_dirty"] = git.stdout.strip(), bool(dirty.stdout.strip())
    return out


def step_train_gpu(ctx: Context) -> dict:
    ctx.need_gpu()
    args = ctx.args
    out, decoder, data, batch = _fit_for_throughput(ctx, ctx.device, args.warmup, args.steps, None)
    ctx.shared.update(decoder=decoder, data=data, gpu_steps_per_s=out["steps_per_s"])

    # the input pipeline alone: the same kind of batches (windows + target rows), no model
    targets = ctx.shared["targets"]
    order = np.random.default_rng(1).permutation(len(data.train))
    started = time.perf_counter()
    for i in range(args.steps):
        _, frames = data.train.batch(order[i * batch:(i + 1) * batch])
        targets.rows(frames)
    out["data_only_steps_per_s"] = _round(args.steps / (time.perf_counter() - started), 3)
    # near 1: the loop runs as fast as its input pipeline alone (input-bound); well below 1: compute-bound
    out["steps_per_s_over_data_only"] = _round(out["steps_per_s"] / out["data_only_steps_per_s"], 3)

    # validation's forward rate (predict: forward + copy to the host, so slower than validation's own pass)
    n_val = min(len(data.val), 4 * batch)
    from neurrator.data.windows import SpikeWindows
    val = SpikeWindows(data.val.counts, data.val.frames, data.val.centres[:n_val], data.val.mean, data.val.std)
    decoder.predict(val)                                             # warm-up
    _sync(ctx.device)
    started = time.perf_counter()
    decoder.predict(val)
    _sync(ctx.device)
    out["val_forward_windows_per_s"] = _round(n_val / (time.perf_counter() - started), 1)
    ctx.shared["val_windows_per_s"] = out["val_forward_windows_per_s"]

    assumed = paper_windows(args.movie_repeats, args.regime)
    out["paper_schedule"] = {
        "assumption": (
            f"windows per epoch = the training windows of natural_movie_one on a real Brain Observatory 1.1 timeline: "
            f"{MOVIE_FRAMES} frames at {MOVIE_HZ} Hz in 120 Hz bins, {args.movie_repeats} repeats in 2 blocks, regime "
            f"{args.regime!r} (split_bins, 70/15/15 of the repeats, seed 0), 20-bin windows; {PAPER_EPOCHS} epochs (no "
            "early stop), every validation window each epoch, validation timed from predict's forward rate; "
            "checkpoint writes not counted. The paper reports about 1 hour per encoder on an A100."
            + (" Smoke mode: toy rates, not a projection of anything." if ctx.smoke else "")),
        "paper_reported_hours_a100": PAPER_HOURS_A100,
        **projection(assumed, out["steps_per_s"], out["val_forward_windows_per_s"], batch),
        "alternatives": [projection(paper_windows(r, g), out["steps_per_s"], out["val_forward_windows_per_s"], batch)
                         for r in (10, 20) for g in ("repeat", "sparse_random")
                         if (r, g) != (args.movie_repeats, args.regime)],
    }
    out["peak_host_rss_mb"] = _peak_rss_mb()
    return out


def step_train_cpu(ctx: Context) -> dict:
    ctx.need_gpu()                                   # without a GPU side the ratio has nothing to compare
    out, _, _, _ = _fit_for_throughput(ctx, "cpu", CPU_WARMUP, ctx.args.cpu_steps, ctx.args.cpu_threads)
    if "gpu_steps_per_s" in ctx.shared:
        out["gpu_over_cpu_steps_per_s"] = _round(ctx.shared["gpu_steps_per_s"] / out["steps_per_s"], 2)
    out["peak_host_rss_mb"] = _peak_rss_mb()
    return out


def step_predict_metrics(ctx: Context) -> dict:
    ctx.need_gpu()
    from neurrator.data.windows import SpikeWindows, sample_per_frame
    from neurrator.data.splits import contiguous_runs, window_centres, zscore_stats
    from neurrator.evaluation import metrics
    from neurrator.models.objectives import Outputs, pooled_targets
    from neurrator.models.predictions import read_predictions, write_predictions
    from neurrator import profiles
    from neurrator.models.training import SpikeDecoder
    from neurrator.rowfiles import select

    if "session" not in ctx.shared:
        ctx.shared["session"] = synthetic_session(ctx.sizes)
        ctx.shared["targets"] = synthetic_targets(ctx.sizes.frames, ctx.sizes.patches, ctx.sizes.dim)
    binned, targets = ctx.shared["session"], ctx.shared["targets"]
    decoder = ctx.shared.get("decoder")
    trained = decoder is not None
    if decoder is None:   # train_gpu did not run: the same network with its initial weights (time and memory do not
        # depend on training), set up as benchmarks/predict_memory.py does
        encoder, train = profiles.get("paper").encoder_preset(**ctx.sizes.encoder)
        decoder = SpikeDecoder("patches", encoder, replace(train, device=ctx.device), progress=False)
        decoder.outputs_ = Outputs((ctx.sizes.patches, ctx.sizes.dim))
        decoder.zscore_ = zscore_stats(binned.counts, np.ones(binned.n_bins, bool))
        decoder.model_ = decoder._build(ctx.sizes.units).to(ctx.device).eval()
    mean, std = decoder.zscore_
    n_frames = min(ctx.args.predict_frames, ctx.sizes.frames)
    centres = window_centres(np.ones(binned.n_bins, bool), contiguous_runs(binned.bin_start, 1 / binned.bin_hz))
    centres = centres[binned.frame[centres] < n_frames]
    windows = sample_per_frame(SpikeWindows(binned.counts, binned.frame, centres, mean, std), 2)
    out = {"device": ctx.device, "decoder": "trained by train_gpu (one short epoch)" if trained else "initial weights",
           "frames": n_frames, "windows": len(windows), "grid": [ctx.sizes.patches, ctx.sizes.dim]}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        _reset_peak(ctx.device)
        started = time.perf_counter()
        frame_ids, blocks = decoder.predict_by_frame(windows)
        path = write_predictions(Path(work) / "predictions.npz", frame_ids, blocks, made_by="03_train", out_shape=decoder.out_shape_)
        _sync(ctx.device)
        out["predict_and_write_seconds"] = _round(time.perf_counter() - started, 3)
        out["predict_windows_per_s"] = _round(len(windows) / out["predict_and_write_seconds"], 1)
        out.update(_peak_mb(ctx.device))
        started = time.perf_counter()
        predicted = read_predictions(path, made_by="03_train")
        grids = predicted.outputs
        shuffle = np.random.default_rng(0).permutation(len(frame_ids))
        pooled_all = pooled_targets(targets, np.arange(n_frames))
        pooled = metrics.patch_means(grids)
        ranks = metrics.ranks_among(pooled, pooled_all, frame_ids)
        labels = frame_ids % 20
        values = {"patch_cosine": metrics.mean_patch_cosine(grids, select(targets, frame_ids)),
                  "patch_cosine_shuffled": metrics.mean_patch_cosine(grids, select(targets, frame_ids[shuffle])),
                  "cka": metrics.linear_cka(pooled, pooled_all[frame_ids]),
                  "cka_shuffled": metrics.linear_cka(pooled, pooled_all[frame_ids][shuffle]),
                  "knn_purity": metrics.knn_purity(pooled, labels, k=min(5, len(labels) - 1)),
                  **{f"retrieval_{k}": v for k, v in metrics.summarise_ranks(ranks, len(pooled_all)).items()}}
        out["metrics_seconds"] = _round(time.perf_counter() - started, 3)
    out["metrics"] = {k: _round(v, 5) for k, v in values.items()}
    if not all(np.isfinite(v) for v in out["metrics"].values()):
        raise ValueError(f"non-finite metric(s): {out['metrics']}")
    out["peak_host_rss_mb"] = _peak_rss_mb()
    return out


def _max_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(largest |a - b|, largest |b|) in float64; NaN where either holds a non-finite value."""
    a = torch.as_tensor(np.asarray(a.detach().float().cpu() if torch.is_tensor(a) else a), dtype=torch.float64)
    b = torch.as_tensor(np.asarray(b.detach().float().cpu() if torch.is_tensor(b) else b), dtype=torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return float("nan"), float("nan")
    return float((a - b).abs().max()), float(b.abs().max())


def _verdict(out: dict, dtype: torch.dtype, checks: dict[str, tuple[float, float]], equal: dict[str, bool]) -> dict:
    """``passed`` when every numeric difference is within the dtype's tolerance and every exact check holds."""
    rel = REL_TOL[dtype]
    failures = []
    for name, (diff, scale) in checks.items():
        tol = rel * max(scale, 1.0) if np.isfinite(scale) else float("nan")
        out[f"{name}_max_abs_diff"], out[f"{name}_tolerance"] = diff, tol
        if not diff <= tol:                              # NaN fails too
            failures.append(f"{name}: max |diff| {diff:.3g} > tolerance {tol:.3g}")
    for name, ok in equal.items():
        out[name] = bool(ok)
        if not ok:
            failures.append(f"{name} is False")
    out["relative_tolerance"] = rel
    out["passed"] = not failures
    if failures:
        out["mismatch"] = "; ".join(failures)
    return out


def _require_transformers(model_class: str, what: str) -> None:
    """Put ``tests/`` on the path (the tiny model builders) and skip the step where transformers lacks the model."""
    _tests_on_path()
    try:
        import transformers

        getattr(transformers, model_class)
    except (ImportError, AttributeError) as err:
        raise Skip(f"transformers' {what} does not import here: {err}") from err


def llava_equivalence(work: str | Path, device: str = "cuda", dtype: torch.dtype | None = None, n_frames: int = 5,
                      max_new_tokens: int = 8, corrupt: bool = False) -> dict:
    """The tiny LLaVA on ``device``: injected targets against the vision tower's own path (see module docstring).

    ``corrupt``: inject each frame the next frame's targets instead of its own; the check must then fail."""
    _require_transformers("LlavaForConditionalGeneration", "LLaVA")
    from tiny_llava import build_tiny_llava

    from neurrator.vlm.base import processor_fill, square_field_of_view
    from neurrator.vlm.llava import LlavaBackend

    path = build_tiny_llava(Path(work) / "tiny_llava")
    backend = LlavaBackend(str(path), device=device, dtype=dtype, max_new_tokens=max_new_tokens)
    model, processor = backend.model, backend.processor
    frames = np.random.default_rng(0).integers(0, 256, size=(n_frames, 40, 48), dtype=np.uint8)
    batched = backend.compute_targets(frames)                             # the project's path, frames batched
    single = np.concatenate([backend.compute_targets(f[None]) for f in frames])
    injected = np.roll(single, 1, axis=0) if corrupt else single
    grid_diff, feature_diff, own_tokens, injected_tokens = [], [], [], []
    prompt_equal = True
    for i, frame in enumerate(frames):
        image = square_field_of_view(frame[None], backend.field_of_view, processor_fill(processor.image_processor))[0]
        inputs = processor(text=backend.prompt, images=image, return_tensors="pt")
        prompt_equal &= torch.equal(backend.prompt_inputs["input_ids"].cpu(), inputs["input_ids"])
        inputs = {k: v.to(device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(backend.dtype)
        with torch.no_grad():
            hidden = model.model.vision_tower(inputs["pixel_values"], output_hidden_states=True).hidden_states
            own = hidden[backend.layer][0, 1:]
            own_features = model.model.get_image_features(
                pixel_values=inputs["pixel_values"], vision_feature_layer=backend.layer,
                vision_feature_select_strategy="default").pooler_output[0]
            injected_features = model.model.multi_modal_projector(
                torch.from_numpy(injected[i:i + 1]).to(device, backend.dtype))[0]
            generated = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens)
        grid_diff.append(_max_diff(injected[i], own))
        feature_diff.append(_max_diff(injected_features, own_features))
        own_tokens.append(backend._until_eos(generated[0, inputs["input_ids"].shape[1]:].tolist()))
        injected_tokens.append(backend.narrate_token_ids(injected[i:i + 1])[0])
    batched_tokens = backend.narrate_token_ids(np.roll(batched, 1, axis=0) if corrupt else batched)
    worst = lambda pairs: (max(d for d, _ in pairs), max(s for _, s in pairs))   # noqa: E731
    out = {"device": str(backend.device), "dtype": str(backend.dtype).removeprefix("torch."), "frames": n_frames,
           "grid_shape": list(backend.grid_shape), "corrupted": corrupt,
           "frames_with_equal_tokens": sum(a == b for a, b in zip(injected_tokens, own_tokens)),
           "batched_frames_with_equal_tokens": sum(a == b for a, b in zip(batched_tokens, own_tokens)),
           "batched_targets_max_abs_diff": _max_diff(batched, single)[0],
           "tokens_nonempty": all(len(t) > 0 for t in own_tokens)}
    checks = {"targets": worst(grid_diff), "projected_features": worst(feature_diff)}
    return _verdict(out, backend.dtype, checks, {"prompt_ids_equal": prompt_equal,
                                                  "tokens_equal": injected_tokens == own_tokens})


def blip2_equivalence(work: str | Path, device: str = "cuda", dtype: torch.dtype | None = None, n_frames: int = 5,
                      max_new_tokens: int = 5, corrupt: bool = False) -> dict:
    """The tiny BLIP-2 on ``device``: the captioner's path against the model's own ``generate`` from pixels.

    ``corrupt``: the captioner is given each frame's neighbour instead; the check must then fail."""
    _require_transformers("Blip2ForConditionalGeneration", "BLIP-2")
    from tiny_models import build_tiny_blip2

    from neurrator.vlm.base import processor_fill, square_field_of_view
    from neurrator.vlm.blip2 import Blip2Captioner

    path = build_tiny_blip2(Path(work) / "tiny_blip2")
    captioner = Blip2Captioner(str(path), device=device, dtype=dtype, max_new_tokens=max_new_tokens)
    model, processor = captioner.model, captioner.processor
    frames = np.random.default_rng(0).integers(0, 256, size=(n_frames, 40, 48, 3), dtype=np.uint8)
    given = np.roll(frames, 1, axis=0) if corrupt else frames
    rgb = square_field_of_view(given, captioner.field_of_view, processor_fill(processor.image_processor))
    own_rgb = square_field_of_view(frames, captioner.field_of_view, processor_fill(processor.image_processor))

    def generate(images: np.ndarray, input_ids: torch.Tensor | None):
        pixel_values = processor.image_processor(images=list(images), return_tensors="pt").pixel_values
        kwargs = {} if input_ids is None else {"input_ids": input_ids.to(device),
                                               "attention_mask": torch.ones_like(input_ids).to(device)}
        with torch.no_grad():
            return model.generate(pixel_values=pixel_values.to(device, captioner.dtype), do_sample=False, num_beams=1,
                                  max_new_tokens=max_new_tokens, output_logits=True, return_dict_in_generate=True,
                                  **kwargs)

    prompt = captioner._prompt_ids                                       # the captioner's hand-built ids
    logit_diff, own_captions, captions = [], [], []
    prompt_equal = True
    for i in range(n_frames):
        own = generate(own_rgb[i:i + 1], None)                           # the model builds its own prompt ids
        ours = generate(rgb[i:i + 1], prompt)
        sequence = own.sequences[0].cpu()
        starts = len(sequence) >= prompt.shape[1] and torch.equal(sequence[:prompt.shape[1]], prompt[0])
        prompt_equal &= starts                                           # transformers 5 returns prompt + new ids
        new = sequence[prompt.shape[1]:] if starts else sequence
        own_captions.append(processor.tokenizer.decode(new, skip_special_tokens=True).strip())
        logit_diff.append(_max_diff(ours.logits[0], own.logits[0]))
        captions.append(captioner.caption(given[i:i + 1])[0])            # the project's path, one frame
    batched = captioner.caption(given, batch_size=n_frames)
    out = {"device": str(captioner.device), "dtype": str(captioner.dtype).removeprefix("torch."), "frames": n_frames,
           "corrupted": corrupt, "frames_with_equal_captions": sum(a == b for a, b in zip(captions, own_captions)),
           "batched_frames_with_equal_captions": sum(a == b for a, b in zip(batched, own_captions)),
           "captions_nonempty": sum(bool(c) for c in own_captions)}
    checks = {"first_step_logits": (max(d for d, _ in logit_diff), max(s for _, s in logit_diff))}
    return _verdict(out, captioner.dtype, checks, {"prompt_ids_equal": bool(prompt_equal),
                                                    "captions_equal": captions == own_captions})


def step_llava(ctx: Context) -> dict:
    ctx.need_gpu()
    with tempfile.TemporaryDirectory(prefix="gpu-check-llava-") as work:
        return llava_equivalence(work, device=ctx.device)


def step_blip2(ctx: Context) -> dict:
    ctx.need_gpu()
    with tempfile.TemporaryDirectory(prefix="gpu-check-blip2-") as work:
        return blip2_equivalence(work, device=ctx.device)


def step_determinism(ctx: Context) -> dict:
    """Two fits of a small encoder with the same seed and data on the device (AMP on a GPU)."""
    ctx.need_gpu()
    from neurrator.data.windows import regime_windows
    from neurrator import profiles
    from neurrator.models.training import SpikeDecoder

    s = ctx.sizes
    small = replace(s, frames=min(s.frames, 120), repeats=4)
    binned = synthetic_session(small, units=s.det_units, seed=1)
    targets = synthetic_targets(small.frames, s.det_patches, s.det_dim, seed=1)
    encoder, train = profiles.get("paper").encoder_preset(**s.det_encoder)
    train = replace(train, max_epochs=s.det_epochs, windows_per_epoch=s.det_windows, val_windows=64, device=ctx.device)
    data = regime_windows(binned, "repeat", seed=train.seed, jitter=train.jitter, neuron_dropout=train.neuron_dropout)
    runs = []
    for _ in range(2):
        decoder = SpikeDecoder("patches", encoder, train, progress=False).fit(data.train, data.val, targets)
        runs.append(({k: v.detach().float().cpu() for k, v in decoder.model_.state_dict().items()},
                     decoder.history_[["train_loss", "val_score"]].to_numpy()))
    (a, history_a), (b, history_b) = runs
    bitwise = all(torch.equal(a[k], b[k]) for k in a)
    return {"device": ctx.device, "amp": ctx.device == "cuda" and train.amp, "encoder": asdict(encoder),
            "units": s.det_units, "target_shape": [s.det_patches, s.det_dim], "epochs": s.det_epochs,
            "windows_per_epoch": s.det_windows, "bitwise_equal": bitwise,
            "max_abs_weight_diff": max(float((a[k] - b[k]).abs().max()) for k in a),
            "history_equal": bool(np.array_equal(history_a, history_b)),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}


def over_budget(ctx: Context) -> dict:
    raise Skip(f"not started: the time budget (--budget-s {ctx.args.budget_s:.0f}) was spent")


STEPS: dict[str, Callable[[Context], dict]] = {
    "environment": step_environment, "train_gpu": step_train_gpu, "train_cpu": step_train_cpu,
    "predict_metrics": step_predict_metrics, "llava_equivalence": step_llava, "blip2_equivalence": step_blip2,
    "determinism": step_determinism,
}


# ------------------------------------------------------------------ running and reporting
def write_report(report: dict, out: Path) -> None:
    from neurrator.artifacts import write_text_atomic

    write_text_atomic(out, json.dumps(report, indent=2, default=str) + "\n")


def run_step(report: dict, name: str, fn: Callable[[], dict], out: Path) -> dict:
    """Run one step, record ``status`` (ok / failed / skipped), ``error`` and ``seconds``, rewrite the JSON."""
    started = time.perf_counter()
    try:
        result = fn()
        if result.get("passed") is False:
            result = {"status": "failed", "error": result.get("mismatch", "check failed"), **result}
        else:
            result = {"status": "ok", "error": None, **result}
    except Skip as reason:
        result = {"status": "skipped", "error": str(reason)}
    except Exception as err:   # noqa: BLE001 -- one failing step must not lose the others
        result = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                  "traceback": traceback.format_exc()[-3000:]}
    gc.collect()                                   # what a failed step held (an out-of-memory error's tensors)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    result["seconds"] = _round(time.perf_counter() - started, 2)
    report["steps"][name] = result
    report["elapsed_seconds"] = _round(time.time() - report["started_unix"], 1)
    write_report(report, out)
    return result


def summary_rows(report: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, r in report["steps"].items():
        if r["status"] != "ok":
            detail = (r.get("error") or "")[:90]
        elif name == "environment":
            detail = f"{r.get('gpu_name', 'no GPU')}; driver {r.get('driver_version', '-')}; torch {r['torch']}"
        elif name in ("train_gpu", "train_cpu"):
            detail = f"{r['steps_per_s']} steps/s ({r['windows_per_s']} windows/s)"
            if r.get("peak_gpu_allocated_mb") is not None:
                detail += f", peak {r['peak_gpu_allocated_mb']:.0f} MB"
            if "paper_schedule" in r:
                detail += f", paper schedule ~{r['paper_schedule']['total_hours']} h"
            if "gpu_over_cpu_steps_per_s" in r:
                detail += f", GPU/CPU {r['gpu_over_cpu_steps_per_s']}x"
        elif name == "predict_metrics":
            detail = (f"{r['windows']} windows in {r['predict_and_write_seconds']} s, "
                      f"metrics {r['metrics_seconds']} s, cosine {r['metrics']['patch_cosine']}")
        elif name in ("llava_equivalence", "blip2_equivalence"):
            diffs = {k.removesuffix("_max_abs_diff"): v for k, v in r.items() if k.endswith("_max_abs_diff")
                     and not k.startswith("batched")}
            detail = f"{r['dtype']}; " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items())
        elif name == "determinism":
            detail = "bitwise equal" if r["bitwise_equal"] else f"max |weight diff| {r['max_abs_weight_diff']:.3g}"
        else:
            detail = ""
        rows.append((name, r["status"], f"{r['seconds']:.1f}", detail))
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON to write (default %(default)s)")
    parser.add_argument("--cpu-smoke", action="store_true", help="toy sizes, every step on the CPU (about 20 s)")
    parser.add_argument("--steps", type=int, default=None, help="timed GPU training steps (default 40; smoke 2)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps first (default 5; smoke 1)")
    parser.add_argument("--cpu-steps", type=int, default=2, help="timed CPU training steps (after 1 warm-up step)")
    parser.add_argument("--cpu-threads", type=int, default=None, help="torch threads of the CPU side (default: the "
                                                                      "preset's, 2)")
    parser.add_argument("--predict-frames", type=int, default=MOVIE_FRAMES, help="frames predicted (2 windows each)")
    parser.add_argument("--movie-repeats", type=int, default=20, help="natural_movie_one repeats assumed for the "
                                                                      "paper schedule (Brain Observatory 1.1: 20)")
    parser.add_argument("--regime", default="repeat", help="split of the assumed session (repeat, sparse_random, ...)")
    parser.add_argument("--only", nargs="+", choices=STEP_NAMES, help="run only these steps (environment always runs)")
    parser.add_argument("--budget-s", type=float, default=390, help="steps not started within this many seconds are "
                                                                    "skipped (default %(default)s)")
    args = parser.parse_args(argv)
    args.steps = args.steps or (2 if args.cpu_smoke else 40)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.cpu_smoke else 5)
    if args.cpu_smoke:
        ctx = Context(args, SMOKE, "cpu", "cpu (smoke mode: the GPU side runs on the CPU, toy sizes)")
    else:
        ctx = Context(args, PAPER, "cuda", "cuda (paper shapes)")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    report = {"script": "benchmarks/gpu_check.py", "mode": "cpu-smoke" if args.cpu_smoke else "gpu",
              "device_label": ctx.label, "started": now, "started_unix": time.time(),
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "sizes": asdict(ctx.sizes), "steps": {}}
    wanted = set(args.only or STEP_NAMES) | {"environment"}
    for name, fn in STEPS.items():
        if name not in wanted:
            continue
        if time.time() - report["started_unix"] > args.budget_s:
            fn = over_budget
        run_step(report, name, lambda fn=fn: fn(ctx), args.out)
        print(f"{name}: {report['steps'][name]['status']} ({report['steps'][name]['seconds']:.1f} s)", flush=True)
    report["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_report(report, args.out)

    rows = summary_rows(report)
    widths = [max(len(r[i]) for r in rows + [("step", "status", "s", "")]) for i in range(3)]
    print(f"\n{'step':<{widths[0]}}  {'status':<{widths[1]}}  {'s':>{widths[2]}}  result ({ctx.label})")
    for name, status, seconds, detail in rows:
        print(f"{name:<{widths[0]}}  {status:<{widths[1]}}  {seconds:>{widths[2]}}  {detail}")
    print("saved", args.out)
    return report


if __name__ == "__main__":
    main()
