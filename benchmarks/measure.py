"""Shared helpers for the benchmark scripts: timing and peak memory in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_isolated(code: str, timeout: int = 1800) -> dict:
    """Run ``code`` in a fresh Python process; it must print one JSON object as its last line.

    The result gains ``peak_rss_mb``: the process's own peak resident set (``VmHWM``; ``ru_maxrss``
    would carry the parent's peak over), so each scenario's memory is measured alone.
    """
    wrapper = textwrap.dedent(code) + textwrap.dedent("""
        import json as _json, re as _re
        _hwm = _re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())
        _result["peak_rss_mb"] = round(int(_hwm.group(1)) / 1024, 1)
        print(_json.dumps(_result))
    """)
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark scenario failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
