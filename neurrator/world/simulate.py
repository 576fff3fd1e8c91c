"""Simulate Brain Observatory 1.1 sessions of the demo world and write them as an Allen cache.

``simulate_world`` (also ``neurrator simulate``) is deterministic for a seed:

1. builds the stimuli from packaged images and clips (:mod:`neurrator.world.stimuli`);
2. computes each stimulus's drives once (:class:`neurrator.world.neurons.StimulusDrives`);
3. per session: probes, channels and units with planted codes; the stimulus timeline (spontaneous
   blocks, natural_movie_one and natural_movie_three repeats in several blocks, natural_scenes in
   random order with blank trials, optotagging pulses at the end); firing rates with latency,
   temporal smoothing and trial-to-trial variability; inhomogeneous Poisson spikes with a
   refractory period; short-latency light responses of ChR2-tagged cells;
4. writes the cache (CSV tables, one validated NWB per session, movie and scene templates, each
   atomically) with the ground truth inside it (with a sidecar recording the config and
   :data:`WORLD_VERSION`); the manifest comes last, so a cache without one is incomplete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator.artifacts import LOCK_DIR
from neurrator.world.neurons import StimulusDrives, quantize_drive, unit_drives
from neurrator.world.population import build_probes_and_channels, build_units
from neurrator.world.session import GENOTYPES, STIMULUS_INDEX, SimulatedSession

MOVIE_FRAME_S = 2 / 60.0      # one movie frame = 2 monitor frames at 60 Hz
SCENE_S = 0.25                # a natural scene or blank: 250 ms, no gap
SPONTANEOUS_S = 20.0
MAX_RATE_HZ = 120.0
REFRACTORY_S = 0.0015
GROUND_TRUTH = "neurrator_ground_truth.csv"
UNIT_TABLE_COLUMNS = [
    "id", "ecephys_channel_id", "local_index", "cluster_id", "quality", "firing_rate", "amplitude_cutoff",
    "presence_ratio", "isi_violations", "snr", "isolation_distance", "l_ratio", "d_prime", "nn_hit_rate",
    "nn_miss_rate", "max_drift", "cumulative_drift", "silhouette_score", "waveform_duration",
    "waveform_halfwidth", "PT_ratio", "repolarization_slope", "recovery_slope", "amplitude", "spread",
    "velocity_above", "velocity_below",
]


#: Raise when a change to the simulation changes what it writes for the same config: a cache made by an
#: older version is then simulated again instead of being reused (2: higher-area receptive fields map
#: both axes with their own scale; session ids moved out of the Allen range; 3: visual gains calibrated to a published
#: statistic, :data:`neurrator.world.population.GAIN_RANGE`).
WORLD_VERSION = 3

#: Session ids of the demo world (session k is ``first_session_id + 17 k``). Allen's ecephys sessions use
#: 715093703..847657808 (Visual Coding Neuropixels) and ids above 1e9 (Visual Behavior), never this range.
SIMULATED_SESSION_IDS = (100_000_000, 199_999_999)


#: the smallest value of each whole-number world parameter (a movie or scene set may be left out with 0 repeats)
WORLD_COUNT_MINIMA = {"units_per_session": 1, "movie_one_repeats": 1, "movie_three_repeats": 0, "movie_three_frames": 1,
                      "scene_repeats": 0, "n_scenes": 1, "opto_trials_per_condition": 1, "seed": 0, "first_session_id": 0}


@dataclass
class WorldConfig:
    """Sizes of the simulated world; the defaults keep the demo book fast."""

    genotypes: tuple[str, ...] = ("wt", "wt", "Pvalb", "Pvalb", "Sst", "Sst", "Vip", "Vip")
    units_per_session: int = 240
    movie_one_repeats: int = 8
    movie_three_repeats: int = 2
    movie_three_frames: int = 900
    scene_repeats: int = 6
    n_scenes: int = 118
    opto_trials_per_condition: int = 60   # per light level; the tagging criterion needs many trials
    seed: int = 0
    first_session_id: int = SIMULATED_SESSION_IDS[0]

    def __post_init__(self):
        for name, least in WORLD_COUNT_MINIMA.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"world parameter {name} must be a whole number >= {least}, got {value!r}")
            setattr(self, name, int(value))
        if isinstance(self.genotypes, str) or not all(isinstance(g, str) for g in self.genotypes) or not self.genotypes:
            raise ValueError(f"world parameter genotypes must be a non-empty list of {sorted(GENOTYPES)}, "
                             f"got {self.genotypes!r}")
        unknown = sorted(set(self.genotypes) - set(GENOTYPES))
        if unknown:
            raise ValueError(f"world parameter genotypes: unknown {unknown}, use {sorted(GENOTYPES)}")
        self.genotypes = tuple(self.genotypes)
        last = self.first_session_id + 17 * (len(self.genotypes) - 1)
        if not (SIMULATED_SESSION_IDS[0] <= self.first_session_id and last <= SIMULATED_SESSION_IDS[1]):
            raise ValueError(f"simulated session ids {self.first_session_id}..{last} leave the range "
                             f"{SIMULATED_SESSION_IDS[0]}..{SIMULATED_SESSION_IDS[1]}, which no Allen session uses")

    @classmethod
    def paper_scale(cls, **overrides) -> "WorldConfig":
        """About 2000 units per session; 20 / 10 / 50 repeats as in the real Brain Observatory 1.1."""
        base = dict(units_per_session=2000, movie_one_repeats=20, movie_three_repeats=10,
                    movie_three_frames=3600, scene_repeats=50)
        return cls(**{**base, **overrides})


# ------------------------------------------------------------------------------------------ timeline


def _split_repeats(total: int) -> tuple[int, int]:
    first = (total + 1) // 2
    return first, total - first


def build_stimulus_table(config: WorldConfig, n_movie_one: int, n_movie_three: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows of every presentation, Brain Observatory 1.1 style, in time order."""
    rows: list[dict] = []
    t = 5.0
    block = 0

    def spontaneous():
        nonlocal t
        rows.append(dict(stimulus_name="spontaneous", stimulus_block=np.nan, start_time=t,
                         stop_time=t + SPONTANEOUS_S, frame=np.nan))
        t += SPONTANEOUS_S

    def movie(name, n_frames, repeats):
        nonlocal t, block
        if repeats == 0:
            return
        start = t + np.arange(repeats * n_frames) * MOVIE_FRAME_S
        rows.extend(dict(stimulus_name=name, stimulus_block=float(block), start_time=s, stop_time=s + MOVIE_FRAME_S,
                         frame=float(f)) for s, f in zip(start, np.tile(np.arange(n_frames), repeats)))
        t = start[-1] + MOVIE_FRAME_S
        block += 1

    def scenes(repeats):
        nonlocal t, block
        if repeats == 0:
            return
        order = np.concatenate([rng.permutation(np.arange(-1, config.n_scenes)) for _ in range(repeats)])
        start = t + np.arange(len(order)) * SCENE_S
        rows.extend(dict(stimulus_name="natural_scenes", stimulus_block=float(block), start_time=s, stop_time=s + SCENE_S,
                         frame=float(f)) for s, f in zip(start, order))
        t = start[-1] + SCENE_S
        block += 1

    m1a, m1b = _split_repeats(config.movie_one_repeats)
    m3a, m3b = _split_repeats(config.movie_three_repeats)
    sa, sb = _split_repeats(config.scene_repeats)
    spontaneous()
    movie("natural_movie_three", n_movie_three, m3a)
    spontaneous()
    movie("natural_movie_one", n_movie_one, m1a)
    spontaneous()
    scenes(sa)
    spontaneous()
    scenes(sb)
    movie("natural_movie_one", n_movie_one, m1b)
    spontaneous()
    movie("natural_movie_three", n_movie_three, m3b)
    spontaneous()
    table = pd.DataFrame(rows)
    table["stimulus_index"] = table["stimulus_name"].map(STIMULUS_INDEX).astype(float)
    return table[["start_time", "stop_time", "stimulus_name", "stimulus_block", "stimulus_index", "frame"]]


