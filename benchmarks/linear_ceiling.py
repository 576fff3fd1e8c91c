"""The linear ceiling of the demo world (or of your own processed sessions): ridge from each region pool's
trial-averaged responses (every repeat of the movie, so the noise is mostly averaged out) to the target grid,
cross-validated by 10 random folds of frames and by 10 contiguous blocks, and on each held-out regime's split of
chapter 03 (fitted on its training frames, tested on its held-out ones). Reads chapter 01's binned movie, chapter
02's targets and chapter 03's splits of the trained session; writes results/linear_ceiling.json.

    .venv/bin/python benchmarks/linear_ceiling.py [--data-dir DIR] [--profile demo] [--stimulus natural_movie_one]
"""

from __future__ import annotations

import argparse
import platform
import time

from measure import save

from neurrator.evaluation import linear_ceiling
from neurrator.evaluation.linear_ceiling import POOLS
from neurrator.layout import DataLayout

REGIMES = ("sparse_random", "contiguous_middle", "front_only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--stimulus", default="natural_movie_one")
    args = parser.parse_args()
    layout = DataLayout.resolve(args.data_dir, args.profile)
    session = layout.trained_session()
    started = time.perf_counter()
    table = linear_ceiling.session_ceiling(layout, session, args.stimulus, POOLS, REGIMES)
    seconds = time.perf_counter() - started
    print(table.to_string())
    print(f"{seconds:.0f} s")
    save("linear_ceiling", {
        "what": "ridge from trial-averaged responses of each region pool to the target grid, by split",
        "session": int(session), "stimulus": args.stimulus, "frames": int(table["test frames"].max()),
        "seconds": round(seconds, 1),
        "machine": platform.processor() or platform.machine(),
        "rows": {f"{pool} / {split}": row for (pool, split), row in table.to_dict("index").items()}})


if __name__ == "__main__":
    main()
