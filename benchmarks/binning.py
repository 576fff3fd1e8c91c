"""Spike binning: neurrator.data.binning.bin_spikes against allensdk's presentationwise_spike_counts.

Both count natural_movie_one of one simulated session in 4 bins per movie frame (120 Hz), each scenario in
a fresh process, every unit of the session:
- sdk: load the session with allensdk, then ``session.presentationwise_spike_counts`` (the tool a user picks);
- ours: ``neurrator.data.allen.load_recording`` (through allensdk, once), then ``bin_spikes``;
- ours_from_copy: the processed copy the project keeps (``allen.read_recording``), then ``bin_spikes``.
Loading and counting are timed apart (the first call, and the best of 3 calls). Memory: the process's
peak RSS, and the peak of the counting step alone (Linux's peak counter is reset just before counting).
The counts are checked against each other: the SDK's bins are closed on both ends, so SDK = ours + spikes
exactly on each SDK bin's right edge. Simulated spikes never sit on an edge, so the same identity is also
checked on a small hand-made session whose spikes do (the SDK's own histogram function, exact binary times).

Usage: .venv/bin/python benchmarks/binning.py [--quick] [--cache-dir DIR]
A paper-scale session (about 2000 units, 20 movie-one repeats; movie three and scenes capped, since only
natural_movie_one is binned) is simulated first unless DIR already holds a cache.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from measure import run_isolated, save

STIMULUS = "natural_movie_one"
BINS_PER_FRAME = 4

PAPER = "WorldConfig.paper_scale(genotypes=('wt',), movie_three_repeats=1, movie_three_frames=900, scene_repeats=2)"
QUICK = ("WorldConfig(genotypes=('wt',), units_per_session=200, movie_one_repeats=4, movie_three_repeats=1, "
         "movie_three_frames=60, scene_repeats=1, n_scenes=24)")

SIMULATE = """
import time
from neurrator.world.simulate import WorldConfig, simulate_world
start = time.perf_counter()
simulate_world({cache_dir!r}, {config}, progress=False)
_result = {{"simulate_s": round(time.perf_counter() - start, 1)}}
"""

HEAD = """
import gc, json, time, warnings
import numpy as np
warnings.filterwarnings("ignore")

def status_mb(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key + ":"))
    return round(int(line.split()[1]) / 1024, 1)

def reset_peak():
    with open("/proc/self/clear_refs", "w") as handle:  # Linux: VmHWM and ru_maxrss restart from the current RSS
        handle.write("5")

def measure_load(start):
    global load_s, load_peak, before
    load_s = time.perf_counter() - start
    gc.collect()  # so that no collection of the loader's objects lands inside the timed step
    load_peak, before = status_mb("VmHWM"), status_mb("VmRSS")
    reset_peak()

start = time.perf_counter()
"""

SDK = HEAD + """
from neurrator.data.allen import open_cache
cache = open_cache({manifest!r})
session = cache.get_session_data(int(cache.get_session_table().index[0]), filter_by_validity=False,
                                 filter_out_of_brain_units=False, amplitude_cutoff_maximum=None,
                                 presence_ratio_minimum=None, isi_violations_maximum=None)
unit_ids = session.units.index.to_numpy()
table = session.get_stimulus_table([{stimulus!r}]).sort_values("start_time")
bin_edges = np.linspace(0, 2 / 60, {bins} + 1)
session.presentationwise_spike_counts(bin_edges, table.index[:2], unit_ids[:2])  # loads spikes and tables
measure_load(start)
start = time.perf_counter()
counts = session.presentationwise_spike_counts(bin_edges, table.index.to_numpy(), unit_ids)
count_s = time.perf_counter() - start
count_peak = status_mb("VmHWM")
repeats_s = [count_s]
for _ in range(2):
    again = time.perf_counter()
    session.presentationwise_spike_counts(bin_edges, table.index.to_numpy(), unit_ids)
    repeats_s.append(time.perf_counter() - again)
assert counts.dims == ("stimulus_presentation_id", "time_relative_to_stimulus_onset", "unit_id")
np.save({out!r} + "/sdk_counts.npy", counts.values)
np.save({out!r} + "/sdk_presentations.npy", counts["stimulus_presentation_id"].values)
np.save({out!r} + "/sdk_units.npy", counts["unit_id"].values)
# spikes exactly on each SDK edge (start + bin_edges), per presentation, edge and unit (not timed)
edges = table["start_time"].to_numpy()[:, None] + bin_edges[None, :]
spikes = session.spike_times
on_edge = np.zeros(edges.shape + (len(unit_ids),), np.uint16)
for j, unit in enumerate(counts["unit_id"].values):
    on_edge[:, :, j] = np.searchsorted(spikes[unit], edges, "right") - np.searchsorted(spikes[unit], edges, "left")
