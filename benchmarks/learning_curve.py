"""The encoder's learning curve: validation cosine against optimiser steps, per learning rate and schedule length.

Chapter 03's encoder of the sparse-random split (interpolation: held-out frames lie between training frames)
and of the contiguous-middle split (extrapolation: 200 held-out frames in one block) is trained from scratch
under several recipes, each in a fresh process (seed 0, 2 threads, the demo widths: d_model 128, 64 conv
channels). A recipe is a learning rate, a cosine schedule's length (its horizon, which sets how long the rate
stays high) and the windows sampled per epoch (how often validation runs). Early stopping is switched off
(patience above the epochs) so that every curve runs to its horizon; where the preset's early stopping would
have fired is computed from the same curve. Per recipe: the validation patch cosine after every epoch, the
fit time, the best epoch, and the held-out patch cosine of the best epoch's model (frames averaged over
their test windows, as every chapter does). Ridge and PCA + KNN (chapter 08's baselines) are fitted on the
same training windows and scored on the same validation and held-out frames: the horizontal lines.

The plateau of a split is the best validation cosine any of its runs reached; the demo preset is chosen as the
cheapest recipe (fewest windows passed through the model: optimiser steps x batch) whose best validation
cosine is within ``MARGIN`` of it.

Usage: .venv/bin/python benchmarks/learning_curve.py [--data-dir DIR] [--session ID] [--only NAME ...]
(about 30 minutes on two cores). Inputs (demo): notebooks 01_preprocess and 02_targets.
Writes results/learning_curve.json (after every recipe, so an interrupted run keeps what it measured) and
results/learning_curve.png.
"""

from __future__ import annotations

import argparse
import json
import platform

from measure import RESULTS, run_isolated, save

#: how far below the plateau (the best validation cosine any run of the split reached) the preset may stay: about the
#: spread of validation cosine between neighbouring epochs at the plateau, and below the 0.05 tolerance
#: within which chapters' cosines are compared across machines
MARGIN = 0.03

#: name: (split, overrides of profiles.get("demo").encoder_preset()); patience is set above the epochs in every run, and every recipe names
#: its batch (the preset's own changed with this measurement)
RECIPES = {
    "sparse_random · lr 2e-3 · 6 x 1024 (old preset)": ("sparse_random", {"batch_size": 64, "lr": 2e-3, "max_epochs": 6, "windows_per_epoch": 1024}),
    "sparse_random · lr 1e-3 · 40 x 2048": ("sparse_random", {"batch_size": 64, "lr": 1e-3, "max_epochs": 40, "windows_per_epoch": 2048}),
    "sparse_random · lr 1e-3 · 20 x 2048": ("sparse_random", {"batch_size": 64, "lr": 1e-3, "max_epochs": 20, "windows_per_epoch": 2048}),
    "sparse_random · lr 1e-3 · 10 x 2048": ("sparse_random", {"batch_size": 64, "lr": 1e-3, "max_epochs": 10, "windows_per_epoch": 2048}),
    "sparse_random · lr 2e-3 · 20 x 2048": ("sparse_random", {"batch_size": 64, "lr": 2e-3, "max_epochs": 20, "windows_per_epoch": 2048}),
    "sparse_random · lr 2e-3 · 10 x 2048": ("sparse_random", {"batch_size": 64, "lr": 2e-3, "max_epochs": 10, "windows_per_epoch": 2048}),
    "sparse_random · lr 3e-3 · 10 x 2048": ("sparse_random", {"batch_size": 64, "lr": 3e-3, "max_epochs": 10, "windows_per_epoch": 2048}),
    "sparse_random · lr 2e-3 · 20 x 1024": ("sparse_random", {"batch_size": 64, "lr": 2e-3, "max_epochs": 20, "windows_per_epoch": 1024}),
    # half the windows per step: does the curve follow the steps or the windows seen?
    "sparse_random · lr 2e-3 · batch 32 · 20 x 1024": ("sparse_random", {"lr": 2e-3, "batch_size": 32, "max_epochs": 20,
                                                                        "windows_per_epoch": 1024}),
    "sparse_random · lr 1e-3 · batch 32 · 20 x 1024": ("sparse_random", {"lr": 1e-3, "batch_size": 32, "max_epochs": 20,
                                                                        "windows_per_epoch": 1024}),
    "sparse_random · lr 2e-3 · batch 16 · 20 x 1024": ("sparse_random", {"lr": 2e-3, "batch_size": 16, "max_epochs": 20,
                                                                        "windows_per_epoch": 1024}),
    "sparse_random · lr 2e-3 · batch 16 · 12 x 1024": ("sparse_random", {"lr": 2e-3, "batch_size": 16, "max_epochs": 12,
                                                                        "windows_per_epoch": 1024}),
    "sparse_random · lr 2e-3 · batch 16 · 15 x 1024": ("sparse_random", {"lr": 2e-3, "batch_size": 16, "max_epochs": 15,
                                                                        "windows_per_epoch": 1024}),
    "contiguous_middle · lr 2e-3 · batch 16 · 40 x 1024": ("contiguous_middle", {"lr": 2e-3, "batch_size": 16,
                                                                                "max_epochs": 40, "windows_per_epoch": 1024}),
    "contiguous_middle · lr 2e-3 · batch 16 · 15 x 1024": ("contiguous_middle", {"lr": 2e-3, "batch_size": 16,
                                                                                "max_epochs": 15, "windows_per_epoch": 1024}),
    # chapter 05's pseudo-mouse of every session's units (its input layer is ~8x a single session's)
    "pan_session sparse_random · lr 2e-3 · batch 16 · 15 x 1024": ("pan_session sparse_random", {
        "lr": 2e-3, "batch_size": 16, "max_epochs": 15, "windows_per_epoch": 1024}),
    "pan_session sparse_random · lr 2e-3 · batch 16 · 40 x 1024": ("pan_session sparse_random", {
        "lr": 2e-3, "batch_size": 16, "max_epochs": 40, "windows_per_epoch": 1024}),
}

