"""Load once, keep your own copy: allensdk's session load vs reopening neurrator's processed copy.

Each scenario runs in a fresh process (time and peak RSS of that process alone):
- ``sdk``: ``cache.get_session_data`` (every unit, no QC) then ``units``, ``spike_times``,
  ``get_stimulus_table`` of the three natural stimuli and ``optogenetic_stimulation_epochs`` -- the SDK's
  own path, where each property re-reads the NWB;
- ``load_recording``: neurrator's one SDK pass that builds the Recording (what notebook 01 runs once);
- ``read_recording``: reopening the processed copy (``<data>/recordings/session_<id>.npz``).

``seconds`` excludes imports (``import_seconds`` is reported beside it); memory includes them, because a
notebook that reads the copy never imports allensdk. Memory is ``peak_rss_mb`` (ru_maxrss, from measure.py)
and ``vm_hwm_mb`` (the process's own /proc VmHWM); Linux carries ru_maxrss over from the parent process, so
everything heavy (simulating, writing the copy) runs in a child process and this script stays small.

Usage: .venv/bin/python benchmarks/load_once.py [--cache-dir DIR] [--session-id ID] [--repeats 3]
(without --cache-dir a small two-session world is simulated in a temporary folder first).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from measure import run_isolated, save

STIMULI = ("natural_movie_one", "natural_movie_three", "natural_scenes")

SDK = """
import time
start = time.perf_counter()
import numpy as np
from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache
imported = time.perf_counter()
cache = EcephysProjectCache.from_warehouse(manifest={manifest!r})
session = cache.get_session_data({session_id}, filter_by_validity=False, filter_out_of_brain_units=False,
                                 amplitude_cutoff_maximum=np.inf, presence_ratio_minimum=-np.inf,
                                 isi_violations_maximum=np.inf)
units = session.units
spikes = session.spike_times
table = session.get_stimulus_table({stimuli!r})
opto = session.optogenetic_stimulation_epochs
done = time.perf_counter()
_result = dict(seconds=round(done - imported, 3), import_seconds=round(imported - start, 3), units=len(units),
               spikes=int(sum(len(t) for t in spikes.values())), presentations=len(table), opto=len(opto))
"""

LOAD = """
import time
start = time.perf_counter()
from neurrator.data import allen
import allensdk.brain_observatory.ecephys.ecephys_project_cache
imported = time.perf_counter()
recording = allen.load_recording(allen.open_cache({cache_dir!r}), {session_id}, stimuli={stimuli!r}, progress=False)
done = time.perf_counter()
_result = dict(seconds=round(done - imported, 3), import_seconds=round(imported - start, 3), units=len(recording.units),
               spikes=int(sum(len(t) for t in recording.spike_times.values())),
               presentations=len(recording.presentations), opto=len(recording.optogenetic_epochs))
"""

READ = """
import time
start = time.perf_counter()
from neurrator.data import allen
imported = time.perf_counter()
recording = allen.read_recording({path!r})
done = time.perf_counter()
_result = dict(seconds=round(done - imported, 3), import_seconds=round(imported - start, 3), units=len(recording.units),
               spikes=int(sum(len(t) for t in recording.spike_times.values())),
               presentations=len(recording.presentations), opto=len(recording.optogenetic_epochs))
"""


PREPARE = """
import time
from pathlib import Path
from neurrator.data import allen
cache_dir = {cache_dir!r}
if cache_dir is None:
    from neurrator.world.simulate import WorldConfig, simulate_world
    cache_dir = str(Path({work!r}) / "cache")
    simulate_world(cache_dir, WorldConfig(genotypes=("wt", "Pvalb"), units_per_session=80, movie_one_repeats=3,
                                          movie_three_repeats=1, movie_three_frames=60, scene_repeats=2, n_scenes=20,
                                          opto_trials_per_condition=5, seed=2), progress=False)