np.save({out!r} + "/sdk_on_edge.npy", on_edge)
_result = dict(load_s=round(load_s, 2), count_s=round(count_s, 3), count_best_of_3_s=round(min(repeats_s), 3),
               load_peak_mb=load_peak,
               rss_before_count_mb=before, count_peak_mb=count_peak, units=len(unit_ids),
               presentations=len(table), counts_mb=round(counts.values.nbytes / 2**20, 1),
               spikes=int(sum(len(spikes[u]) for u in unit_ids)))
"""

OURS_LOAD = """
from neurrator.data import allen
from neurrator.data.binning import bin_spikes
cache = allen.open_cache({manifest!r})
recording = allen.load_recording(cache, int(cache.get_session_table().index[0]), stimuli=[{stimulus!r}],
                                 progress=False)
del cache
"""

COPY_LOAD = """
from neurrator.data import allen
from neurrator.data.binning import bin_spikes
recording = allen.read_recording({out!r} + "/recording.npz")
"""

COUNT = """
unit_ids = recording.units.index.to_numpy()
measure_load(start)
start = time.perf_counter()
binned = bin_spikes(recording, {stimulus!r}, unit_ids)
count_s = time.perf_counter() - start
count_peak = status_mb("VmHWM")
repeats_s = [count_s]
for _ in range(2):
    again = time.perf_counter()
    bin_spikes(recording, {stimulus!r}, unit_ids)
    repeats_s.append(time.perf_counter() - again)
np.save({out!r} + "/{name}_counts.npy", binned.counts)
np.save({out!r} + "/{name}_presentations.npy", recording.presentations.index.to_numpy()[binned.presentation])
np.save({out!r} + "/{name}_bin_in_presentation.npy", binned.bin_in_presentation)
np.save({out!r} + "/{name}_units.npy", binned.unit_ids)
if {name!r} == "ours":  # the processed copy the pipeline keeps, for the third scenario
    allen.save_recording(recording, {out!r} + "/recording.npz")
_result = dict(load_s=round(load_s, 2), count_s=round(count_s, 3), count_best_of_3_s=round(min(repeats_s), 3),
               load_peak_mb=load_peak, rss_before_count_mb=before, count_peak_mb=count_peak,
               counts_dtype=str(binned.counts.dtype), counts_mb=round(binned.counts.nbytes / 2**20, 1),
               binned_mb=round(binned.nbytes / 2**20, 1))
"""


def scenario(code: str, manifest: Path, out: Path, name: str = "") -> dict:
    result = run_isolated(code.format(manifest=str(manifest), stimulus=STIMULUS, bins=BINS_PER_FRAME,
                                      out=str(out), name=name))
    os.sync()  # let the saved arrays reach the disk now, not while the next scenario is timed
    result.pop("peak_rss_mb")  # ru_maxrss restarted before counting and covers the saving for the check too
    result["process_peak_mb"] = max(result["load_peak_mb"], result["count_peak_mb"])
    result["count_extra_mb"] = round(result["count_peak_mb"] - result["rss_before_count_mb"], 1)
    return result


def check_equal(out: Path) -> dict:
    """SDK counts (closed bins) == our half-open counts + spikes exactly on each SDK bin's right edge."""
    sdk = np.load(out / "sdk_counts.npy")                      # (presentations, bins, units)
    on_edge = np.load(out / "sdk_on_edge.npy")                 # (presentations, bins + 1, units)
    sdk_units, our_units = np.load(out / "sdk_units.npy"), np.load(out / "ours_units.npy")
    assert sorted(sdk_units) == sorted(our_units), "the two paths loaded different units"
    columns = np.argsort(our_units)[np.searchsorted(our_units, sdk_units, sorter=np.argsort(our_units))]
    ours = np.load(out / "ours_counts.npy")                    # (presentations * bins, units)
    copy = np.load(out / "copy_counts.npy")
    assert (np.load(out / "ours_units.npy") == np.load(out / "copy_units.npy")).all()
    presentation_ids = np.load(out / "ours_presentations.npy").reshape(-1, BINS_PER_FRAME)
    assert (presentation_ids == np.load(out / "sdk_presentations.npy")[:, None]).all(), "presentations differ"
    within = np.load(out / "ours_bin_in_presentation.npy").reshape(-1, BINS_PER_FRAME)
    assert (within == np.arange(BINS_PER_FRAME)).all()
    ours = ours[:, columns].reshape(sdk.shape)
    mismatched = int(np.count_nonzero(ours.astype(np.int64) + on_edge[:, 1:, :] != sdk))
    return {
        "bins_compared": int(ours.size),
        "mismatched_bins": mismatched,
        "equal_after_edge_correction": mismatched == 0,
        "identical_without_correction": bool((sdk == ours).all()),
        "spikes_on_inner_edges": int(on_edge[:, 1:-1, :].sum()),
        "spikes_on_presentation_edges": int(on_edge[:, [0, -1], :].sum()),
        "sdk_total": int(sdk.sum(dtype=np.int64)), "our_total": int(ours.sum(dtype=np.int64)),
        "copy_identical_to_ours": bool(np.array_equal(copy, np.load(out / "ours_counts.npy"))),
    }


