"""Wall time of chapters 03 (training) and 04 (held-out narration) on the demo profile.

Runs ``neurrator run 03_train 04_narrate_heldout`` twice on a scratch data directory that links to the
inputs chapters 01 and 02 made (recordings, binned sessions, target stores, reference captions, the
Allen cache and the converted narrator):

- ``fresh``: no checkpoints, so every encoder trains (what CI's nbval run does on a clean clone);
- ``resumed``: the same command again: every finished checkpoint is loaded instead of retrained
  (what a reader re-running the book, or nbval on a machine that already ran it, pays).

Reports each run's wall time, the per-notebook times the runner prints, and the ratio fresh / resumed.
Usage: .venv/bin/python benchmarks/notebooks_03_04.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import save

INPUTS = ("allen_cache", "recordings", "binned", "targets", "captions", "models")
PROJECT = Path(__file__).resolve().parents[1]


def run_chapters(data: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "neurrator", "run", "03_train", "04_narrate_heldout",
                           "--data-dir", str(data), "--name", "benchmark", "--project", str(PROJECT)],
                          capture_output=True, text=True, cwd=PROJECT, env={**os.environ, "MPLBACKEND": "Agg"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"neurrator run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    names = re.findall(r"\[\d+/\d+\] (\S+)", done.stdout)
    times = re.findall(r"done in ([\d.]+) s", done.stdout)
    return {"seconds": round(seconds, 1), "per_notebook_s": {name: float(t) for name, t in zip(names, times)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="data directory made by chapters 01 and 02 (default: ./data)")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT))
    from neurrator.layout import DataLayout

    source = DataLayout.resolve(args.data_dir, "demo", create=False).root
    missing = [name for name in INPUTS if not (source / name).exists()]
    if missing:
        raise SystemExit(f"{source} lacks {', '.join(missing)}: run notebooks 01_preprocess and 02_targets first")
    with tempfile.TemporaryDirectory(prefix="bench-03-04-") as scratch:
        data = Path(scratch)
        (data / "demo").mkdir()
        for name in INPUTS:
            (data / "demo" / name).symlink_to(source / name)
        fresh = run_chapters(data)
        resumed = run_chapters(data)
    result = {"fresh": fresh, "resumed": resumed, "fresh_over_resumed": round(fresh["seconds"] / resumed["seconds"], 1),
              "cpu_count": os.cpu_count(),
              "notes": "fresh trains 4 patch encoders and 2 retrieval variants (demo preset) and narrates every "
                       "held-out frame; resumed loads the finished checkpoints. Wall times include kernel start-up."}
    print(f"fresh   {fresh['seconds']:7.1f} s  {fresh['per_notebook_s']}")
    print(f"resumed {resumed['seconds']:7.1f} s  {resumed['per_notebook_s']}")
    print(f"fresh / resumed: {result['fresh_over_resumed']}x")
    print(f"saved {save('notebooks_03_04', result)}")


if __name__ == "__main__":
    main()
