"""Per-unit response statistics of a session, computed as the Allen Brain Observatory defines them, so that the same
code measures a simulated session and a real one (:class:`~neurrator.data.recording.Recording` is all it reads).

Where allensdk has the metric function (``allensdk.brain_observatory.ecephys.stimulus_analysis``), it is called:
``lifetime_sparseness`` (Olsen & Wilson 2008, over the mean response to each natural scene, blank excluded),
``fano_factor`` (spike-count variance over mean at the preferred scene) and ``overall_firing_rate``. Two follow
its definitions where its helper cannot be called: the time to peak of the 1 ms PSTH at the preferred scene (its
``_get_time_to_peak`` needs a full ``EcephysSession`` with running speed) and the movie's trial-to-trial
reliability (its ``reliability`` fixes a 3.1 s sweep; here the same Gaussian-smoothed 30 Hz rate and mean pairwise
Pearson correlation between repeats run over the whole movie). Pairwise noise correlations are spike-count
correlations over natural-scene presentations after each scene's mean is removed.

A unit is *responsive* to the movie when its reliability exceeds that of every one of ``n_null`` copies in which
each repeat is circularly shifted by its own random offset (the rate's temporal structure is kept, its lock to the
movie is not), at level ``alpha`` (one-sided; the null's smallest attainable p is ``1 / (n_null + 1)``).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from neurrator.data.recording import Recording

SCENE_S = 0.25            # a natural-scenes presentation (Brain Observatory 1.1)
PSTH_BIN_S = 0.001        # allensdk's psth_resolution
RELIABILITY_HZ = 30       # allensdk reliability's num_timestep_second
RELIABILITY_SIGMA_S = 0.1  # ... and its filter_width
MIN_SHIFT_FRAMES = 30     # a null shift moves a repeat by at least 1 s


def _metrics():
    """allensdk's metric functions (imported here: the module pulls in the SDK's schemas, which warn on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from allensdk.brain_observatory.ecephys.stimulus_analysis import stimulus_analysis
    return stimulus_analysis


