"""Cost of building the demo world: the default demo cache and one paper-scale session.

Each scenario runs in a fresh process (``measure.run_isolated``) and reports wall time, peak RSS
and the size on disk. Usage: .venv/bin/python benchmarks/simulate_world.py [--skip-paper]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="world-bench-")
    result = {"demo_cache_default": run_isolated(SCENARIO.format(config="WorldConfig()", cache=f"{work}/demo"))}
    if not args.skip_paper:
        result["paper_scale_one_session"] = run_isolated(
            SCENARIO.format(config="WorldConfig.paper_scale(genotypes=('wt',))", cache=f"{work}/paper"), timeout=3600)
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    print("saved", save("simulate_world", result))


if __name__ == "__main__":
    main()