def edge_case_check(n_units: int = 20, n_presentations: int = 400) -> dict:
    """SDK = ours + spikes on each SDK bin's right edge, on spikes placed exactly on edges (1/128 s bins,
    exact in binary, so both tools compute the same edges)."""
    import pandas as pd
    from allensdk.brain_observatory.ecephys.ecephys_session import build_spike_histogram, build_time_window_domain

    from neurrator.data.binning import bin_spikes
    from neurrator.data.recording import Recording

    rng = np.random.default_rng(0)
    width = 1 / 32                                               # one presentation: 4 bins of 1/128 s
    start = 10.0 + np.arange(n_presentations) * width
    all_edges = 10.0 + np.arange(4 * n_presentations + 1) / 128
    spikes = {u: np.unique(np.r_[rng.choice(all_edges, 30), rng.uniform(9.9, 10.1 + n_presentations * width, 300)])
              for u in range(n_units)}
    presentations = pd.DataFrame(dict(stimulus_name=STIMULUS, start_time=start, stop_time=start + width,
                                      frame=np.arange(n_presentations) % 5, stimulus_block=0,
                                      repeat=np.arange(n_presentations) // 5))
    recording = Recording(0, "wt/wt", pd.DataFrame(index=pd.Index(list(spikes))), spikes, presentations,
                          pd.DataFrame())
    ours = bin_spikes(recording, STIMULUS, bin_hz=128).counts.reshape(n_presentations, 4, n_units)
    domain = build_time_window_domain(np.linspace(0, width, 5), start)
    sdk = build_spike_histogram(domain, spikes, np.arange(n_units))
    on_edge = np.stack([np.searchsorted(spikes[u], domain, "right") - np.searchsorted(spikes[u], domain, "left")
                        for u in range(n_units)], axis=-1)
    return {"spikes_on_inner_edges": int(on_edge[:, 1:-1].sum()),
            "spikes_on_presentation_edges": int(on_edge[:, [0, -1]].sum()),
            "sdk_minus_ours": int(sdk.sum(dtype=np.int64) - ours.sum(dtype=np.int64)),
            "equal_after_edge_correction": bool((ours.astype(np.int64) + on_edge[:, 1:] == sdk).all())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small session (200 units, 4 repeats)")
    parser.add_argument("--cache-dir", default=None, help="reuse (or write) the simulated cache here")
    args = parser.parse_args()
    cache_dir = Path(args.cache_dir or tempfile.mkdtemp(prefix="binning-bench-cache-"))
    manifest = cache_dir / "manifest.json"
    simulated = None
    if not manifest.is_file():
        config = QUICK if args.quick else PAPER
        print(f"simulating {config} into {cache_dir} ...", flush=True)
        simulated = run_isolated(SIMULATE.format(cache_dir=str(cache_dir), config=config), timeout=7200)
    with tempfile.TemporaryDirectory(prefix="binning-bench-") as tmp:
        out = Path(tmp)
        sdk = scenario(SDK, manifest, out)
        ours = scenario(HEAD + OURS_LOAD + COUNT, manifest, out, "ours")
        copy = scenario(HEAD + COPY_LOAD + COUNT, manifest, out, "copy")
        equality = check_equal(out)
    equality["hand_made_spikes_on_edges"] = edge_case_check()

    result = {
        "stimulus": STIMULUS, "bins_per_presentation": BINS_PER_FRAME, "cache_dir": str(cache_dir),
        "units": sdk["units"], "presentations": sdk["presentations"], "session_spikes": sdk["spikes"],
        "simulation": simulated,
        "sdk_presentationwise_spike_counts": sdk, "ours_loaded_through_sdk": ours, "ours_from_processed_copy": copy,
        "speed_ratio_sdk_over_ours_first_call": round(sdk["count_s"] / ours["count_s"], 1),
        "speed_ratio_sdk_over_ours_best_of_3": round(sdk["count_best_of_3_s"] / ours["count_best_of_3_s"], 1),
        "speed_ratio_sdk_over_ours_from_copy_best_of_3": round(sdk["count_best_of_3_s"] / copy["count_best_of_3_s"], 1),
        "count_step_memory_ratio_ours_over_sdk": round(ours["count_extra_mb"] / sdk["count_extra_mb"], 3),
        "process_peak_ratio_ours_via_sdk_over_sdk": round(ours["process_peak_mb"] / sdk["process_peak_mb"], 3),
        "process_peak_ratio_ours_from_copy_over_sdk": round(copy["process_peak_mb"] / sdk["process_peak_mb"], 3),
        "equality": equality,
    }
    print(json.dumps(result, indent=2))
    print("saved", save("binning", result), f"(reuse the simulated cache with --cache-dir {cache_dir})")


if __name__ == "__main__":
    main()