def build_opto_table(t_start: float, trials_per_condition: int, rng: np.random.Generator) -> pd.DataFrame:
    """Optotagging epochs after the visual stimuli: 5 ms and 10 ms square pulses at 3 light levels,
    ``trials_per_condition`` each, and a few 1 s raised-cosine trials, in random order."""
    conditions = [("pulse", "a single square pulse", 0.005, trials_per_condition),
                  ("pulse", "a single square pulse", 0.010, trials_per_condition),
                  ("raised_cosine", "half-period of a cosine wave", 1.0, min(trials_per_condition, 10))]
    trials = [(c[:3], level) for c in conditions for level in (1.3, 1.7, 2.0) for _ in range(c[3])]
    rows, t = [], t_start
    for i in rng.permutation(len(trials)):
        (name, condition, duration), level = trials[i]
        rows.append(dict(start_time=t, stop_time=t + duration, condition=condition, level=level,
                         stimulus_name=name, duration=duration))
        t += duration + 1.5 + rng.uniform(0, 0.5)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ rates


def frame_rates(units: pd.DataFrame, drives: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(frames, units) firing rate of each stimulus frame: z-scored drive (rounded to ``DRIVE_STEP``, see
    :func:`neurrator.world.neurons.quantize_drive`) -> exp nonlinearity around baseline."""
    stacked = np.concatenate([np.asarray(d, np.float64) for d in drives.values()])
    mean, std = stacked.mean(0), stacked.std(0)
    std[std == 0] = 1.0
    baseline = units["baseline_hz"].to_numpy(np.float64)
    gain = units["gain"].to_numpy(np.float64)
    return {name: np.minimum(baseline * np.exp(gain * quantize_drive((d - mean) / std) - 0.5 * gain**2),
                             MAX_RATE_HZ).astype(np.float32)
            for name, d in drives.items()}


def _smooth_movie(rates: np.ndarray, n_frames: int, alpha: float = 0.45) -> np.ndarray:
    """First-order temporal low-pass along consecutive movie frames (within a repeat)."""
    out = rates.copy()
    for f in range(1, n_frames):
        out[f] = alpha * out[f - 1] + (1 - alpha) * rates[f]
    return out


def presentation_rates(table: pd.DataFrame, units: pd.DataFrame, rates: dict[str, np.ndarray],
                       rng: np.random.Generator) -> np.ndarray:
    """(rows, units) rate of every stimulus-table row, with per-repeat gain and per-presentation noise."""
    n_units = len(units)
    out = np.tile(units["baseline_hz"].to_numpy(dtype=np.float32), (len(table), 1))
    frames = table["frame"].to_numpy()
    names = table["stimulus_name"].to_numpy()
    blocks = table["stimulus_block"].to_numpy()
    for name in ("natural_movie_one", "natural_movie_three", "natural_scenes"):
        rows = np.flatnonzero(names == name)
        if not len(rows):
            continue
        f = frames[rows].astype(int)
        if name == "natural_scenes":
            driven = f >= 0
            out[rows[driven]] = rates[name][f[driven]]
            trial_gain = rng.lognormal(0, 0.12, (len(rows), n_units))
        else:
            out[rows] = _smooth_movie(rates[name], len(rates[name]))[f]
            repeat = np.cumsum(np.r_[1, (np.diff(f) < 0) | (np.diff(blocks[rows]) != 0)]) - 1
            trial_gain = rng.lognormal(0, 0.12, (repeat.max() + 1, n_units))[repeat]
        out[rows] *= trial_gain * rng.lognormal(0, 0.2, (len(rows), n_units))
    return out


def hippocampal_drift(times: np.ndarray, units: pd.DataFrame, rng: np.random.Generator, tau_s: float = 20.0) -> np.ndarray:
    """(times, units) multiplicative slow drift (Ornstein–Uhlenbeck in log rate) for hpc_drift units, else 1."""
    drift = np.ones((len(times), len(units)), np.float32)
    idx = np.flatnonzero(units["code"].eq("hpc_drift").to_numpy())
    if len(idx):
        x = np.zeros(len(idx))
        prev = times[0]
        for i, t in enumerate(times):
            decay = np.exp(-(t - prev) / tau_s)
            x = x * decay + np.sqrt(1 - decay**2) * 0.6 * rng.standard_normal(len(idx))
            drift[i, idx] = np.exp(x)
            prev = t
    return drift


# ------------------------------------------------------------------------------------------ spikes


def _chunked_epochs(table: pd.DataFrame, end: float, max_s: float = 1.0) -> pd.DataFrame:
    """Every stretch of the session as (start, stop, row) epochs no longer than ``max_s``; gaps get row -1."""
    edges = []
    t = 0.0
    for row, (start, stop) in enumerate(zip(table["start_time"].to_numpy(), table["stop_time"].to_numpy())):
        if start > t + 1e-9:
            edges.append((t, start, -1))
        edges.append((start, stop, row))
        t = stop
    if end > t:
        edges.append((t, end, -1))
    out = []
    for start, stop, row in edges:
        n = max(1, int(np.ceil((stop - start) / max_s - 1e-9)))
        cuts = np.linspace(start, stop, n + 1)
        out.extend((a, b, row) for a, b in zip(cuts[:-1], cuts[1:]))
    return pd.DataFrame(out, columns=["start", "stop", "row"])


def poisson_spikes(starts: np.ndarray, durations: np.ndarray, rates: np.ndarray, latency_s: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Sorted spike times of an inhomogeneous Poisson process (piecewise constant rate) with a refractory period."""
    counts = rng.poisson(rates * durations)
    times = np.repeat(starts, counts) + rng.random(counts.sum()) * np.repeat(durations, counts) + latency_s
    return enforce_refractory(np.sort(times))


def enforce_refractory(times: np.ndarray) -> np.ndarray:
    """Drop every spike closer than the refractory period to the previous kept one (sorted input)."""
    while len(times) > 1:
        keep = np.r_[True, np.diff(times) >= REFRACTORY_S]
        if keep.all():
            break
        times = times[keep]
    return times


def light_responses(opto: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Spike times of a ChR2-expressing cell: 1-2 spikes 1.5-6 ms after pulse onset, ~35 Hz during cosines."""
    spikes = []
    for start, duration in zip(opto["start_time"].to_numpy(), opto["duration"].to_numpy()):
        if duration < 0.02:
            if rng.random() < 0.9:
                spikes.append(start + rng.uniform(0.0015, 0.006, rng.integers(1, 3)))
        else:
            n = rng.poisson(35 * duration)
            spikes.append(start + rng.random(n) * duration)
    return np.concatenate(spikes) if spikes else np.zeros(0)


def session_spikes(table: pd.DataFrame, opto: pd.DataFrame, units: pd.DataFrame, rates: dict[str, np.ndarray],
                   rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Spike times of every unit over the whole session (stimuli, gaps and optotagging)."""
    end = float(opto["stop_time"].max() + 2.0) if len(opto) else float(table["stop_time"].max() + 2.0)
    epochs = _chunked_epochs(table, end)
    row_rates = presentation_rates(table, units, rates, rng)
    epoch_rates = np.where(epochs["row"].to_numpy()[:, None] >= 0, row_rates[epochs["row"].clip(lower=0)],
                           units["baseline_hz"].to_numpy()[None])
    epoch_rates = epoch_rates * hippocampal_drift(epochs["start"].to_numpy(), units, rng)
    starts, durations = epochs["start"].to_numpy(), (epochs["stop"] - epochs["start"]).to_numpy()
    pulses = opto.loc[opto["duration"] < 0.02, "start_time"].to_numpy()
    spikes = {}
    for j, unit in enumerate(units.itertuples()):
        times = poisson_spikes(starts, durations, epoch_rates[:, j], unit.latency_ms / 1000, rng)
        extra = [times]
        if unit.tagged:
            extra.append(light_responses(opto, rng))
        if unit.light_artifact:  # a recording artifact exactly at light onset, which tagging must ignore
            extra.append(pulses.copy())
        times = enforce_refractory(np.unique(np.concatenate(extra)))
        spikes[int(unit.id)] = times[(times >= 0) & (times < end)]
    return spikes


# ------------------------------------------------------------------------------------------ sessions


@dataclass
class SessionLayout:
    """A session before its spikes: probes, channels and units (with planted codes) and its random stream."""

    session_id: int
    genotype: str
    probes: pd.DataFrame
    channels: pd.DataFrame
    units: pd.DataFrame
    rng: np.random.Generator


def layout_session(index: int, genotype: str, config: WorldConfig) -> SessionLayout:
    rng = np.random.default_rng([config.seed, index])
    session_id = config.first_session_id + 17 * index
    probes, channels = build_probes_and_channels(session_id, index)
    units = build_units(index, genotype, channels, config.units_per_session, rng)
    units["light_artifact"] = rng.random(len(units)) < 0.04
    return SessionLayout(session_id, genotype, probes, channels, units, rng)


def simulate_session(layout: SessionLayout, config: WorldConfig, raw_drives: dict[str, np.ndarray],
                     movie_lengths: tuple[int, int]) -> tuple[SimulatedSession, pd.DataFrame]:
    """Spikes of one laid-out session from its units' raw drives ``{stimulus: (frames, units)}``; returns the
    session and its ground truth (one row per unit)."""
    rng, units = layout.rng, layout.units
    rates = frame_rates(units, raw_drives)
    table = build_stimulus_table(config, *movie_lengths, rng)
    opto = build_opto_table(float(table["stop_time"].max()) + 10.0, config.opto_trials_per_condition, rng)
    spikes = session_spikes(table, opto, units, rates, rng)
    duration = float(opto["stop_time"].max())
    unit_table = units.rename(columns={"channel": "ecephys_channel_id"}).assign(
        local_index=np.arange(len(units)), cluster_id=np.arange(len(units)), quality="good",
        firing_rate=[len(spikes[int(u)]) / duration for u in units["id"]],
        waveform_duration=units["waveform_halfwidth"] * 2.2,
    )[UNIT_TABLE_COLUMNS]
    session = SimulatedSession(
        session_id=layout.session_id, genotype=GENOTYPES[layout.genotype], probes=layout.probes,
        channels=layout.channels, units=unit_table, spike_times=spikes, stimulus_table=table,
        optogenetic_stimulation=opto, specimen_id=layout.session_id + 1,
        age_in_days=float(rng.integers(90, 150)), sex=str(rng.choice(["M", "F"])),
    )
    truth = units.drop(columns=["channel"]).assign(
        session_id=layout.session_id, genotype=layout.genotype, channel_id=units["channel"].to_numpy(),
        firing_rate=unit_table["firing_rate"].to_numpy())
    return session, truth


# ------------------------------------------------------------------------------------------ world


def _stimulus_set(stimulus_dir: Path, config: WorldConfig, progress: bool, reuse: Path | None = None):
    """The stimuli for ``config`` in ``stimulus_dir``: copied from ``reuse`` (the old world's) when they were built
    with the same parameters, else built."""
    from neurrator.artifacts import ArtifactError
    from neurrator.world.stimuli import build_stimuli, load_stimuli, save_stimuli

    wanted = {"movie_three_frames": config.movie_three_frames, "n_scenes": config.n_scenes, "seed": config.seed}
    for source in [stimulus_dir, reuse]:
        try:
            stimuli = load_stimuli(source) if source is not None else None
        except ArtifactError:
            continue
        if stimuli is not None and all(stimuli.params.get(k) == v for k, v in wanted.items()):
            if source != stimulus_dir:
                shutil.copytree(source, stimulus_dir, ignore=shutil.ignore_patterns(LOCK_DIR, ".*.tmp"),
                                dirs_exist_ok=True)
            return load_stimuli(stimulus_dir)
    stimuli = build_stimuli(config.movie_three_frames, config.n_scenes, seed=config.seed, progress=progress)
    save_stimuli(stimuli, stimulus_dir)
    return stimuli


def _swap_in(staging: Path, cache_dir: Path) -> None:
    """Replace ``cache_dir`` by the finished ``staging`` folder: two renames, so a reader sees the old world or the
    new one (an interruption between them leaves no world at ``cache_dir``, which is simulated again)."""
    old = None
    if cache_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.", suffix=".old", dir=cache_dir.parent))
        os.replace(cache_dir, old / cache_dir.name)
    os.replace(staging, cache_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def simulate_world(cache_dir: str | os.PathLike, config: WorldConfig | None = None, progress: bool = True,
                   validate_all: bool = False) -> Path:
    """Simulate every session of ``config``, write the Allen cache and the ground truth; return the manifest path.

    allensdk reads the first session back and it is compared with what was simulated (units, spikes,
    stimuli, optotagging); ``validate_all=True`` does so for every session (about 30 s each).
    """
    from neurrator.world.stimuli import STIMULUS_FOLDER

    config = config or WorldConfig()      # validated when it is made (WorldConfig.__post_init__)
    cache_dir = Path(cache_dir).absolute()
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    # the whole world is written beside the old one and swapped in when complete: an interrupted simulation leaves
    # the old world as it was, never new sessions beside the old ground truth
    staging = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.", suffix=".new", dir=cache_dir.parent))
    try:
        manifest = _simulate_into(staging, config, progress, validate_all, reuse=cache_dir / STIMULUS_FOLDER)
        _swap_in(staging, cache_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache_dir / manifest.name


def _simulate_into(cache_dir: Path, config: WorldConfig, progress: bool, validate_all: bool, reuse: Path) -> Path:
    from tqdm import tqdm

    from neurrator.artifacts import write_artifact
    from neurrator.world.stimuli import STIMULUS_FOLDER
    from neurrator.world.allen_cache import (
        MOVIE_NUMBERS, link_movie_template, session_nwb_path, write_manifest, write_session_nwb, write_tables,
        write_templates)

    stimuli = _stimulus_set(cache_dir / STIMULUS_FOLDER, config, progress, reuse=reuse)
    drives = {name: StimulusDrives.from_frames(frames, stimuli.frame_info[name]["vehicle"].to_numpy(bool))
              for name, frames in tqdm(stimuli.arrays().items(), desc="stimulus features", disable=not progress)}
    layouts = [layout_session(k, genotype, config) for k, genotype in enumerate(config.genotypes)]
    all_units = pd.concat([layout.units for layout in layouts], ignore_index=True)
    raw = {name: unit_drives(all_units, d)   # each filter runs once per stimulus for the whole world
           for name, d in tqdm(drives.items(), desc="unit drives", disable=not progress)}
    movie_lengths = (len(stimuli.movie_one), len(stimuli.movie_three))
    sessions, truths, start = [], [], 0
    bar = tqdm(layouts, desc="sessions", unit="session", disable=not progress)
    for k, layout in enumerate(bar):   # each session takes minutes: its sub-steps show on the bar
        columns = slice(start, start + len(layout.units))
        start += len(layout.units)
        bar.set_postfix_str(f"session {k + 1}: spikes")
        session, truth = simulate_session(layout, config, {k: v[:, columns] for k, v in raw.items()}, movie_lengths)
        bar.set_postfix_str(f"session {k + 1}: writing {session_nwb_path(cache_dir, session.session_id).name}")
        write_session_nwb(session, session_nwb_path(cache_dir, session.session_id), validate=validate_all or k == 0)
        session.spike_times = {}  # written; keep only the tables in memory
        sessions.append(session)
        truths.append(truth)
    for name, number in MOVIE_NUMBERS.items():  # the saved stimulus arrays are the templates' bytes
        link_movie_template(cache_dir / "natural_movie_templates" / f"natural_movie_{number}.h5",
                            cache_dir / STIMULUS_FOLDER / f"{name}.npy")
    write_templates(cache_dir, {"natural_scenes": stimuli.scenes})
    write_tables(cache_dir, sessions)
    truth = pd.concat(truths, ignore_index=True)
    truth["readout_channels"] = truth["readout_channels"].map(lambda c: " ".join(map(str, c)))
    truth["readout_weights"] = truth["readout_weights"].map(lambda w: " ".join(map(str, w)))
    write_artifact(cache_dir / GROUND_TRUTH, lambda tmp: truth.to_csv(tmp, index=False),   # keyed by every session file
                   made_by="neurrator simulate", params=_world_params(config),
                   inputs={f"session_{s.session_id}": session_nwb_path(cache_dir, s.session_id) for s in sessions})
    return write_manifest(cache_dir)


def _world_params(config: WorldConfig) -> dict:
    return {**asdict(config), "world_version": WORLD_VERSION}


def world_is_current(cache_dir: str | os.PathLike, config: WorldConfig) -> bool:
    """Whether ``cache_dir`` holds a complete world simulated by this version of the code with ``config``: its
    ground truth is valid for ``config`` and every session file it was simulated with is there, unchanged."""
    from neurrator.artifacts import ArtifactError, check_artifact

    if not (Path(cache_dir) / "manifest.json").is_file():
        return False
    try:   # the ground truth records every session file's content: a changed one makes it stale
        meta = check_artifact(Path(cache_dir) / GROUND_TRUTH, made_by="neurrator simulate", params=_world_params(config))
    except ArtifactError:
        return False
    return all((Path(cache_dir) / relative).is_file() for relative in meta.get("input_paths", {}).values())


def ensure_world(cache_dir: str | os.PathLike, config: WorldConfig, progress: bool = True) -> bool:
    """Simulate the world into ``cache_dir`` unless a current one (:func:`world_is_current`) is there; returns
    whether it simulated."""
    if world_is_current(cache_dir, config):
        return False
    simulate_world(cache_dir, config, progress=progress)
    return True


def load_ground_truth(cache_dir: str | os.PathLike) -> pd.DataFrame:
    """The planted truth of a simulated cache, one row per unit (a missing file names `neurrator simulate`)."""
    from neurrator.artifacts import check_artifact

    path = Path(cache_dir) / GROUND_TRUTH
    check_artifact(path, made_by="neurrator simulate")
    return pd.read_csv(path)
