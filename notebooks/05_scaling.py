# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · How many neurons does a sentence need? Scaling by population and region
#
# ## Overview
# One session holds a few dozen V1 units and a couple of hundred in all: too few to ask how
# narration grows with the number of neurons. This chapter lines up **every unit of every session**
# on one frame-aligned axis (a pan-session pseudo-mouse), trains one encoder on it, and then queries
# that same encoder with random subsets of its neurons from each brain region, every other input
# zeroed (the paper's Sec. 4.2, Fig. 4 and Fig. 5 left).
#
# You will learn:
# 1. how the pan-session pseudo-mouse is built and how large each region pool is;
# 2. how narration fidelity (SBERT against the reference), patch cosine and retrieval rank grow with
#    population size, per pool, against the random-caption floor;
# 3. where each pool crosses that floor, with a bootstrap interval;
# 4. how similar the narrations of different pools are for the same frames;
# 5. whether querying one model with a mask is fair to small populations (against models retrained
#    on the subset alone);
# 6. whether the ordering of pools matches the codes planted in the demo world.
#
# ## Prerequisites
# - Chapter 01 (binned sessions), chapter 02 (target grids and reference captions); chapters 03–04
#   explain the encoder, its training schedule and the scoring of narrations (this chapter trains its own
#   encoder and reads nothing they write).

# %% tags=["parameters", "hide-input"]
profile = "demo"                  # "demo" (offline, CPU) or "paper" (the paper's encoder and narrator, on a GPU)
data_dir = None                   # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0
stimulus = "natural_movie_one"
session_ids = None                # None: every processed session joins the pseudo-mouse; or a list of session ids
regimes = ["sparse_random"]       # the pan-session encoder is trained for each; the sweep uses the first
split_fractions = [0.7, 0.15, 0.15]
train_options = None              # None: the profile's pan-session schedule (see section 2); or overrides of the preset
retrain = False                   # True: ignore finished checkpoints and train again (needed after changing train_options)
pools = ["LGd", "VISp", "higher visual", "visual cortex", "hippocampus", "all"]
sizes = [3, 10, 30, 100, 300, 1000, 3000]   # population sizes (each pool also gets its own size)
draws = 5                         # independent random draws of units per size
windows_per_frame = 2             # test windows per held-out frame in the sweep (None: all of them)
retrain_pool = "VISp"             # the mask-vs-retrained check: a pool ...
retrain_sizes = [30]              # ... and its sizes, each trained on the subset alone (each costs a training)
n_boot = 1000                     # bootstrap resamples of the floor crossing
scheduler = None                  # the sweep's points: None here, one by one; "local": a Dask cluster on this machine;
                                  # "tcp://host:8786": a running Dask scheduler (each worker loads the narrator once)
scheduler_workers = None          # "local" only: workers (default one per core; on the paper profile, one per GPU)
narration_batch_size = 32
llava_model_id = "llava-hf/llava-1.5-7b-hf"   # paper profile: hub id or local path
sbert_model_id = "sentence-transformers/all-MiniLM-L6-v2"   # paper profile: hub id or local path (demo: packaged copy)
device = "auto"

# %% tags=["hide-input"]
import time
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from myst_nb import glue

from neurrator import vlm
from neurrator.artifacts import sha256_file
from neurrator.book import environment, learning_curve, plotting, repro
from neurrator.book.scheduler import INPROCESS, client_for
from neurrator.data import splits
from neurrator.data.pseudomice import pan_session_mouse
from neurrator.data.windows import regime_windows, sample_per_frame
from neurrator.evaluation import inference, results, sbert, scaling
from neurrator.layout import DataLayout
from neurrator.models.training import PAN_SESSION_OPTIONS, fit_and_save, preset, training_summary
from neurrator.vlm import captions
from neurrator.vlm.targets import PatchTargetStore

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
layout = DataLayout.resolve(data_dir, profile)
options = PAN_SESSION_OPTIONS[profile] if train_options is None else dict(train_options)
encoder_config, train_config = preset(profile, seed=seed, device=device, **options)
POPULATION = "pan_session"        # the pseudo-mouse's name in the data layout
timings = {}                      # seconds: training from each model's history (also when loaded), the rest this run

# %% [markdown]
# ## 1. One population from every session
# Units from different mice are lined up bin by bin on `(repeat, frame, bin in presentation)`: the
# same bin of the same frame in the same repeat (chapter 01's pseudo-mice, here with every unit
# rather than the tagged ones). The timing misalignment of aligned bins is measured, not assumed.

