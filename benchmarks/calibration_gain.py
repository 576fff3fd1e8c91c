"""How the demo world's visual gain sets the movie's non-peak / peak rate: the measurement behind
``neurrator.world.population.GAIN_RANGE`` (world version 3).

One wild-type session's units get each candidate gain range (each unit keeps its place in the range); their
natural_movie_one rates come from the world's own code (``frame_rates``, ``presentation_rates`` with its trial
gains and noise), spike counts per frame are Poisson, and the statistics are chapter 01's
(``neurrator.data.unit_statistics``: responsive against 200 circular shifts, p < 0.01; the mean non-peak / peak
rate of the responsive units, as published, and of all units). Measured with the demo's 8 repeats and the Brain Observatory's 20,
beside the published values (Purandare & Mehta 2023) and a unit with no drive (gain 0), the statistic's noise.

    .venv/bin/python benchmarks/calibration_gain.py [--cache-dir DIR]   (DIR: a simulated cache, for its stimuli)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from measure import save

from neurrator.data import unit_statistics
from neurrator.evaluation.calibration import PUBLISHED
from neurrator.world import population
from neurrator.world.neurons import StimulusDrives, unit_drives
from neurrator.world.simulate import MOVIE_FRAME_S, WorldConfig, build_stimulus_table, frame_rates, layout_session, \
    presentation_rates

CANDIDATES = {"v2 (uncalibrated)": (0.6, 1.1), "0.4-0.6": (0.4, 0.6), "0.3-0.5": (0.3, 0.5), "0.2-0.4 (v3)": (0.2, 0.4),
              "0.05-0.2": (0.05, 0.2), "no drive": (0.0, 0.0)}
AREAS = {"V1": ("VISp",), "AM-PM": ("VISam", "VISpm"), "LGN": ("LGd",)}
CALIBRATED = ("cortex", "LP", "LGd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="a simulated cache whose stimuli to read (else built)")
    parser.add_argument("--repeats", type=int, nargs="+", default=[8, 20])
    args = parser.parse_args()
    from neurrator.world.stimuli import STIMULUS_FOLDER, build_stimuli, load_stimuli

    started = time.perf_counter()
    stimuli = load_stimuli(f"{args.cache_dir}/{STIMULUS_FOLDER}") if args.cache_dir else build_stimuli(progress=False)
    config = WorldConfig()
    layout = layout_session(0, "wt", config)
    units = layout.units.reset_index(drop=True)
    raw = {name: unit_drives(units, StimulusDrives.from_frames(frames, stimuli.frame_info[name]["vehicle"].to_numpy(bool)))
           for name, frames in stimuli.arrays().items()}
    family = population.unit_family(units)
    low, high = (np.array([population.GAIN_RANGE[f][i] for f in family]) for i in (0, 1))
    place = np.where(high > low, (units["gain"] - low) / np.where(high > low, high - low, 1), 0.5)
    calibrated = np.isin(family, CALIBRATED)
    published = {p.group: p.value for p in PUBLISHED if p.statistic == "movie_modulation"}
    rows = []
    for label, (lo, hi) in CANDIDATES.items():
        gain = np.where(calibrated, lo + (hi - lo) * place, units["gain"])
        trial = units.assign(gain=gain)
        rates = frame_rates(trial, raw)
        for repeats in args.repeats:
            table = build_stimulus_table(WorldConfig(movie_one_repeats=repeats, movie_three_repeats=0, scene_repeats=0),
                                         len(stimuli.movie_one), len(stimuli.movie_three), np.random.default_rng(0))
            rng = np.random.default_rng(1)
            rate = presentation_rates(table, trial, rates, rng)[table["stimulus_name"].eq("natural_movie_one").to_numpy()]
            counts = rng.poisson(rate * MOVIE_FRAME_S).reshape(repeats, len(stimuli.movie_one), len(units))
            for area, regions in AREAS.items():
                chosen = np.flatnonzero(units["structure"].isin(regions).to_numpy() & units["cell_type"].eq("").to_numpy())
                responsive, depth = [], []
                for j in chosen:
                    c = counts[:, :, j]
                    responsive.append(unit_statistics.reliability_test(c, 30.0, 200, rng)[1] < 0.01)
                    depth.append(unit_statistics.movie_modulation(c, 30.0))
                responsive, depth = np.array(responsive), np.array(depth)
                rows.append({"gain": label, "repeats": repeats, "area": area, "units": len(chosen),
                             "responsive": round(float(np.mean(responsive)), 2),
                             "non-peak / peak (responsive)": round(float(np.nanmean(depth[responsive])), 3)
                             if responsive.any() else float("nan"),
                             "non-peak / peak (all)": round(float(np.nanmean(depth)), 3),
                             "published": published.get(area)})
    result = pd.DataFrame(rows)
    print(result.pivot_table(index=["gain", "repeats"], columns="area",
                             values=["non-peak / peak (responsive)", "non-peak / peak (all)", "responsive"], sort=False).to_string())
    seconds = time.perf_counter() - started
    print(f"{seconds:.0f} s")
    save("calibration_gain", {
        "what": "natural_movie_one non-peak / peak rate and responsive fraction against the visual gain range",
        "session_units": int(len(units)), "rows": rows, "seconds": round(seconds, 1)})


if __name__ == "__main__":
    main()
