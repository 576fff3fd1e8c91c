"""Chapter 03's demo training recipe, chosen on a measured frontier: held-out quality against training time.

Each candidate recipe (encoder width, learning rate, windows per epoch, epochs) trains the sparse-random
encoder of chapter 03's session from scratch in a fresh process (seed 0, 2 threads; chapter 03's own model
is evaluated instead where it was trained with exactly that recipe, with the fit time of its history), then predicts the
held-out frames and narrates them with the demo narrator. Reported per recipe: fit wall time, optimiser
steps, best validation patch cosine, held-out patch cosine, and the held-out narrations' SBERT cosine with
the oracle reference (matched, and matched - shuffled). Times are also given as a ratio to the recipe that
was the demo preset before this measurement (12 epochs x 2048 windows, lr 3e-4, d_model 128), run in the
same invocation. The plot marks the recipes that no other recipe beats on both time and quality.

Usage: .venv/bin/python benchmarks/training_frontier.py [--data-dir DIR] [--session ID]   (about 15 minutes on 2 cores)
Inputs (demo): notebooks 01_preprocess (binned sessions), 02_targets (targets and captions); the session
defaults to chapter 03's (the one with the most visual units).
"""

from __future__ import annotations

import argparse

from measure import RESULTS, run_isolated, save

OLD_PRESET = "d128, lr 3e-4, 12 x 2048 (old preset)"
SHORT = {"val_windows": 256}
RECIPES = {   # name: overrides of profiles.get("demo").encoder_preset(), whose widths are d_model 128 and 64 conv channels
    OLD_PRESET: {"lr": 3e-4, "max_epochs": 12, "windows_per_epoch": 2048, "val_windows": 1024},
    "d128, lr 2e-3, 6 x 1024": {"lr": 2e-3, "max_epochs": 6, "windows_per_epoch": 1024, **SHORT},
    "d128, lr 1e-3, 4 x 1024": {"lr": 1e-3, "max_epochs": 4, "windows_per_epoch": 1024, **SHORT},
    "d128, lr 2e-3, 4 x 1024": {"lr": 2e-3, "max_epochs": 4, "windows_per_epoch": 1024, **SHORT},
    "d128, lr 4e-3, 4 x 1024": {"lr": 4e-3, "max_epochs": 4, "windows_per_epoch": 1024, **SHORT},
    "d128, lr 2e-3, 3 x 512": {"lr": 2e-3, "max_epochs": 3, "windows_per_epoch": 512, **SHORT},
    "d64 (32 channels), lr 2e-3, 6 x 1024": {"d_model": 64, "conv_channels": 32, "heads": 4, "lr": 2e-3,
                                             "max_epochs": 6, "windows_per_epoch": 1024, **SHORT},
    "d384 (paper width), lr 1e-3, 4 x 1024": {"d_model": 384, "conv_channels": 128, "lr": 1e-3, "max_epochs": 4,
                                             "windows_per_epoch": 1024, **SHORT},
}

