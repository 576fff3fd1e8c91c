"""What reading an artifact safely costs: ``check_artifact`` on a target store the size of the demo movie's
(900 x 49 x 1280 float16, 113 MB) when the file is the one its sidecar last saw (size, modification time and
inode agree: no hash) against hashing it in full on every read (``verify_hash=True``, the only way to see a
same-size edit without the recorded identity), and the same for a small JSON artifact with one recorded
input. Each is timed over repeated reads in this process (after one warm read, so the page cache holds the
file either way). Usage: .venv/bin/python benchmarks/artifact_checks.py   (about 30 s)
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from measure import save
from neurrator.artifacts import check_artifact, write_artifact, write_json_artifact


def _per_read(check, repeats: int) -> float:
    check()
    start = time.perf_counter()
    for _ in range(repeats):
        check()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        store = folder / "targets" / "natural_movie_one.npy"
        grids = np.random.default_rng(0).standard_normal((900, 49, 1280)).astype(np.float16)
        write_artifact(store, lambda tmp: np.save(tmp.open("wb"), grids), made_by="02_targets")
        small = write_json_artifact(folder / "splits" / "s.json", {"held_out": list(range(90))}, made_by="03_train",
                                    inputs={"targets": store})
        rows = {
            "target store (113 MB), identity recorded": _per_read(lambda: check_artifact(store, made_by="02_targets"), 200),
            "target store (113 MB), full hash": _per_read(
                lambda: check_artifact(store, made_by="02_targets", verify_hash=True), 10),
            "small artifact with one input, identity recorded": _per_read(
                lambda: check_artifact(small, made_by="03_train"), 200),
            "small artifact with one input, full hash": _per_read(
                lambda: check_artifact(small, made_by="03_train", verify_hash=True), 10),
        }
    seconds = {name: round(s * 1e3, 3) for name, s in rows.items()}
    ratio = rows["target store (113 MB), full hash"] / rows["target store (113 MB), identity recorded"]
    payload = {"machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
               "command": ".venv/bin/python benchmarks/artifact_checks.py",
               "milliseconds per read": seconds, "full hash / recorded identity (target store)": round(ratio, 1)}
    print(payload)
    save("artifact_checks", payload)


if __name__ == "__main__":
    main()
