"""The demo world beside real recordings: per-unit statistics of simulated sessions
(:mod:`neurrator.data.unit_statistics`, the code a real session goes through) against values published for the
Allen Visual Coding Neuropixels recordings, each with its source and the words it is quoted from.

Only values found in a source that could be read are listed (:data:`PUBLISHED`); statistics for which no published
value was found are named in :data:`NOT_FOUND` with the sources searched, so the table says so instead of leaving a
blank. A simulated proportion is compared through its 95 % Wilson interval over units; a simulated mean through a
95 % bootstrap interval over units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.data import unit_statistics

PURANDARE_PREPRINT = ("Purandare & Mehta, eLife reviewed preprint 85069v1 (2023), Figure 1 legend, "
                      "https://elifesciences.org/reviewed-preprints/85069v1/figures")
PURANDARE_DEPTH = ("Purandare & Mehta, eLife reviewed preprint 85069v2 (2023), legend of 'Population averaged "
                   "movie-tuning varies across brain areas', https://elifesciences.org/reviewed-preprints/85069v2/figures")
PURANDARE_PAPER = "Purandare & Mehta, eLife 12:RP85069 (2023), abstract, https://elifesciences.org/articles/85069"
MOVIE_TUNED = ("fraction of units significantly modulated by natural_movie_one against shuffles (their units: broad-"
               "spiking, active, putatively excitatory)")
DEPTH = ("mean rate of non-peak frames over the peak rate of the trial-averaged movie response (their averaging "
         "across neurons is not given in the legend: approximate)")


@dataclass(frozen=True)
class PublishedValue:
    """One published statistic of real Allen Neuropixels units: ``value`` (a proportion with ``n`` units behind it,
    or a mean), what it measures, the regions it pools, its source and the words it is quoted from."""

    statistic: str
    group: str
    regions: tuple[str, ...]
    value: float
    n: int | None
    what: str
    source: str
    quote: str


PUBLISHED = (
    PublishedValue("responsive", "DG", ("DG",), 506 / 1531, 1531, MOVIE_TUNED, PURANDARE_PREPRINT,
                   "33.1% of dentate neurons were significantly modulated by the movie ... (Ntuned /Ncells=506/1531)"),
    PublishedValue("responsive", "CA3", ("CA3",), 168 / 969, 969, MOVIE_TUNED, PURANDARE_PREPRINT,
                   "(b) Same as (a), for CA3 (168/969, 17.3%)"),
    PublishedValue("responsive", "CA1", ("CA1",), 2326 / 6914, 6914, MOVIE_TUNED, PURANDARE_PREPRINT,
                   "(c) CA1 (2326/6914, 33.6%)"),
    PublishedValue("responsive", "hippocampus", ("DG", "CA3", "CA1", "SUB"), 3379 / 10263, 10263, MOVIE_TUNED,
                   PURANDARE_PAPER, "a third (33%, 3379/10263) of hippocampal –dentate gyrus, CA3, CA1 and subiculum– "
                   "neurons showed movie-selectivity"),
    PublishedValue("responsive", "LGN, V1, AM-PM", ("LGd", "VISp", "VISam", "VISpm"), 6554 / 6785, 6785, MOVIE_TUNED,
                   PURANDARE_PAPER, "similar to the vast majority of thalamo-cortical (LGN, V1, AM-PM) neurons "
                   "(97%, 6554/6785)"),
    PublishedValue("movie_modulation", "V1", ("VISp",), 0.35, None, DEPTH, PURANDARE_DEPTH,
                   "was smallest (0.35x of the average peak response across all neurons) for V1"),
    PublishedValue("movie_modulation", "AM-PM", ("VISam", "VISpm"), 0.37, None, DEPTH, PURANDARE_DEPTH,
                   "followed by AM-PM 0.37"),
    PublishedValue("movie_modulation", "LGN", ("LGd",), 0.57, None, DEPTH, PURANDARE_DEPTH, "0.57x the peak for LGN"),
    PublishedValue("movie_modulation", "CA3", ("CA3",), 0.61, None, DEPTH, PURANDARE_DEPTH, "CA3-0.61"),
    PublishedValue("movie_modulation", "DG", ("DG",), 0.62, None, DEPTH, PURANDARE_DEPTH, "DG-0.62"),
    PublishedValue("movie_modulation", "CA1", ("CA1",), 0.64, None, DEPTH, PURANDARE_DEPTH, "CA1-0.64"),
)

#: statistic -> (what it is, where a published value was looked for and not found)
NOT_FOUND = {
    "firing_rate_movie": "firing rate per area: Siegle et al. 2021 (Nature 592:86) show it per area only as a figure "
                         "(Extended Data Fig. 9i); the AllenSDK quality-metrics tutorial describes it only in words",
    "reliability_movie": "trial-to-trial reliability of natural_movie_one: no released AllenSDK metric uses it",
    "lifetime_sparseness_ns": "lifetime sparseness (lifetime_sparseness_ns): no per-area value in the captions or "
                              "tutorials read",
    "fano_ns": "Fano factor (fano_ns): no per-area value in the captions or tutorials read",
    "time_to_peak_ns_ms": "latency: Siegle et al. 2021 (Fig. 4, Extended Data Fig. 9) give time to first spike after "
                          "flashes per area as figures only, and the demo world shows no flashes",
    "noise_correlation": "spike-count noise correlations of this dataset: none found",
}

#: the statistics of :func:`summary_table`, with the words a reader sees
STATISTICS = {
    "firing_rate_movie": "firing rate, natural_movie_one (Hz)",
    "firing_rate_ns": "firing rate, natural scenes (Hz)",
    "responsive": "responsive to natural_movie_one (fraction)",
    "reliability_movie": "reliability across repeats (mean r)",
    "movie_modulation": "non-peak / peak rate in the movie",
    "lifetime_sparseness_ns": "lifetime sparseness, scenes",
    "fano_ns": "Fano factor, preferred scene",
    "time_to_peak_ns_ms": "time to peak, preferred scene (ms)",
    "noise_correlation": "noise correlation, scenes (mean r)",
}


def session_statistics(recording, units: pd.DataFrame, group: str = "region", n_null: int = 200,
                       seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per unit, noise pairs)`` of one session's ``units`` (index unit ids; ``group`` and ``region`` columns):
    :func:`unit_statistics.unit_statistics`, and the mean noise correlation within each group of the session with
    its number of pairs."""
    ids = units.index.to_numpy()
    stats = unit_statistics.unit_statistics(recording, ids, n_null=n_null, seed=seed)
    stats = stats.join(units[["region", group]].rename(columns={group: "group"}))
    corr = unit_statistics.noise_correlations(recording, ids)
    groups = units[group].to_numpy()
    pairs = pd.DataFrame({"noise_correlation": unit_statistics.mean_pair_correlation(corr, groups),
                          "pairs": pd.Series(groups).value_counts().map(lambda n: n * (n - 1) // 2)})
    return stats, pairs.rename_axis("group")


def calibration_units(units: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """The units whose statistics are measured, with their ``group``: every QC-passing unit of the wild-type
    sessions (of every session when there is none) by its region pool, and every tagged unit by its Cre line's cell
    type. ``units``: chapter 01's table (``session_id``, ``genotype``, ``region``, ``passes_qc``; index unit ids);
    ``tags``: :func:`neurrator.data.preprocessing.tag_sessions`."""
    from neurrator.data.allen import region_pool
    from neurrator.data.celltypes import CRE_LINES

    area_sessions = units["genotype"].eq("wt") if units["genotype"].eq("wt").any() else pd.Series(True, units.index)
    areas = units[area_sessions & units["passes_qc"]].assign(group=lambda t: t["region"].map(region_pool))
    keys = pd.MultiIndex.from_arrays([units["session_id"], units.index])
    tagged = tags[tags["tagged"].astype(bool)]
    is_tagged = keys.isin(pd.MultiIndex.from_arrays([tagged["session_id"], tagged.index]))
    types = units[is_tagged & units["genotype"].isin(list(CRE_LINES))]
    types = types.assign(group=types["genotype"].map(CRE_LINES))
    chosen = pd.concat([areas[areas["group"] != "other"], types])
    return chosen[["session_id", "genotype", "region", "group"]]


def world_statistics(recordings: Mapping[int, object], chosen: pd.DataFrame, n_null: int = 200,
                     seed: int = 0, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`session_statistics` of :func:`calibration_units`' units, session by session (a bar per session):
    ``(per unit with session_id, noise correlation per session and group)``."""
    from tqdm.auto import tqdm

    stats, noise = [], []
    for sid, part in tqdm(chosen.groupby("session_id"), desc="unit statistics", unit="session", disable=not progress):
        unit_stats, pairs = session_statistics(recordings[sid], part, group="group", n_null=n_null, seed=seed + int(sid))
        stats.append(unit_stats.assign(session_id=sid))
        noise.append(pairs.assign(session_id=sid))
    return pd.concat(stats), pd.concat(noise)


def summary_table(stats: pd.DataFrame, noise: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """Statistic (rows) x group (columns): median [quartiles] over units, the responsive fraction, and the
    pair-weighted mean noise correlation; a last row gives the units per group."""
    rows = {}
    for key, words in STATISTICS.items():
        cells = {}
        for group in groups:
            if key == "noise_correlation":
                part = noise[noise.index == group].dropna()
                cells[group] = (f"{np.average(part['noise_correlation'], weights=part['pairs']):.3f}"
                                if part["pairs"].sum() else "n/a")
                continue
            values = stats.loc[stats["group"] == group, key].dropna().astype(float)
            if key == "responsive":
                cells[group] = f"{values.mean():.2f}" if len(values) else "n/a"
            elif len(values):
                q1, q2, q3 = np.percentile(values, [25, 50, 75])
                cells[group] = f"{q2:.2f} [{q1:.2f}, {q3:.2f}]"
            else:
                cells[group] = "n/a"
        rows[words] = cells
    rows["units"] = {group: str(int((stats["group"] == group).sum())) for group in groups}
    return pd.DataFrame(rows).T[list(groups)].rename_axis("statistic")


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n`` (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return float(low), float(high)


def bootstrap_interval(values: np.ndarray, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean over units (scipy.stats.bootstrap)."""
    from scipy.stats import bootstrap

    values = np.asarray(values, float)
    if len(values) < 2:
        return float("nan"), float("nan")
    result = bootstrap((values,), np.mean, confidence_level=level, n_resamples=2000, method="percentile",
                       random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def published_table(stats: pd.DataFrame, published: Sequence[PublishedValue] = PUBLISHED) -> pd.DataFrame:
    """One row per published value: the simulated value of the same regions' units (the responsive fraction over
    all units; the modulation depth over responsive units only, as published) with its 95 % interval, the published
    value and the ``verdict`` (inside the simulated interval, simulated lower or higher, or too few simulated units
    for an interval), with the source. Tagged cell types are left out: the published units are putatively
    excitatory."""
    from neurrator.data.celltypes import CELL_TYPES

    stats = stats[~stats["group"].isin(CELL_TYPES)]
    rows = []
    for entry in published:
        chosen = stats[stats["region"].isin(entry.regions)]
        if entry.statistic == "responsive":
            k, n = int(chosen["responsive"].sum()), len(chosen)
            value = k / n if n else float("nan")
            low, high = wilson_interval(k, n) if n else (float("nan"), float("nan"))
        else:
            values = chosen.loc[chosen["responsive"].astype(bool), entry.statistic].dropna().to_numpy(float)
            n = len(values)
            value = float(values.mean()) if n else float("nan")
            low, high = bootstrap_interval(values)
        verdict = ("too few simulated units" if not np.isfinite(low) else "inside" if low <= entry.value <= high
                   else "simulated lower" if high < entry.value else "simulated higher")
        rows.append({"statistic": STATISTICS[entry.statistic], "group": entry.group,
                     "regions": ", ".join(entry.regions), "simulated units": n, "simulated": round(value, 2),
                     "95% interval": f"[{low:.2f}, {high:.2f}]" if np.isfinite(low) else "n/a", "low": low, "high": high,
                     "published": round(entry.value, 3), "published n": entry.n or "", "verdict": verdict,
                     "source": entry.source, "quote": entry.quote})
    return pd.DataFrame(rows).set_index(["statistic", "group"])


GAIN_SWEEP = Path("benchmarks") / "results" / "calibration_gain.json"


def gain_sweep(root: str | Path | None = None) -> pd.DataFrame | None:
    """What ``benchmarks/calibration_gain.py`` measured: per gain range and number of repeats, each area's responsive
    fraction and the mean non-peak / peak rate of its responsive units (beside the published value) and of all units (None where the
    project has no such measurement, e.g. an installed package)."""
    from neurrator.config import read_benchmark

    measured = read_benchmark(GAIN_SWEEP, root)
    if measured is None:
        return None
    rows = pd.DataFrame(measured["rows"])
    table = rows.pivot_table(index=["gain", "repeats"], columns="area", sort=False,
                             values=["non-peak / peak (responsive)", "non-peak / peak (all)", "responsive"])
    published = rows.groupby("area", sort=False)["published"].first()
    table.loc[("published", ""), :] = [published.get(area, np.nan) if "responsive)" in statistic else np.nan
                                       for statistic, area in table.columns]
    return table


def gain_table() -> pd.DataFrame:
    """Each unit family's gain range before (world version 2) and after the calibration."""
    from neurrator.world.population import GAIN_RANGE, GAIN_RANGE_V2

    return pd.DataFrame({"world v2": {f: f"{lo:g}–{hi:g}" for f, (lo, hi) in GAIN_RANGE_V2.items()},
                         "world v3": {f: f"{lo:g}–{hi:g}" for f, (lo, hi) in GAIN_RANGE.items()}}).rename_axis("units")


def verdict_text(table: pd.DataFrame) -> str:
    """One clause per statistic of :func:`published_table`: its groups by verdict."""
    clauses = []
    for statistic, rows in table.groupby(level="statistic", sort=False):
        parts = [f"{verdict} for {', '.join(group.index.get_level_values('group'))}"
                 for verdict, group in rows.groupby("verdict", sort=False)]
        clauses.append(f"{statistic}: {'; '.join(parts)}")
    return ". ".join(clauses)