TRAIN = """
import time
import numpy as np
from neurrator.data import allen
from neurrator.data.binning import BinnedStimulus
from neurrator.data.windows import regime_windows
from neurrator.evaluation import metrics, sbert, scoring
from neurrator.layout import DataLayout
from neurrator import profiles
from neurrator.models.training import SpikeDecoder
from neurrator.rowfiles import select
from neurrator.vlm import captions
from neurrator.vlm.demo import DemoBackend
from neurrator.vlm.targets import PatchTargetStore

layout = DataLayout.resolve({data_dir!r}, "demo")
session = {session!r}
if session is None:   # chapter 03's default
    session = int(allen.session_pools(layout)["visual units"].idxmax())
stimulus = "natural_movie_one"
binned = BinnedStimulus.of_session(layout, session, stimulus)
targets = PatchTargetStore(layout.targets).open(stimulus)
encoder, train = profiles.get("demo").encoder_preset(**{overrides!r})
data = regime_windows(binned, "sparse_random", seed=0, jitter=train.jitter, neuron_dropout=train.neuron_dropout)
# chapter 03's own model of this split is reused when it was trained with exactly this recipe (same configs)
existing = layout.decoder(session, stimulus, "sparse_random")
reused = existing.is_file() and (lambda d: (d.encoder, d.train) == (encoder, train))(SpikeDecoder.load(existing, made_by="03_train"))
if reused:
    decoder = SpikeDecoder.load(existing, made_by="03_train")
    fit_seconds = float(decoder.history_["seconds"].sum())
else:
    decoder = SpikeDecoder("patches", encoder, train, progress=False)
    started = time.perf_counter()
    decoder.fit(data.train, data.val, targets, resume=False)
    fit_seconds = time.perf_counter() - started
frame_ids, blocks = decoder.predict_by_frame(data.test)
grids = np.concatenate(list(blocks))
references = captions.read_captions(layout.captions(stimulus))
narrations = DemoBackend(cache_dir=layout.models).narrate(grids, progress=False)
scores = scoring.score_narrations(sbert.load_sbert("demo"), narrations, [references[int(f)] for f in frame_ids],
                                  caption_pool=list(references.values()), seed=0)
steps = train.max_epochs * -(-min(train.windows_per_epoch or len(data.train), len(data.train)) // train.batch_size)
_result = {{"session": int(session), "fit_seconds": round(fit_seconds, 1), "reused_chapter03_model": bool(reused), "optimiser_steps": int(steps),
           "parameters": int(sum(p.numel() for p in decoder.model_.parameters())),
           "best_val_cosine": round(float(decoder.history_["val_score"].max()), 3),
           "heldout_patch_cosine": round(float(metrics.mean_patch_cosine(grids, select(targets, frame_ids))), 3),
           "heldout_sbert_matched": round(float(scores["matched"].mean()), 3),
           "heldout_sbert_matched_minus_shuffled": round(float((scores["matched"] - scores["shuffled"]).mean()), 3),
           "heldout_frames": int(len(frame_ids))}}
"""


def pareto(rows: dict, quality: str) -> list[str]:
    """Recipes that no other recipe beats on both fit time (lower) and ``quality`` (higher)."""
    return [name for name, row in rows.items()
            if not any(o["fit_seconds"] <= row["fit_seconds"] and o[quality] >= row[quality]
                       and (o["fit_seconds"], o[quality]) != (row["fit_seconds"], row[quality]) for o in rows.values())]


def plot(rows: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, quality, label in [(axes[0], "heldout_patch_cosine", "held-out patch cosine"),
                               (axes[1], "heldout_sbert_matched", "held-out narration SBERT (matched)")]:
        front = pareto(rows, quality)
        for name, row in rows.items():
            ax.scatter(row["fit_seconds"], row[quality], s=50, color="C3" if name in front else "0.5")
            ax.annotate(name, (row["fit_seconds"], row[quality]), fontsize=7, xytext=(4, 3), textcoords="offset points")
        line = sorted((rows[n]["fit_seconds"], rows[n][quality]) for n in front)
        ax.plot(*zip(*line), color="C3", linewidth=1, label="frontier")
        ax.set(xscale="log", xlabel="fit wall time (s, 2 CPU threads, log)", ylabel=label)
        ax.legend(loc="lower right")
    fig.suptitle("Chapter 03's sparse-random encoder: quality against training time per recipe")
    plt.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--session", type=int, default=None)
    args = parser.parse_args()
    rows = {}
    for name, overrides in RECIPES.items():
        rows[name] = run_isolated(TRAIN.format(data_dir=args.data_dir, session=args.session, overrides=overrides),
                                  timeout=3600)
        print(name, rows[name], flush=True)
    reference = rows[OLD_PRESET]["fit_seconds"]
    for row in rows.values():
        row["time_ratio_to_old_preset"] = round(row["fit_seconds"] / reference, 2)
    print(f"{'recipe':42s} {'fit s':>6s} {'x old':>6s} {'val cos':>8s} {'test cos':>9s} {'SBERT':>6s} {'- shuf':>7s}")
    for name, row in rows.items():
        print(f"{name:42s} {row['fit_seconds']:6.0f} {row['time_ratio_to_old_preset']:6.2f} {row['best_val_cosine']:8.3f} "
              f"{row['heldout_patch_cosine']:9.3f} {row['heldout_sbert_matched']:6.3f} "
              f"{row['heldout_sbert_matched_minus_shuffled']:7.3f}")
    plot(rows, RESULTS / "training_frontier.png")
    print(save("training_frontier", {"recipes": RECIPES, "results": rows,
                                     "frontier_patch_cosine": pareto(rows, "heldout_patch_cosine"),
                                     "frontier_sbert": pareto(rows, "heldout_sbert_matched")}))


if __name__ == "__main__":
    main()