cache = allen.open_cache(cache_dir)
session_id = {session_id!r} or int(allen.list_sessions(cache)["session_id"].iloc[0])
start = time.perf_counter()
recording = allen.load_recording(cache, session_id, stimuli={stimuli!r}, progress=False)
copy = allen.save_recording(recording, Path({work!r}) / "recordings" / f"session_{{session_id}}.npz")
nwb = allen.session_nwb_path(cache, session_id)
_result = dict(cache_dir=str(cache_dir), session_id=session_id, path=str(copy), seconds=time.perf_counter() - start,
               nwb_mb=round(nwb.stat().st_size / 1e6, 2), copy_mb=round(copy.stat().st_size / 1e6, 2))
"""

#: appended to every scenario: the process's own high-water RSS (VmHWM starts afresh at exec, unlike ru_maxrss,
#: which Linux carries over from the parent process)
HWM = """
_result["vm_hwm_mb"] = round(int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024, 1)
"""


def _best(runs: list[dict]) -> dict:
    """Median seconds, largest peak RSS, counts from the first run."""
    out = dict(runs[0])
    out["seconds"] = round(statistics.median(r["seconds"] for r in runs), 3)
    out["import_seconds"] = round(statistics.median(r["import_seconds"] for r in runs), 3)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    out["vm_hwm_mb"] = max(r["vm_hwm_mb"] for r in runs)
    out["all_seconds"] = [r["seconds"] for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="an Allen cache (default: simulate a small world)")
    parser.add_argument("--session-id", type=int, default=None, help="default: the cache's first session")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per scenario")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    # the heavy preparation runs in its own process: a child's ru_maxrss starts at its parent's peak
    work = Path(args.workdir or tempfile.mkdtemp(prefix="load-once-"))
    prepared = run_isolated(PREPARE.format(cache_dir=args.cache_dir, session_id=args.session_id, work=str(work),
                                           stimuli=STIMULI), timeout=3600)
    session_id, copy = prepared["session_id"], prepared["path"]
    print(f"processed copy of session {session_id} written in {prepared['seconds']:.1f} s: {copy}")
    fields = dict(manifest=str(Path(prepared["cache_dir"]) / "manifest.json"), cache_dir=prepared["cache_dir"],
                  session_id=session_id, stimuli=list(STIMULI), path=copy)
    results = {}
    for name, code in (("sdk", SDK), ("load_recording", LOAD), ("read_recording", READ)):
        results[name] = _best([run_isolated(code.format(**fields) + HWM) for _ in range(args.repeats)])
    sdk, read = results["sdk"], results["read_recording"]
    assert (sdk["units"], sdk["spikes"], sdk["presentations"], sdk["opto"]) == \
        (read["units"], read["spikes"], read["presentations"], read["opto"]), (sdk, read)

    print(f"session {session_id}: {read['units']} units, {read['spikes']} spikes, {read['presentations']} "
          f"presentations, {read['opto']} optogenetic epochs; NWB {prepared['nwb_mb']} MB, "
          f"processed copy {prepared['copy_mb']} MB")
    print(f"{'scenario':<16}{'seconds':>10}{'imports s':>11}{'peak RSS MB':>13}{'VmHWM MB':>10}")
    for name, row in results.items():
        print(f"{name:<16}{row['seconds']:>10.3f}{row['import_seconds']:>11.3f}{row['peak_rss_mb']:>13.1f}"
              f"{row['vm_hwm_mb']:>10.1f}")
    ratios = dict(
        seconds=round(sdk["seconds"] / max(read["seconds"], 1e-6), 1),
        seconds_with_imports=round((sdk["seconds"] + sdk["import_seconds"])
                                   / max(read["seconds"] + read["import_seconds"], 1e-6), 1),
        peak_rss=round(sdk["peak_rss_mb"] / read["peak_rss_mb"], 2))
    print(f"sdk / read_recording: {ratios['seconds']}x time ({ratios['seconds_with_imports']}x with imports), "
          f"{ratios['peak_rss']}x peak RSS")
    out = save("load_once", dict(session_id=session_id, cache_dir=prepared["cache_dir"], repeats=args.repeats,
                                 nwb_mb=prepared["nwb_mb"], copy_mb=prepared["copy_mb"],
                                 scenarios=results, ratios_sdk_over_read=ratios))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
