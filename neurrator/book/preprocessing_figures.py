"""Chapter 01's figures: the planted codes of the simulated world, the split layout, and the light responses
behind optotagging. Each function draws one figure and returns it."""

from __future__ import annotations

import textwrap
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from neurrator.data import optotagging

PLANTED_EXAMPLES = (("lgd_dog", "LGd centre–surround"), ("v1_energy", "V1 edge energy"), ("hpc_drift", "hippocampus drift"))
CODE_FAMILIES = {"lgd_dog": "LGd", "v1_energy": "V1", "hva_midlevel": "higher visual", "hpc_drift": "hippocampus",
                 "pv_contrast": "PV", "sst_vehicle": "SST", "vip_luminance": "VIP"}


def planted_code_rasters(recording, truth: pd.DataFrame, session_id: int, stimulus: str = "natural_movie_one",
                         seconds: float = 10.0):
    """Raster across repeats and PSTH of the first ``seconds`` of ``stimulus`` for the fastest-firing unit (passing
    QC) of each example code in ``truth`` (the world's ground truth, indexed by unit id), one example under the
    other so that each keeps the column's width."""
    table = recording.stimulus(stimulus)
    starts = table.loc[table["frame"] == 0, "start_time"].to_numpy()
    fig, axes = plt.subplots(2 * len(PLANTED_EXAMPLES), 1, figsize=(7.0, 3.0 * len(PLANTED_EXAMPLES)), sharex=True,
                             gridspec_kw={"height_ratios": [1.6, 1] * len(PLANTED_EXAMPLES)})
    for row, (code, label) in enumerate(PLANTED_EXAMPLES):
        raster, rate = axes[2 * row], axes[2 * row + 1]
        candidates = truth[(truth["session_id"] == session_id) & (truth["code"] == code) & truth["passes_qc"]]
        spikes = recording.spike_times[int(candidates["firing_rate"].idxmax())]
        rel = [spikes[(spikes >= s) & (spikes < s + seconds)] - s for s in starts]
        raster.eventplot(rel, colors="k", linelengths=0.8, linewidths=0.6)
        raster.set(title=label, ylabel="repeat")
        psth, edges = np.histogram(np.concatenate(rel), bins=np.arange(0, seconds + 0.05, 0.1))
        rate.plot(edges[:-1], psth / len(starts) / 0.1, color=f"C{row}")
        rate.set(ylabel="rate (Hz)")
    axes[-1].set_xlabel(f"time in {stimulus} (s)")
    fig.tight_layout()
    return fig


def firing_rates_by_code(truth: pd.DataFrame):
    """The firing-rate distribution of the simulated units, one line per code family."""
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.histplot(x=truth["firing_rate"], hue=truth["code"].map(CODE_FAMILIES), log_scale=True, element="step",
                 fill=False, ax=ax)
    ax.set(xlabel="mean firing rate (Hz)", title="Firing-rate distribution of the simulated units")
    return fig