# %%
mouse = pan_session_mouse(layout, stimulus, session_ids)
binned = mouse.as_binned()
pool_units = {pool: scaling.pool_columns(mouse.units, pool) for pool in pools}
print(f"{mouse.units['session_id'].nunique()} sessions, {len(mouse.units)} units, {mouse.counts.shape[0]:,} aligned bins; "
      f"largest misalignment of an aligned bin: {mouse.misalignment_ms:.1f} ms")
glue("n_sessions", mouse.units["session_id"].nunique(), display=False)
glue("n_units", len(mouse.units), display=False)
glue("misalignment_ms", f"{mouse.misalignment_ms:.1f}", display=False)

# %% tags=["nbval-check-output"]
pool_table = pd.DataFrame({"units": {p: len(c) for p, c in pool_units.items()},
                           "sweep sizes": {p: ", ".join(map(str, scaling.size_grid(len(c), sizes))) for p, c in pool_units.items()}})
pool_table.rename_axis("pool")

# %%
fig, ax = plt.subplots(figsize=(9, 3.2))
per_session = mouse.units.assign(pool=np.select(
    [mouse.units["column"].isin(pool_units.get(p, [])) for p in ("LGd", "VISp", "higher visual", "hippocampus")],
    ["LGd", "VISp", "higher visual", "hippocampus"], "other")).groupby(["session_id", "pool"]).size().unstack(fill_value=0)
