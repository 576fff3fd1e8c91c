"""Cost of building the demo world: the default demo cache and one paper-scale session.

Each scenario runs in a fresh process (``measure.run_isolated``) and reports wall time, peak RSS
and the size on disk. ``--calibration`` instead times two sessions simulated with the calibrated gains (world
version 3) against the same with version 2's (``GAIN_RANGE_V2``), the stimuli built beforehand, as a ratio in one run.
Usage: .venv/bin/python benchmarks/simulate_world.py [--skip-paper] [--calibration]
"""

from __future__ import annotations

import argparse
import tempfile

from measure import run_isolated, save

SCENARIO = """
import subprocess, time
from pathlib import Path
from neurrator.world.simulate import WorldConfig, simulate_world
config = {config}
start = time.perf_counter()
simulate_world({cache!r}, config, progress=False)
seconds = time.perf_counter() - start
size = sum(p.stat().st_size for p in Path({cache!r}).rglob("*") if p.is_file())
_result = dict(seconds=round(seconds, 1), sessions=len(config.genotypes), units_per_session=config.units_per_session,
               disk_mb=round(size / 2**20, 1))
"""


GAINS = """
import time
from neurrator.world import population
from neurrator.world.simulate import WorldConfig, simulate_world
if {old!r}:
    population.GAIN_RANGE = dict(population.GAIN_RANGE_V2)
config = WorldConfig(genotypes=("wt", "Sst"))
simulate_world({cache!r}, config, progress=False)      # builds the stimuli once
start = time.perf_counter()
simulate_world({cache!r}, config, progress=False)      # the world again, its stimuli read back
_result = dict(seconds=round(time.perf_counter() - start, 1))
"""


def calibration_cost(work: str) -> dict:
    """Seconds to simulate two sessions with the calibrated and with version 2's gains, and their ratio."""
    new = run_isolated(GAINS.format(old=False, cache=f"{work}/v3"))
    old = run_isolated(GAINS.format(old=True, cache=f"{work}/v2"))
    return {"calibrated (v3)": new, "uncalibrated (v2)": old,
            "ratio v3 / v2": round(new["seconds"] / old["seconds"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--calibration", action="store_true", help="only the calibrated against the old gains")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="world-bench-")
    if args.calibration:
        result = calibration_cost(work)
        print(result)
        print("saved", save("simulate_world_calibration", result))
        return
    result = {"demo_cache_default": run_isolated(SCENARIO.format(config="WorldConfig()", cache=f"{work}/demo"))}
    if not args.skip_paper:
        result["paper_scale_one_session"] = run_isolated(
            SCENARIO.format(config="WorldConfig.paper_scale(genotypes=('wt',))", cache=f"{work}/paper"), timeout=3600)
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    print("saved", save("simulate_world", result))


if __name__ == "__main__":
    main()
