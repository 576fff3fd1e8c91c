"""The scene-identity holdout at the demo world's scene repeats and at the paper's (50), in one run.

Chapter 04 traces the failure of unseen-scene narration to too few training examples: the demo world
shows each of its 118 scenes 6 times, the Brain Observatory 50. For each repeat count this script
simulates one demo session (wild type, the demo world's other sizes and seed) in a fresh cache, bins it,
trains chapter 03's scene-identity encoder with the demo preset, narrates the held-out scenes and scores
them against both references with the shuffled control. It also times what the repeats cost: the
simulation and preprocessing of that session (chapter 01 does this for 8 sessions) and the training.

Usage: .venv/bin/python benchmarks/scene_repeats.py [--data-dir DIR] [--repeats 6 50]   (about 10 minutes)
Inputs (demo): notebook 02_targets (the scenes' target grids and model references, reused: the scenes are
the same images whatever their repeats) and the demo world's stimulus tables (the content reference).
"""

from __future__ import annotations

import argparse

from measure import run_isolated, save

RUN = """
import shutil, tempfile, time
from pathlib import Path
import numpy as np
from neurrator.data import allen
from neurrator.data.binning import bin_spikes
from neurrator.data.windows import regime_windows
from neurrator.evaluation import sbert, scoring
from neurrator.layout import DataLayout
from neurrator import profiles
from neurrator.models.training import SpikeDecoder
from neurrator.vlm import captions
from neurrator.vlm.demo import DemoBackend
from neurrator.vlm.targets import PatchTargetStore
from neurrator.world.simulate import WorldConfig, simulate_world
from neurrator.world.stimuli import STIMULUS_FOLDER

main = DataLayout.resolve({data_dir!r}, "demo")
work = Path(tempfile.mkdtemp(prefix="scene_repeats_"))
layout = DataLayout(work, "demo")
shutil.copytree(main.allen_cache / STIMULUS_FOLDER, layout.allen_cache / STIMULUS_FOLDER)   # same stimuli: reuse
config = WorldConfig(genotypes=("wt",), scene_repeats={repeats})
started = time.perf_counter()
simulate_world(layout.allen_cache, config, progress=False)
simulated = time.perf_counter()
session_id = int(allen.list_sessions(allen.open_cache(layout.allen_cache))["session_id"].iloc[0])
recording = allen.ensure_recording(layout, session_id, stimuli=["natural_scenes"], progress=False)
binned = bin_spikes(recording, "natural_scenes", allen.select_units(recording.units, "all"))
preprocessed = time.perf_counter()
encoder, train = profiles.get("demo").encoder_preset()
data = regime_windows(binned, "scene_identity", seed=0, jitter=train.jitter, neuron_dropout=train.neuron_dropout)
decoder = SpikeDecoder("patches", encoder, train, progress=False)
decoder.fit(data.train, data.val, PatchTargetStore(main.targets).open("natural_scenes"), resume=False)
trained = time.perf_counter()
frame_ids, blocks = decoder.predict_by_frame(data.test)
narrations = DemoBackend(cache_dir=main.models).narrate(np.concatenate(list(blocks)), progress=False)
model = sbert.load_sbert("demo")
_result = {{"scene_repeats": {repeats}, "units": int(binned.counts.shape[1]), "bins": int(binned.counts.shape[0]),
           "train_windows": len(data.train), "heldout_scenes": int(len(frame_ids)),
           "training_scenes": int((~data.split.held_out).sum()),
           "simulate_seconds": round(simulated - started, 1), "preprocess_seconds": round(preprocessed - simulated, 1),
           "fit_seconds": round(trained - preprocessed, 1),
           "best_val_cosine": round(float(decoder.history_["val_score"].max()), 3)}}
world_descriptions = captions.content_captions("demo", "natural_scenes", int(binned.frame.max()) + 1,
                                              world_stimuli=main.allen_cache / STIMULUS_FOLDER)[0]
for reference in ("model", "content"):
    truth = (captions.read_captions(main.captions("natural_scenes")) if reference == "model"
             else dict(enumerate(world_descriptions)))
    scores = scoring.score_narrations(model, narrations, [truth[int(f)] for f in frame_ids],
                                      caption_pool=list(truth.values()), seed=0)
    summary = scoring.summary_table(scores.assign(group=0, narration=narrations), by="group")
    _result[reference] = {{"matched": float(summary["matched"].iloc[0]), "shuffled": float(summary["shuffled"].iloc[0]),
                          "random_caption": float(summary["random caption"].iloc[0]),
                          "matched_minus_shuffled": float(summary["matched - shuffled"].iloc[0]),
                          "wilcoxon_p": summary["Wilcoxon p"].iloc[0],
                          "above_every_control": bool(scoring.above_controls(summary).iloc[0])}}
shutil.rmtree(work)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, nargs="+", default=[6, 50])
    args = parser.parse_args()
    rows = {}
    for repeats in args.repeats:
        rows[str(repeats)] = run_isolated(RUN.format(data_dir=args.data_dir, repeats=repeats), timeout=3600)
        print(repeats, rows[str(repeats)], flush=True)
    base = rows[str(args.repeats[0])]
    for row in rows.values():
        row["simulate_and_preprocess_ratio"] = round((row["simulate_seconds"] + row["preprocess_seconds"]) /
                                                     (base["simulate_seconds"] + base["preprocess_seconds"]), 2)
    print(f"{'repeats':>8s} {'train win':>9s} {'sim+prep s':>10s} {'x':>5s} {'fit s':>6s} "
          f"{'model m-s':>9s} {'above':>6s} {'content m-s':>11s} {'above':>6s}")
    for repeats, row in rows.items():
        print(f"{repeats:>8s} {row['train_windows']:9d} {row['simulate_seconds'] + row['preprocess_seconds']:10.0f} "
              f"{row['simulate_and_preprocess_ratio']:5.2f} {row['fit_seconds']:6.0f} "
              f"{row['model']['matched_minus_shuffled']:9.2f} {str(row['model']['above_every_control']):>6s} "
              f"{row['content']['matched_minus_shuffled']:11.2f} {str(row['content']['above_every_control']):>6s}")
    print(save("scene_repeats", {"results": rows, "session": "one wild-type demo session, demo sizes otherwise"}))


if __name__ == "__main__":
    main()