per_session.plot.barh(stacked=True, ax=ax, width=0.8)
ax.set(xlabel="units", ylabel="session", title="The pan-session pseudo-mouse: units contributed by each session")
ax.legend(ncol=5, fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# **Takeaway:** {glue:text}`n_sessions` sessions give one population of {glue:text}`n_units` units,
# aligned to within {glue:text}`misalignment_ms` ms; every pool now spans at least one decade of sizes.

# %% [markdown]
# ## 2. One encoder for all of them
# The architecture, the trainer and the resume logic are chapter 03's. The input layer grows with
# the number of units (one convolution over all of them), so at this width one epoch costs several
# times a single session's. In this run (profile {glue:text}`profile_name`) it trains for
# {glue:text}`pan_schedule`; chapter 03's single-session models train for
# {glue:text}`chapter03_schedule`. `neurrator.models.training.PAN_SESSION_OPTIONS` holds any
# pan-session override of the profile's preset (none on `demo`: the learning curve of
# `benchmarks/learning_curve.py` measures the preset on this pseudo-mouse against a run twice as long, and
# the table below prints where this run's encoder stands). The `paper` profile uses the paper's schedule.

# %%
def schedule(config):
    return (f"{config.max_epochs} epochs of {config.windows_per_epoch or 'all'} windows in batches of {config.batch_size} "
            f"at learning rate {config.lr:g}")


glue("profile_name", profile, display=False)
glue("pan_schedule", schedule(train_config), display=False)
glue("chapter03_schedule", schedule(preset(profile)[1]), display=False)
fractions = tuple(split_fractions)
window_options = dict(seed=seed, fractions=fractions, jitter=train_config.jitter, neuron_dropout=train_config.neuron_dropout)
store = PatchTargetStore(layout.targets)
targets = store.open(stimulus)
binned_inputs = {f"binned_{s}": layout.binned(s, stimulus) for s in sorted(mouse.units["session_id"].unique())}


def train(regime, data, name=POPULATION, columns=None):
    """Chapter 03's trainer on the pseudo-mouse (or on its ``columns`` alone), saved under ``name``."""
    return fit_and_save(data, targets, encoder_config, train_config, checkpoint_dir=layout.checkpoints(name, stimulus, regime),
                        path=layout.decoder(name, stimulus, regime), name=f"{name} {regime}", retrain=retrain,
                        params={"population": name, "stimulus": stimulus, "regime": regime,
                                "columns": None if columns is None else scaling.digest(np.asarray(columns))},
                        inputs={**binned_inputs, "targets": store.path(stimulus)})


runs = {regime: regime_windows(binned, regime, **window_options) for regime in regimes}
for regime, data in runs.items():   # chapter 06 reads the split the pan-session encoder was trained on
    splits.save_split(data.split, layout.split(POPULATION, stimulus, regime), params={"population": POPULATION},
                      inputs=binned_inputs)
decoders = {regime: train(regime, data) for regime, data in runs.items()}
timings["training the pan-session encoder(s)"] = sum(d.history_["seconds"].sum() for d in decoders.values())

# %% tags=["nbval-check-output"]
pd.DataFrame({regime: data.counts() for regime, data in runs.items()}).T

# %%
history = pd.concat([d.history_.assign(regime=r) for r, d in decoders.items()], ignore_index=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
sns.lineplot(data=history, x="epoch", y="train_loss", hue="regime", ax=axes[0])
axes[0].set(title="training loss", ylabel="0.5 MSE + 0.5 (1 - cosine)")
sns.lineplot(data=history, x="epoch", y="val_score", hue="regime", ax=axes[1])
axes[1].set(title="validation patch cosine", ylabel="mean patch cosine")
plt.tight_layout()
plt.show()

# %%
single = learning_curve.measured_run(regimes[0], train_config)   # the same recipe on one session (the benchmark's)
glue("pan_best", f"{decoders[regimes[0]].history_['val_score'].max():.2f}", display=False)
glue("single_best", "not measured for this recipe" if single is None else
     f"{single['best_val_cosine']:.2f} on session {single['session']}'s {single['units']} units", display=False)
pan_summary = training_summary({f"pan-session, {r}": d for r, d in decoders.items()},
                               plateaus={f"pan-session, {r}": v for r, v in learning_curve.plateaus(POPULATION).items()})
glue("pan_epochs", f"{pan_summary['epochs run'].iloc[0]} of {pan_summary['epochs scheduled'].iloc[0]}", display=False)
pan_summary.drop(columns="training (s)").round(3)

# %% [markdown]
# **Takeaway:** the pan-session encoder ran {glue:text}`pan_epochs` scheduled epochs; its best validation patch cosine is {glue:text}`pan_best`
# (the same recipe and regime on a single session, as measured by `benchmarks/learning_curve.py`:
# {glue:text}`single_best`); the sweep below queries the {glue:text}`sweep_regime` model on
# its held-out frames.

# %% [markdown]
# ## 3. The sweep: pools × sizes × draws
# Each point draws `size` units of a pool at random (seeded by the point), zeroes every other input
# and predicts the grids of the held-out frames ({glue:text}`sweep_windows` test windows per frame,
# spread over the test repeats), which the frozen narrator turns into sentences, scored with SBERT
# against the reference as in chapter 04. Each point is one call with its own artifact: a finished
# point is read back, not recomputed. The points run here one by one; with the `scheduler` parameter
# (`"local"`, or the address of a running Dask scheduler) they are spread over Dask workers, each of
# which loads the narrator once.

# %%
regime = regimes[0]
glue("sweep_regime", regime.replace("_", "-"), display=False)
glue("sweep_windows", "all" if windows_per_frame is None else windows_per_frame, display=False)
decoder = decoders[regime]
test = sample_per_frame(runs[regime].test, windows_per_frame)
backend_options = {"model_id": llava_model_id} if profile == "paper" else {"cache_dir": layout.models}
sbert_options = {"model_id": sbert_model_id} if profile == "paper" else {}
backend = vlm.load_backend(profile, **backend_options)
model = sbert.load_memoized(profile, **sbert_options)
references = captions.read_captions(layout.captions(stimulus))
scoring_inputs = scaling.scoring_inputs(backend=backend, sbert_model=model, references=references, targets=targets,
                                        batch_size=narration_batch_size)
key = scaling.point_key(decoder_path=layout.decoder(POPULATION, stimulus, regime), windows=test,
                        captions_path=layout.captions(stimulus), targets_path=store.path(stimulus),
                        narrator=llava_model_id if profile == "paper" else backend.name,
                        sbert=sbert_model_id if profile == "paper" else "demo")


def run(point, columns, decoder=decoder, sweep=f"scaling_{regime}"):
    return scaling.run_point(point, columns, decoder=decoder, windows=test, seed=seed,
                             path=layout.sweep_point(sweep, point.name), key=key, **scoring_inputs)


narrator_factories = {"backend": partial(vlm.load_backend, profile, **backend_options),
                      "sbert_model": partial(sbert.load_memoized, profile, **sbert_options)}


points = scaling.sweep_points({p: len(c) for p, c in pool_units.items()}, sizes, draws)
writer = getattr(backend, "writer", None)
decoded_before = writer.decoded if writer is not None else None
started = time.perf_counter()
tasks = [(point, scaling.draw_columns(point, pool_units[point.pool], seed), layout.sweep_point(f"scaling_{regime}", point.name))
         for point in points]
already_done = sum(scaling.is_done(path, scaling.point_params(point, columns, key, seed)) for point, columns, path in tasks)
with client_for(scheduler, workers=scheduler_workers) as client:
    sweep = pd.concat(scaling.run_sweep(tasks, client=client, narrator_factories=narrator_factories, decoder=decoder,
                                        windows=test, key=key, seed=seed, **scoring_inputs), ignore_index=True)
timings[f"sweep: {len(points) - already_done} points computed, {already_done} read back"] = time.perf_counter() - started
computed = len(points) - already_done
narrated_now = int(sweep["pool"].size * computed / max(len(points), 1))
if writer is not None and scheduler in INPROCESS and narrated_now:
    decoded = writer.decoded - decoded_before
    print(f"{len(points)} points ({computed} computed now), {len(sweep):,} narrations; for the {narrated_now:,} narrated now the "
          f"demo narrator decoded {decoded:,} new label sets: a sentence-cache hit rate of {1 - decoded / narrated_now:.0%}")
else:
    print(f"{len(points)} points ({computed} computed now), {len(sweep):,} narrations")

# %%
by_point = sweep.groupby(["pool", "size", "draw"], sort=False).agg(
    matched=("matched", "mean"), random_caption=("random_caption", "mean"), shuffled=("shuffled", "mean"),
    patch_cosine=("patch_cosine", "mean"), median_rank=("rank", "median")).reset_index()
floor = sweep["random_caption"].mean()
fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
for ax, column, label in [(axes[0], "matched", "SBERT cosine with the reference"),
                          (axes[1], "patch_cosine", "patch cosine with the true grid"),
                          (axes[2], "median_rank", "median rank of the true frame")]:
    sns.lineplot(data=by_point, x="size", y=column, hue="pool", hue_order=pools, marker="o", errorbar=("pi", 90), ax=ax,
                 legend=ax is axes[0])
    ax.set(xscale="log", xlabel="units queried (log)", ylabel=label)
axes[0].axhline(floor, color="k", linestyle="--", linewidth=1, label="random-caption floor")
axes[0].legend(fontsize=8)
axes[2].axhline((targets.shape[0] + 1) / 2, color="k", linestyle="--", linewidth=1)
axes[2].set(yscale="log", title="dashed: chance")
axes[0].set_title("narration fidelity (band: 90 % of draws)")
plt.tight_layout()
plt.show()

# %%
def size_range(pool):
    curve = by_point[by_point["pool"] == pool].groupby("size")["matched"].mean()
    return f"{curve.iloc[0]:.2f} at {curve.index[0]} units to {curve.iloc[-1]:.2f} at {curve.index[-1]}"


hippo_gaps = (by_point["matched"] - by_point["random_caption"])[by_point["pool"] == "hippocampus"]
glue("rise_visual", size_range("visual cortex") if "visual cortex" in set(by_point["pool"]) else "n/a", display=False)
glue("hippo_gap_range", f"{hippo_gaps.min():+.2f} to {hippo_gaps.max():+.2f}" if len(hippo_gaps) else "n/a", display=False)
hippo_ranks = by_point[by_point["pool"] == "hippocampus"].groupby("size")["median_rank"].mean()
glue("hippo_ranks", f"{hippo_ranks.iloc[0]:.0f} at {hippo_ranks.index[0]} units and {hippo_ranks.iloc[-1]:.0f} at "
     f"{hippo_ranks.index[-1]} (chance {(targets.shape[0] + 1) / 2:.0f})" if len(hippo_ranks) else "n/a", display=False)

# %% [markdown]
# **Takeaway:** matched SBERT of the visual-cortex pool rises from {glue:text}`rise_visual`, and
# patch cosine and retrieval improve with it; a hippocampal draw's gap above the floor stays between
# {glue:text}`hippo_gap_range` at every size. The hippocampal predictions are not entirely empty,
# though: the true frame's median rank is {glue:text}`hippo_ranks`. The planted hippocampal units
# have no stimulus drive, only a slow random drift, so whatever frame information they carry comes
# from *when* a frame is shown, not from what it shows; chapter 08's exclusion-zone retrieval
# (neighbouring frames removed from the candidates) is the test for it.

# %% [markdown]
# ## 4. Where each pool crosses the random-caption floor
# The floor is the score of the same narrations against a random reference caption of the movie.
# At each size, the gap (matched − random caption) is averaged over draws and frames. A pool's
# **crossing** is the smallest size from which the mean gap stays above zero, interpolated on the log
# axis between the two sizes of the grid that bracket it. Its 95 % interval comes from
# {glue:text}`n_boot` bootstrap resamples of draws (within each size) and of **blocks** of consecutive
# frames (the same blocks at every size; a block spans three autocorrelation lengths of the pool's
# per-frame gap, columns "block (frames)" and "blocks (n_eff)"): the crossing recomputed on each
# resample. A pool **crosses** when the interval's upper end lies inside the range tested, i.e. nearly
# every resample crosses; the band in the figure is the same bootstrap's interval of the gap.

# %%
glue("n_boot", n_boot, display=False)
crossing = scaling.floor_crossing(sweep, n_boot=n_boot, seed=seed).reindex([p for p in pools if p in set(sweep["pool"])])
curves = pd.concat([scaling.gap_curve(sweep[sweep["pool"] == p], n_boot, seed=seed).assign(pool=p) for p in crossing.index])


def describe(row):
    interval = f"95 % interval {row['crossing CI low']:.0f} to {row['crossing CI high']:.0f}"
    if not row["crosses"]:
        return "does not cross reliably in the range tested"
    if row["from_start"]:
        return f"at or below {int(row['above'])} (the smallest size; {interval})"
    return f"≈ {row['crossing']:.0f} (between {int(row['below'])} and {int(row['above'])}; {interval})"


crossing_table = crossing.assign(**{"crossing (units)": crossing.apply(describe, axis=1)})[
    ["units", "crosses", "below", "above", "crossing", "crossing CI low", "crossing CI high", "gap at largest",
     "gap CI low", "block (frames)", "blocks (n_eff)", "crossing (units)"]].round(
    {"crossing": 0, "crossing CI low": 0, "crossing CI high": 0, "gap at largest": 2, "gap CI low": 2})
for pool, row in crossing_table.iterrows():
    glue(f"cross_{pool.replace(' ', '_')}", row["crossing (units)"], display=False)
crossing_table

# %%
fig, ax = plt.subplots(figsize=(9, 4.2))
for i, (pool, curve) in enumerate(curves.groupby("pool", sort=False)):
    ax.plot(curve["size"], curve["gap"], marker="o", color=f"C{pools.index(pool)}", label=pool)
    ax.fill_between(curve["size"], curve["low"], curve["high"], color=f"C{pools.index(pool)}", alpha=0.15)
    if crossing.loc[pool, "crosses"]:
        ax.axvline(crossing.loc[pool, "crossing"], color=f"C{pools.index(pool)}", linestyle=":", linewidth=1)
ax.axhline(0, color="k", linestyle="--", linewidth=1)
ax.set(xscale="log", xlabel="units queried (log)", ylabel="matched − random caption",
       title="Gap above the random-caption floor (band: 95 % bootstrap; dotted: crossing)")
ax.legend(fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# **Takeaway:** LGd crosses {glue:text}`cross_LGd`; V1 {glue:text}`cross_VISp`; the higher visual
# areas {glue:text}`cross_higher_visual`; all visual cortex {glue:text}`cross_visual_cortex`; all
# units {glue:text}`cross_all`; the hippocampus {glue:text}`cross_hippocampus`.

# %% [markdown]
# ## 5. Do different regions say the same thing?
# At the largest size on the grid that every visual pool reaches, the mean SBERT cosine between the
# sentences two pools give for the **same** frame (draw by draw), against the same pairs of pools on
# shuffled frames (the floor). On the diagonal, two different draws of the same pool.

# %%
def shared_sizes(names):
    grids = [set(scaling.size_grid(len(pool_units[p]), sizes)) for p in names]
    return set.intersection(*grids) if grids else set()


compared = [p for p in pools if len(pool_units.get(p, []))]
while compared and not shared_sizes(compared):     # a pool smaller than every other pool's grid drops out
    compared.remove(min(compared, key=lambda p: len(pool_units[p])))
common_size = max(shared_sizes(compared)) if compared else None
glue("common_size", common_size if common_size is not None else "n/a", display=False)
same, shuffled_floor = scaling.pairwise_similarity(
    {p: sweep[(sweep["pool"] == p) & (sweep["size"] == common_size)] for p in compared}, model, seed=seed)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
for ax, matrix, title in [(axes[0], same, f"same frames ({common_size} units per pool)"),
                          (axes[1], same - shuffled_floor, "same frames − shuffled frames")]:
    sns.heatmap(matrix.astype(float), annot=True, fmt=".2f", cmap="viridis", ax=ax, square=True, cbar=False)
    ax.set_title(title)
plt.tight_layout()
plt.show()

# %%
pairs = pd.DataFrame([{"pool A": a, "pool B": b, "same frames": same.loc[a, b], "shuffled frames": shuffled_floor.loc[a, b]}
                      for i, a in enumerate(compared) for b in compared[i + 1:]],
                     columns=["pool A", "pool B", "same frames", "shuffled frames"]).round(2)
pairs["above floor"] = (pairs["same frames"] - pairs["shuffled frames"]).round(2)
visual_pairs = pairs[~pairs[["pool A", "pool B"]].isin(["hippocampus"]).any(axis=1)]
glue("visual_pair_min", f"{visual_pairs['above floor'].min():.2f}" if len(visual_pairs) else "n/a", display=False)
glue("hippo_pair_max", f"{pairs.loc[pairs.index.difference(visual_pairs.index), 'above floor'].max():.2f}"
     if len(pairs) > len(visual_pairs) else "n/a", display=False)
pairs

# %% [markdown]
# **Takeaway:** every pair of visual pools agrees on a frame more than on shuffled frames (by at least
# {glue:text}`visual_pair_min`), while pairs with the hippocampus sit at most
# {glue:text}`hippo_pair_max` above their floor.

# %% [markdown]
# ## 6. Is one masked model fair to small populations?
# The sweep queries a model trained on all units with most of its inputs zeroed: at 10 units it is
# far outside what it saw in training (10 % neuron dropout). Beyond the paper: for
# {glue:text}`retrain_pool`, an encoder trained on each drawn subset **alone** (same frames, repeats,
# schedule and z-scoring), scored on the same frames against the masked query of the same units.

# %%
glue("retrain_pool", retrain_pool, display=False)
comparison, retrain_seconds = [], 0.0
retrain_units = scaling.pool_columns(mouse.units, retrain_pool)
for size in [s for s in retrain_sizes if s <= len(retrain_units)]:
    point = scaling.SweepPoint(retrain_pool, size, 0)
    columns = scaling.draw_columns(point, retrain_units, seed)
    name = f"{POPULATION}_{retrain_pool.replace(' ', '_')}_{size}"
    subset = regime_windows(binned.select_units(columns), regime, **window_options)
    retrained = train(regime, subset, name=name, columns=columns)
    retrain_seconds += retrained.history_["seconds"].sum()
    retrained_key = {**key, "decoder": sha256_file(layout.decoder(name, stimulus, regime))[:16]}
    alone = scaling.run_point(point, np.arange(size), decoder=retrained, seed=seed,
                              windows=sample_per_frame(subset.test, windows_per_frame),
                              path=layout.sweep_point(f"retrained_{regime}", point.name), key=retrained_key, **scoring_inputs)
    masked = run(point, columns)
    for how, table in (("mask query of the pan-session model", masked), ("trained on the subset alone", alone)):
        comparison.append({"pool": retrain_pool, "size": size, "model": how, "matched": table["matched"].mean(),
                           "random caption": table["random_caption"].mean(), "patch cosine": table["patch_cosine"].mean(),
                           "median rank": table["rank"].median()})
timings["training the subset encoders (section 6)"] = retrain_seconds
comparison = pd.DataFrame(comparison, columns=["pool", "size", "model", "matched", "random caption", "patch cosine",
                                              "median rank"])
comparison.round(2)

# %%
if len(comparison):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column in zip(axes, ["matched", "patch cosine"]):
        sns.barplot(data=comparison, x="size", y=column, hue="model", ax=ax)
        ax.set(xlabel=f"{retrain_pool} units", ylabel=column)
    axes[0].axhline(comparison["random caption"].mean(), color="k", linestyle="--", linewidth=1, label="random caption")
    axes[0].legend(loc="upper center", bbox_to_anchor=(1.1, -0.18), ncol=3, fontsize=9)
    axes[1].legend().remove()
    plt.tight_layout()
    plt.show()
    wide = comparison.pivot(index="size", columns="model", values="patch cosine")
    better = wide["trained on the subset alone"] > wide["mask query of the pan-session model"]
    glue("retrain_verdict", "higher" if better.all() else "lower" if not better.any() else "higher at some sizes and lower at others",
         display=False)
else:
    glue("retrain_verdict", f"not measured ({retrain_pool} has {len(retrain_units)} units, fewer than every size asked for)",
         display=False)

# %% [markdown]
# **Takeaway:** trained on the subset alone, the patch cosine is {glue:text}`retrain_verdict` than
# the masked query of the same units. Where it is higher, the sweep's curve is a lower bound on what
# a population of that size carries: the masked model underestimates small populations.

# %% [markdown]
# ## 7. Against the planted truth
# The demo world planted each region's code: LGd reports centre–surround luminance, V1 oriented-edge
# energy, the higher areas read out mid-level deep-network features (the kind of feature the target
# grid is made of), and the hippocampus has no stimulus-locked drive. The hippocampus must therefore
# never cross the floor; among visual pools, the planted codes predict that units closer to the
# target's own feature space (higher areas) decode more per unit than edge (V1) and luminance (LGd)
# units. The paper, on real mice, found V1 most efficient.

# %%
at_size = by_point[by_point["size"] == common_size].groupby("pool")[["matched", "random_caption"]].mean()
if at_size.empty:
    at_size = pd.DataFrame({"matched": [], "random_caption": []})
at_size["gap"] = at_size["matched"] - at_size["random_caption"]
ordering = at_size["gap"].reindex(compared).sort_values(ascending=False)
glue("ordering", " > ".join(f"{p} ({g:+.2f})" for p, g in ordering.items()), display=False)
def frame_gaps(pool, size):
    part = sweep[(sweep["pool"] == pool) & (sweep["size"] == size)]
    return (part["matched"] - part["random_caption"]).groupby(part["frame"]).mean()


contrasts = []
for other in ("VISp", "LGd"):
    if {"higher visual", other} <= set(compared):
        mine, theirs = frame_gaps("higher visual", common_size), frame_gaps(other, common_size)
        blocks = inference.frame_blocks(mine.index.to_numpy(), (mine - theirs).to_numpy())
        test = inference.paired_block_test(mine, theirs, blocks, alternative="two-sided", seed=seed)
        contrasts.append({"higher visual vs": other, "difference in gap": test["difference"],
                          "block (frames)": blocks.length, "blocks (n_eff)": blocks.n, "p": test["p"]})
contrasts = pd.DataFrame(contrasts, columns=["higher visual vs", "difference in gap", "block (frames)", "blocks (n_eff)", "p"])
contrasts["q (Holm)"] = inference.correct(contrasts["p"].to_numpy(), "holm")
contrast_family = inference.family_note("the planted-ordering contrasts", len(contrasts), "holm",
                                        "two-sided sign-flip test on block means of the per-frame difference in gap")
as_planted = len(contrasts) == 2 and bool(((contrasts["difference in gap"] > 0) & (contrasts["q (Holm)"] < 0.05)).all())
tested = "; ".join(f"vs {r['higher visual vs']} {r['difference in gap']:+.2f}, q {inference.format_p(r['q (Holm)'])} "
                   f"over {r['blocks (n_eff)']} blocks" for _, r in contrasts.iterrows())
if len(contrasts) < 2:
    planted_verdict = "the planted ordering (higher visual areas above V1 and LGd) is not tested: those pools are not all in this run"
elif as_planted:
    planted_verdict = f"as the planted codes predict, the higher visual areas decode more than V1 and LGd at the same size ({tested})"
else:
    planted_verdict = (f"the higher visual areas do not decode clearly more than both V1 and LGd at the same size, "
                       f"against the planted prediction ({tested})")
glue("planted_verdict", planted_verdict, display=False)
visual_crossings = crossing.drop(index=[p for p in ("hippocampus",) if p in crossing.index])
low_crossers = visual_crossings[visual_crossings["crosses"] & (visual_crossings["crossing"] <= 10)]
regions = [p for p in ("LGd", "VISp", "higher visual") if p in ordering.index]   # single regions, not their unions
best_visual = ordering[regions].idxmax() if regions else None
if len(low_crossers):
    timing = (f"{len(low_crossers)} of {len(visual_crossings)} visual pools (with all units) cross at 10 units or fewer, "
              "earlier than the paper's tens to hundreds: each simulated unit is driven by its planted code with only "
              "modest trial-to-trial gain noise, where many real units respond weakly or unreliably to natural movies.")
else:
    timing = "no visual pool crosses at 10 units or fewer; as in the paper, tens of units or more are needed."
if best_visual in ("VISp", None):
    efficiency = "V1 is the most efficient region here too, as in the paper." if best_visual else ""
elif best_visual == "higher visual":
    efficiency = ("V1 is not the most efficient region here (the higher visual areas are): their planted readouts of "
                  "mid-level deep features are closer to the target grid than V1's edge energy.")
else:
    efficiency = f"V1 is not the most efficient region here ({best_visual} is)."
if {"all", "visual cortex"} <= set(crossing.index) and crossing.loc[["all", "visual cortex"], "crosses"].all():
    everything, visual = crossing.loc["all", "crossing"], crossing.loc["visual cortex", "crossing"]
    visual_share = len(set(pool_units["visual cortex"]) | set(pool_units.get("LGd", []))) / len(pool_units["all"])
    lag = (f"The paper found the all-neurons pool lagging the visual pools; here it crosses "
           f"{'later than' if everything > visual else 'no later than'} visual cortex ({everything:.1f} vs {visual:.1f} "
           f"units); {visual_share:.0%} of its units are in visual cortex or LGd, so a random draw from it is mostly "
           "a draw of visual units.")
else:
    lag = "The all-neurons pool and visual cortex do not both cross in this run, so the paper's lag is not tested."
glue("paper_comparison", f"{timing} {efficiency} {lag}".strip(), display=False)
hippo_crosses = bool(crossing.loc["hippocampus", "crosses"]) if "hippocampus" in crossing.index else None
glue("hippo_verdict", "does not cross the floor, as planted" if hippo_crosses is False else
     "crosses the floor, against the planted truth" if hippo_crosses else "is not among the pools of this run", display=False)
fig, ax = plt.subplots(figsize=(7, 3.2))
ordering.plot.barh(ax=ax, color=["0.6" if p == "hippocampus" else "C0" for p in ordering.index])
ax.axvline(0, color="k", linewidth=1)
ax.invert_yaxis()
ax.set(xlabel=f"matched − random caption at {common_size} units", title="Pools ordered by narration fidelity")
plt.show()

# %%
print(contrast_family)
contrasts.round({"difference in gap": 2}).assign(**{c: contrasts[c].map(inference.format_p) for c in ("p", "q (Holm)")})

# %% [markdown]
# **Takeaway:** at {glue:text}`common_size` units the pools order as {glue:text}`ordering` (gap above
# the floor, per frame paired across pools); {glue:text}`planted_verdict`. The hippocampus
# {glue:text}`hippo_verdict`. Against the paper: {glue:text}`paper_comparison`.

# %%
results.record(layout, "05_scaling", {
    "floor crossing": results.table_record(crossing_table.drop(columns=["crossing (units)", "block (frames)", "blocks (n_eff)"]), {
        "units": results.EXACT, "crosses": results.EXACT, "below": results.CROSSING, "above": results.CROSSING,
        **dict.fromkeys(["crossing", "crossing CI low", "crossing CI high"], results.CROSSING),
        "gap at largest": results.SBERT_MEAN, "gap CI low": results.SBERT_MEAN}),
    "planted contrasts": results.table_record(contrasts.drop(columns=["block (frames)", "blocks (n_eff)"]).set_index(
        "higher visual vs"), {"difference in gap": results.SBERT_MEAN, "p": results.P_VALUE, "q (Holm)": results.P_VALUE}),
    "pairwise": results.table_record(pairs.set_index(["pool A", "pool B"]), dict.fromkeys(
        ["same frames", "shuffled frames", "above floor"], results.SBERT_MEAN)),
    "mask vs retrained": results.table_record(comparison.round(2).set_index(["size", "model"]), {
        "pool": results.EXACT, "matched": results.SBERT_MEAN, "random caption": results.SBERT_MEAN,
        "patch cosine": results.COSINE, "median rank": results.RANK})})
pd.Series(timings, name="seconds").round(0).to_frame()

# %% [markdown]
# ## Summary
# - A pan-session pseudo-mouse of every unit, aligned frame by frame, trains one encoder; querying it
#   with subsets of its inputs gives scaling curves from 10 units to the whole population.
# - Visual pools rise above the random-caption floor as units are added (section 4 says where);
#   hippocampal units never do, and different visual pools narrate the same frames alike.
# - The masked query of one model and models trained on the subsets alone are compared in section 6.
#
# ## What's next
# Chapter 06 queries the same pan-session encoder with the optotagged PV, SST and VIP cells.