def _counts(spikes: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    return np.searchsorted(spikes, stop) - np.searchsorted(spikes, start)


def movie_counts(recording: Recording, unit_id: int, stimulus: str = "natural_movie_one") -> np.ndarray:
    """``(repeats, frames)`` spike counts of one unit in each frame of each repeat of a movie."""
    table = recording.stimulus(stimulus)
    counts = _counts(recording.spike_times[int(unit_id)], table["start_time"].to_numpy(), table["stop_time"].to_numpy())
    repeat, frame = table["repeat"].to_numpy(), table["frame"].to_numpy().astype(int)
    out = np.zeros((repeat.max() + 1, frame.max() + 1))
    np.add.at(out, (repeat, frame), counts)
    return out


def smoothed_rates(counts: np.ndarray, frame_hz: float) -> np.ndarray:
    """Counts ``(..., repeats, frames)`` summed into :data:`RELIABILITY_HZ` bins and Gaussian-smoothed along time
    (allensdk's ``get_fr``: sigma ``RELIABILITY_SIGMA_S``)."""
    counts = np.asarray(counts, float)
    step = max(1, int(round(frame_hz / RELIABILITY_HZ)))
    n = counts.shape[-1] // step * step
    rates = counts[..., :n].reshape(*counts.shape[:-1], -1, step).sum(-1)
    return gaussian_filter1d(rates, int(RELIABILITY_SIGMA_S * RELIABILITY_HZ), axis=-1, mode="constant")


def reliability(counts: np.ndarray, frame_hz: float) -> np.ndarray | float:
    """Mean pairwise Pearson correlation between repeats of :func:`smoothed_rates` (allensdk's definition).
    ``counts``: ``(..., repeats, frames)``; NaN where a repeat is silent."""
    rates = smoothed_rates(counts, frame_hz)
    rates = rates - rates.mean(-1, keepdims=True)
    norms = np.linalg.norm(rates, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.einsum("...if,...jf->...ij", rates, rates) / (norms[..., :, None] * norms[..., None, :])
    upper = np.triu_indices(rates.shape[-2], 1)
    out = r[..., upper[0], upper[1]].mean(-1)
    return float(out) if np.ndim(out) == 0 else out


def reliability_null(counts: np.ndarray, frame_hz: float, n_null: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`reliability` of ``n_null`` copies with each repeat circularly shifted by its own random offset."""
    n_repeats, n_frames = counts.shape
    low = min(MIN_SHIFT_FRAMES, n_frames // 4)
    shifts = rng.integers(low, n_frames - low + 1, size=(n_null, n_repeats, 1))
    rolled = np.take_along_axis(np.broadcast_to(counts, (n_null, n_repeats, n_frames)),
                                (np.arange(n_frames) - shifts) % n_frames, axis=-1)
    return reliability(rolled, frame_hz)


def reliability_test(counts: np.ndarray, frame_hz: float, n_null: int, rng: np.random.Generator) -> tuple[float, float]:
    """:func:`reliability` and its p against :func:`reliability_null`'s ``n_null`` shifted copies (1 for a unit
    silent in the movie)."""
    r = reliability(counts, frame_hz)
    null = reliability_null(counts, frame_hz, n_null, rng)
    return r, float((1 + np.sum(null >= r)) / (1 + n_null)) if np.isfinite(r) else 1.0


def movie_modulation(counts: np.ndarray, frame_hz: float) -> float:
    """The mean of the trial-averaged :func:`smoothed_rates` over frames other than the peak, divided by the peak
    (1: flat, 0: one sharp field); NaN for a unit silent in the movie."""
    rate = smoothed_rates(counts, frame_hz).mean(0)
    peak = int(np.argmax(rate))
    return float(np.delete(rate, peak).mean() / rate[peak]) if rate[peak] > 0 else float("nan")


def scene_counts(recording: Recording, unit_id: int) -> pd.DataFrame:
    """One row per natural-scenes presentation: its ``frame`` (-1: blank) and the unit's spike count in it."""
    table = recording.stimulus("natural_scenes")
    start = table["start_time"].to_numpy()
    return pd.DataFrame({"frame": table["frame"].to_numpy().astype(int),
                         "count": _counts(recording.spike_times[int(unit_id)], start, start + SCENE_S)})


def time_to_peak(spikes: np.ndarray, onsets: np.ndarray, duration: float = SCENE_S) -> float:
    """Seconds from onset to the first maximum of the 1 ms PSTH over ``onsets`` (NaN without a spike)."""
    edges = np.arange(0.0, duration + PSTH_BIN_S / 2, PSTH_BIN_S)
    lo, hi = np.searchsorted(spikes, onsets), np.searchsorted(spikes, onsets + duration)
    relative = np.concatenate([spikes[a:b] - t for a, b, t in zip(lo, hi, onsets)]) if len(onsets) else np.array([])
    if not len(relative):
        return float("nan")
    psth = np.histogram(relative, edges)[0]
    return float(edges[int(np.argmax(psth))])


def unit_statistics(recording: Recording, unit_ids: Sequence[int], movie: str = "natural_movie_one",
                    n_null: int = 200, alpha: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """One row per unit (index ``unit_id``): firing rate during the movie and the scenes (Hz), movie reliability,
    its null p and ``responsive``, the movie's non-peak / peak rate (:func:`movie_modulation`), lifetime sparseness
    and Fano factor of the scene responses, time to peak at the preferred scene (ms)."""
    metric = _metrics()
    movie_table = recording.stimulus(movie)
    frame_hz = 1.0 / float(np.median(movie_table["stop_time"] - movie_table["start_time"]))
    scenes = recording.stimulus("natural_scenes")
    blocks = {name: _blocks(recording.stimulus(name)) for name in (movie, "natural_scenes")}
    rng = np.random.default_rng(seed)
    rows = []
    for unit in map(int, unit_ids):
        spikes = recording.spike_times[unit]
        counts = movie_counts(recording, unit, movie)
        r, p = reliability_test(counts, frame_hz, n_null, rng)
        shown = scene_counts(recording, unit)
        shown = shown[shown["frame"] >= 0]
        means = shown.groupby("frame")["count"].mean()
        preferred = int(means.idxmax())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append({
                "unit_id": unit,
                "firing_rate_movie": metric.overall_firing_rate(*blocks[movie], spikes),
                "firing_rate_ns": metric.overall_firing_rate(*blocks["natural_scenes"], spikes),
                "reliability_movie": r, "reliability_p": p, "responsive": bool(p < alpha),
                "movie_modulation": movie_modulation(counts, frame_hz),
                "lifetime_sparseness_ns": metric.lifetime_sparseness(means.to_numpy()),
                "fano_ns": metric.fano_factor(shown.loc[shown["frame"] == preferred, "count"].to_numpy()),
                "time_to_peak_ns_ms": 1e3 * time_to_peak(
                    spikes, scenes.loc[scenes["frame"].astype(int) == preferred, "start_time"].to_numpy()),
            })
    return pd.DataFrame(rows).set_index("unit_id")


def _blocks(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop times of a stimulus's contiguous blocks (allensdk's overall firing rate counts only these)."""
    start, stop = table["start_time"].to_numpy(), table["stop_time"].to_numpy()
    new = np.r_[True, start[1:] - stop[:-1] > 1e-3]
    ends = np.r_[np.flatnonzero(new)[1:] - 1, len(start) - 1]
    return start[new], stop[ends]


def noise_correlations(recording: Recording, unit_ids: Sequence[int]) -> np.ndarray:
    """``(units, units)`` spike-count correlations over natural-scenes presentations after each scene's mean count is
    removed (blank trials included as a scene of their own); NaN for a unit silent on every presentation."""
    table = recording.stimulus("natural_scenes")
    start, frame = table["start_time"].to_numpy(), table["frame"].to_numpy().astype(int)
    counts = np.stack([_counts(recording.spike_times[int(u)], start, start + SCENE_S) for u in unit_ids], 1).astype(float)
    residual = counts - pd.DataFrame(counts).groupby(frame).transform("mean").to_numpy()
    residual -= residual.mean(0)
    norms = np.linalg.norm(residual, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (residual.T @ residual) / np.outer(norms, norms)


def mean_pair_correlation(corr: np.ndarray, groups: np.ndarray) -> pd.Series:
    """Mean of the off-diagonal correlations between units of the same group, per group (NaN pairs dropped)."""
    groups = np.asarray(groups)
    out = {}
    for group in pd.unique(groups):
        idx = np.flatnonzero(groups == group)
        block = corr[np.ix_(idx, idx)][np.triu_indices(len(idx), 1)]
        out[group] = float(np.nanmean(block)) if np.isfinite(block).any() else float("nan")
    return pd.Series(out, name="noise correlation")