def split_layout(binned, regime_splits: Mapping):
    """Each regime's train / validation / test bins on a repeats x frames grid, one regime under the other."""
    fig, axes = plt.subplots(len(regime_splits), 1, figsize=(7.0, 1.2 * len(regime_splits) + 1.0), sharex=True)
    colours = ["#dddddd", "C0", "C1", "C3"]
    cmap = plt.matplotlib.colors.ListedColormap(colours)
    for ax, (regime, split) in zip(np.atleast_1d(axes), regime_splits.items()):
        grid = np.full((binned.repeat.max() + 1, binned.frame.max() + 1), -1)
        grid[binned.repeat, binned.frame] = split.labels
        ax.imshow(grid + 1, aspect="auto", cmap=cmap, vmin=0, vmax=3, interpolation="nearest")
        ax.set_title(regime.replace("_", " "), loc="left")
        ax.set(ylabel="repeat", yticks=[])
    np.atleast_1d(axes)[-1].set_xlabel(f"{binned.stimulus} frame")
    handles = [plt.matplotlib.patches.Patch(color=c, label=l) for c, l in zip(colours[1:], ["train", "validation", "test"])]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Split layout per regime (rows: repeats)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def light_responses(tags: pd.DataFrame, recordings: Mapping):
    """Top: the light raster of the most responsive tagged Cre-line cell (or, with none, the most responsive unit);
    bottom: every cortical unit's evoked / baseline ratio by genotype against the threshold 2."""
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 6.4))
    tagged_cre = tags[tags["tagged"] & tags["genotype"].ne("wt")]   # sessions without a Cre line tag none
    unit = (tagged_cre if len(tagged_cre) else tags)["ratio"].idxmax()
    trial, time = optotagging.light_raster(recordings[int(tags.loc[[unit], "session_id"].iloc[0])], unit)
    axes[0].scatter(time * 1000, trial, s=4, color="C0")
    axes[0].axvspan(0, 10, color="C9", alpha=0.2, label="light")
    title = (f"A tagged cell (unit {unit})" if len(tagged_cre)
             else f"No tagged Cre-line cell; the most light-responsive unit ({unit})")
    axes[0].set(xlabel="time from light onset (ms)", ylabel="pulse", title="\n".join(textwrap.wrap(title, 60)))
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    sns.stripplot(data=tags, x="genotype", y="ratio", hue="tagged", size=3, ax=axes[1], jitter=0.3)
    axes[1].axhline(2, color="k", ls="--", lw=1)
    axes[1].set(yscale="symlog", ylabel="evoked / (baseline + 1)", title="Light response of every cortical unit")
    axes[1].legend(title="tagged", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def units_per_region(units: pd.DataFrame):
    """Units passing the Allen QC per region (most first), one bar per genotype."""
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    kept = units[units["passes_qc"]]
    sns.countplot(data=kept, y="region", order=kept["region"].value_counts().index, hue="genotype", ax=ax)
    ax.set(xlabel="units passing Allen QC", ylabel="", title="Units per region after quality control, by genotype")
    ax.legend(title="genotype", loc="lower right")
    return fig


#: the order of the calibration figure's groups: region pools in hierarchy order, then the Cre lines
CALIBRATION_GROUPS = ("LGd", "VISp", "higher visual", "hippocampus", "PV", "SST", "VIP")


def calibration_figure(stats: pd.DataFrame, published: pd.DataFrame, groups=CALIBRATION_GROUPS):
    """Top row: each published value (black diamond) beside the simulated value of the same regions with its 95 %
    interval; below: distributions over units per group of statistics with no published value."""
    fig, axes = plt.subplots(3, 2, figsize=(7.0, 10.5))
    for ax, (statistic, rows) in zip(axes[0], published.groupby(level="statistic", sort=False)):
        rows = rows.droplevel("statistic")
        x = np.arange(len(rows))
        sim = rows["simulated"].to_numpy(float)
        err = np.abs(np.vstack([sim - rows["low"].to_numpy(float), rows["high"].to_numpy(float) - sim]))
        ax.bar(x, np.nan_to_num(sim), color="C0", alpha=0.7, label="simulated (95% interval)")
        ax.errorbar(x, sim, yerr=np.nan_to_num(err), fmt="none", ecolor="k", capsize=3)
        ax.scatter(x, rows["published"], marker="D", color="k", zorder=3, label="published")
        for i in np.flatnonzero(~np.isfinite(sim)):
            ax.text(i, 0.02, "none\nresponsive", ha="center", va="bottom", fontsize=9, rotation=90)
        ax.set_xticks(x, [f"{textwrap.fill(g, 8, break_long_words=False)}\n(n={n})"
                          for g, n in zip(rows.index, rows["simulated units"])], fontsize=9, rotation=90)
        ax.set(ylim=(0, 1.05), title=textwrap.fill(statistic, 26))
    axes[0, 0].legend(fontsize=9, loc="center left")
    present = [g for g in groups if (stats["group"] == g).any()]
    panels = [(axes[1, 0], "reliability_movie", "reliability across repeats (mean r)", False),
              (axes[1, 1], "firing_rate_movie", "firing rate, natural_movie_one (Hz)", True),
              (axes[2, 0], "lifetime_sparseness_ns", "lifetime sparseness, scenes", False),
              (axes[2, 1], "fano_ns", "Fano factor, preferred scene", False)]
    for ax, column, title, log in panels:
        data = stats[stats["group"].isin(present)]
        sns.boxplot(data=data, x="group", y=column, order=present, ax=ax, color="C0", fliersize=1.5, log_scale=log)
        ax.set(xlabel="", ylabel="", title=f"{textwrap.fill(title, 26)}\n(no published value found)")
        ax.tick_params(axis="x", labelsize=9, rotation=90)
    fig.suptitle("The demo world's units against published Allen Neuropixels values")
    fig.tight_layout()
    return fig
