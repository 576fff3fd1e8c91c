"""What share of a chain run the artifact checks take: every kernel of ``neurrator run`` gets an IPython startup
file that times each outermost call of ``check_artifact`` (reading: sidecar, content identity, recorded inputs)
and ``_input_hash`` (writing: each input checked against its sidecar), and writes the kernel's total when it
exits. The share is that total over the chain's wall time (all checking, not only what issue 37 added: an upper
bound on the added cost). Usage (any ``neurrator run`` arguments; run the chain once first so that it reads its
models back, as ``make book`` does on a second run):

    .venv/bin/python benchmarks/artifact_check_share.py 01 02 03 04 05 06 07 08
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import save

STARTUP = '''
import atexit, json, os, time
import neurrator.artifacts as _artifacts

_spent, _calls, _depth = [0.0], [0], [0]

def _timed(function):
    def wrapper(*args, **kwargs):
        _depth[0] += 1
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _depth[0] -= 1
            if _depth[0] == 0:
                _spent[0] += time.perf_counter() - started
                _calls[0] += 1
    return wrapper

_artifacts.check_artifact = _timed(_artifacts.check_artifact)
_artifacts._input_hash = _timed(_artifacts._input_hash)

@atexit.register
def _report():
    with open(os.path.join(os.environ["NEURRATOR_CHECK_LOG"], f"{os.getpid()}.json"), "w") as handle:
        json.dump({"seconds": _spent[0], "calls": _calls[0]}, handle)
'''


def main(argv: list[str]) -> None:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as folder:
        ipython, log = Path(folder) / "ipython", Path(folder) / "log"
        (ipython / "profile_default" / "startup").mkdir(parents=True)
        (ipython / "profile_default" / "startup" / "00-time-artifact-checks.py").write_text(STARTUP)
        log.mkdir()
        env = {**os.environ, "IPYTHONDIR": str(ipython), "NEURRATOR_CHECK_LOG": str(log)}
        started = time.perf_counter()
        subprocess.run([str(root / ".venv" / "bin" / "neurrator"), "run", "-q", "--name", "check-share", *argv],
                       cwd=root, env=env, check=True)
        wall = time.perf_counter() - started
        kernels = [json.loads(p.read_text()) for p in log.glob("*.json")]
    spent = sum(k["seconds"] for k in kernels)
    payload = {"machine": f"{platform.processor() or platform.machine()}, {platform.system()}, {os.cpu_count()} cores",
               "command": f".venv/bin/python benchmarks/artifact_check_share.py {' '.join(argv)}",
               "kernels": len(kernels), "checks": sum(k["calls"] for k in kernels),
               "seconds checking": round(spent, 2), "seconds in the chain": round(wall, 1),
               "share of the chain (%)": round(100 * spent / wall, 2)}
    print(payload)
    save("artifact_check_share", payload)


if __name__ == "__main__":
    main(sys.argv[1:])