#: the split's binned movie and its targets (``binned``, ``targets``, ``session``, ``regime``), in both scenarios
LOAD = """
import time
import numpy as np
from neurrator.data import allen
from neurrator.data.binning import BinnedStimulus
from neurrator.data.windows import regime_windows
from neurrator.evaluation import metrics
from neurrator.layout import DataLayout
from neurrator.rowfiles import select
from neurrator.vlm.targets import PatchTargetStore

layout = DataLayout.resolve({data_dir!r}, "demo")
session = {session!r}
population, _, regime = {regime!r}.rpartition(" ")
if population == "pan_session":   # chapter 05's pseudo-mouse of every session's units
    from neurrator.data.pseudomice import pan_session_mouse
    binned, session = pan_session_mouse(layout, "natural_movie_one").as_binned(), "pan_session"
else:
    if session is None:   # chapter 03's default
        session = int(allen.session_pools(layout)["visual units"].idxmax())
    binned = BinnedStimulus.of_session(layout, session, "natural_movie_one")
targets = PatchTargetStore(layout.targets).open("natural_movie_one")
"""

TRAIN = LOAD + """
from neurrator import profiles
from neurrator.models.training import SpikeDecoder

overrides = {overrides!r}
encoder, train = profiles.get("demo").encoder_preset(**{{**overrides, "patience": overrides["max_epochs"] + 1}})
data = regime_windows(binned, regime, seed=0, jitter=train.jitter, neuron_dropout=train.neuron_dropout)
decoder = SpikeDecoder("patches", encoder, train, progress=False)
started = time.perf_counter()
decoder.fit(data.train, data.val, targets, resume=False)
fit_seconds = time.perf_counter() - started
frame_ids, blocks = decoder.predict_by_frame(data.test)
grids = np.concatenate(list(blocks))
steps_per_epoch = -(-min(train.windows_per_epoch or len(data.train), len(data.train)) // train.batch_size)
history = decoder.history_
_result = {{"session": session if isinstance(session, str) else int(session), "units": int(binned.counts.shape[1]),
           "fit_seconds": round(fit_seconds, 1), "steps_per_epoch": int(steps_per_epoch),
           "optimiser_steps": int(steps_per_epoch * train.max_epochs), "val_windows": train.val_windows,
           "train_windows": len(data.train), "heldout_frames": int(len(frame_ids)),
           "val_cosine": [round(float(v), 4) for v in history["val_score"]],
           "epoch_seconds": [round(float(s), 2) for s in history["seconds"]],
           "best_epoch": int(history["val_score"].idxmax()) + 1,
           "best_val_cosine": round(float(history["val_score"].max()), 4),
           "heldout_patch_cosine": round(float(metrics.mean_patch_cosine(grids, select(targets, frame_ids))), 4)}}
"""

