"""A population's own encoder: fine-tuning the pan-session encoder restricted to the population (chapter 06's schedule,
``population_encoders.OWN_EPOCHS`` epochs) against training the same architecture from scratch on the population
with the profile's full schedule, in the same run. Per population: held-out patch cosine (2 windows per frame), best
validation cosine, training seconds and their ratio; the masked query of the same units is the starting point.
Reads chapter 05's pan-session encoder and split and chapter 06's populations; writes
results/population_encoders.json.

    .venv/bin/python benchmarks/population_encoders.py [--data-dir DIR] [--populations "SST:0" "SST control:0"]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd

from measure import save

from neurrator import profiles
from neurrator.data import celltypes, splits
from neurrator.data.pseudomice import pan_session_mouse
from neurrator.data.windows import from_split, neuron_mask, sample_per_frame
from neurrator.evaluation import population_encoders
from neurrator.evaluation.scaling import patch_cosines
from neurrator.layout import DataLayout
from neurrator.models.training import SpikeDecoder
from neurrator.vlm.targets import PatchTargetStore
from neurrator.world.simulate import WORLD_VERSION


def held_out_cosine(decoder, test, targets, columns=None) -> float:
    frames, grids = decoder.predict(test, neuron_mask=neuron_mask(test.counts.shape[1], columns), by_frame=True)
    return float(patch_cosines(grids, targets.rows(frames)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--stimulus", default="natural_movie_one")
    parser.add_argument("--regime", default="sparse_random")
    parser.add_argument("--populations", nargs="+", default=["SST:0", "SST control:0"],
                        help="population:draw pairs of chapter 06's population table")
    parser.add_argument("--own-epochs", type=int, nargs="+", default=[population_encoders.OWN_EPOCHS],
                        help="fine-tuning schedules to measure (epochs)")
    args = parser.parse_args()
    layout = DataLayout.resolve(args.data_dir, "demo")
    setup = profiles.get("demo")
    _, train_config = setup.pan_session_preset(seed=0, device="cpu")
    pan = SpikeDecoder.load(layout.decoder("pan_session", args.stimulus, args.regime), made_by="05_scaling", device="cpu")
    split = splits.read_split(layout.split("pan_session", args.stimulus, args.regime), made_by="05_scaling")
    binned = pan_session_mouse(layout, args.stimulus, None).as_binned()
    table = celltypes.read_populations(layout.cell_type_populations)
    targets = PatchTargetStore(layout.targets).open(args.stimulus)
    full_test = sample_per_frame(from_split(binned, split, pan.zscore_, jitter=0, neuron_dropout=0.0).test, 2)
    rows = {}
    for spec in args.populations:
        population, draw = spec.rsplit(":", 1)
        columns = table.loc[(table["population"] == population) & (table["draw"] == int(draw)), "column"].to_numpy()
        start = pan.restricted_to(columns)
        data = from_split(binned.select_units(columns), split, start.zscore_, jitter=train_config.jitter,
                          neuron_dropout=train_config.neuron_dropout)
        test = sample_per_frame(data.test, 2)
        result = {"units": int(len(columns)), "masked query": round(held_out_cosine(pan, full_test, targets, columns), 3)}
        runs = [(f"fine-tuned, {e} epochs", population_encoders.own_schedule(train_config, e), start) for e in args.own_epochs]
        for how, config, begin in runs + [("from scratch", train_config, None)]:
            t0 = time.perf_counter()
            decoder = SpikeDecoder("patches", pan.encoder, config, progress=False).fit(data.train, data.val, targets,
                                                                                       start=begin)
            result[how] = {"held-out patch cosine": round(held_out_cosine(decoder, test, targets), 3),
                           "best validation cosine": round(float(decoder.history_["val_score"].max()), 3),
                           "epochs": int(len(decoder.history_)), "seconds": round(time.perf_counter() - t0, 1)}
        for how, *_ in runs:
            result[f"time ratio (scratch / {how})"] = round(result["from scratch"]["seconds"] / result[how]["seconds"], 1)
        rows[spec] = result
        print(spec, result, flush=True)
    print(pd.DataFrame({k: pd.json_normalize(v).iloc[0] for k, v in rows.items()}).to_string())
    save("population_encoders", {
        "what": "own encoder of a population: fine-tuned from the restricted pan-session encoder vs from scratch",
        "world_version": WORLD_VERSION,
        "stimulus": args.stimulus, "regime": args.regime,
        "schedule": {"epochs": train_config.max_epochs, "windows_per_epoch": train_config.windows_per_epoch,
                     "batch_size": train_config.batch_size, "lr": train_config.lr},
        "machine": platform.processor() or platform.machine(), "rows": rows})


if __name__ == "__main__":
    main()