BASELINES = LOAD + """
from neurrator.models import baselines

data = regime_windows(binned, regime, seed=0)
_result = {{}}
for name, model in [("Ridge", baselines.RidgePatches(seed=0)), ("PCA + KNN", baselines.PCAKNN(seed=0))]:
    started = time.perf_counter()
    model.fit(data.train, targets)
    fit_seconds = time.perf_counter() - started
    row = {{"fit_seconds": round(fit_seconds, 1)}}
    for part, windows in (("val", data.val), ("heldout", data.test)):
        ids, grids = model.predict(windows)
        row[f"{{part}}_patch_cosine"] = round(float(metrics.mean_patch_cosine(grids, select(targets, ids))), 4)
    _result[name] = row
"""


def plateau(rows: dict, regime: str) -> float:
    """The best validation cosine any run of the split reached (the longest run's, unless a faster recipe beat it)."""
    runs = [r for r in rows.values() if r["regime"] == regime]
    return max(r["best_val_cosine"] for r in runs) if runs else float("nan")


def early_stop_epoch(curve: list[float], patience: int, min_delta: float) -> int:
    """The epoch at which early stopping (``patience`` epochs without a gain above ``min_delta``) stops a run."""
    best, bad = -float("inf"), 0
    for epoch, value in enumerate(curve, 1):
        if value > best + min_delta:
            best, bad = value, 0
        else:
            bad += 1
            if bad >= patience:
                return epoch
    return len(curve)


def plot(payload: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from neurrator.book.plotting import learning_curves

    learning_curves(payload).savefig(path, dpi=110)


def summarise(rows: dict, baseline_rows: dict) -> dict:
    summary = {}
    for regime in sorted({r["regime"] for r in rows.values()}):
        top = plateau(rows, regime)
        # cheapest by windows passed through the model (steps x batch: the cost that carries over between
        # machines, as the fit times measured beside other work do not), then by fit time
        near = [(r["optimiser_steps"] * RECIPES[n][1]["batch_size"], r["fit_seconds"], n)
                for n, r in rows.items() if r["regime"] == regime and r["best_val_cosine"] >= top - MARGIN]
        summary[regime] = {"plateau_val_cosine": top, "margin": MARGIN,
                           "cheapest_within_margin": min(near)[2] if near else None,
                           "baselines": baseline_rows.get(regime, {})}
    return summary


def payload(machine: dict, rows: dict, baseline_rows: dict) -> dict:
    """What results/learning_curve.json holds."""
    from neurrator.world.simulate import WORLD_VERSION

    return {"command": "python benchmarks/learning_curve.py", "machine": machine, "world_version": WORLD_VERSION,
            "recipes": {n: {"regime": r, **o} for n, (r, o) in RECIPES.items()},
            "results": rows, "baselines": baseline_rows, "summary": summarise(rows, baseline_rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--session", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="recipe names to (re)run; the others are read back")
    args = parser.parse_args()
    path = RESULTS / "learning_curve.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    rows, baseline_rows = dict(previous.get("results", {})), dict(previous.get("baselines", {}))
    machine = {"processor": platform.processor() or platform.machine(), "cpus": __import__("os").cpu_count(),
               "torch_threads": 2}
    for regime in sorted({regime for regime, _ in RECIPES.values() if " " not in regime}):   # single-session splits
        if regime not in baseline_rows:
            baseline_rows[regime] = run_isolated(BASELINES.format(data_dir=args.data_dir, session=args.session, regime=regime))
            print(regime, "baselines", baseline_rows[regime], flush=True)
    for name, (regime, overrides) in RECIPES.items():
        if (name not in args.only) if args.only is not None else (name in rows):
            continue
        row = run_isolated(TRAIN.format(data_dir=args.data_dir, session=args.session, regime=regime, overrides=overrides),
                           timeout=3600)
        rows[name] = {"regime": regime, "recipe": overrides, **row}
        print(name, {k: v for k, v in row.items() if k not in ("val_cosine", "epoch_seconds")}, flush=True)
        save("learning_curve", payload(machine, rows, baseline_rows))
    for row in rows.values():
        curve = row["val_cosine"]
        row["early_stop_epoch_patience3_delta0.003"] = early_stop_epoch(curve, 3, 0.003)
    result = payload(machine, rows, baseline_rows)
    print(f"{'recipe':50s} {'steps':>6s} {'fit s':>6s} {'best val':>9s} {'epoch':>6s} {'held-out':>9s}")
    for name, row in rows.items():
        print(f"{name:50s} {row['optimiser_steps']:6d} {row['fit_seconds']:6.0f} {row['best_val_cosine']:9.3f} "
              f"{row['best_epoch']:6d} {row['heldout_patch_cosine']:9.3f}")
    print(json.dumps(result["summary"], indent=1))
    plot(result, RESULTS / "learning_curve.png")
    print(save("learning_curve", result))


if __name__ == "__main__":
    main()
