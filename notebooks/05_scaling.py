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

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Parameters: profile, data, pools, sizes, draws and the sweep's scheduler"}
profile = "demo"                  # "demo" (offline, CPU) or "paper" (the paper's encoder and narrator, on a GPU)
data_dir = None                   # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0
stimulus = "natural_movie_one"
session_ids = None                # None: every processed session joins the pseudo-mouse; or a list of session ids
regimes = ["sparse_random"]       # the pan-session encoder is trained for each; the sweep uses the first
split_fractions = [0.7, 0.15, 0.15]
train_options = {}                # overrides of the profile's pan-session schedule (see section 2)
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

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Imports, the profile, the data layout and the pan-session preset"}
from functools import partial

import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

from neurrator import profiles
from neurrator.book import environment, learning_curve, plotting, repro, scaling_figures, tables
from neurrator.data.pseudomice import pan_session_mouse
from neurrator.data.windows import sample_per_frame
from neurrator.evaluation import results, scaling
from neurrator.layout import DataLayout
from neurrator.models.training import training_summary
from neurrator.world.simulate import WORLD_VERSION

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
layout = DataLayout.resolve(data_dir, profile)
setup = profiles.get(profile, llava_model_id=llava_model_id, sbert_model_id=sbert_model_id)
encoder_config, train_config = setup.pan_session_preset(seed=seed, device=device, **train_options)
CHAPTER = "05_scaling"
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

# %% tags=["remove-input"]
print(f"{mouse.units['session_id'].nunique()} sessions, {len(mouse.units)} units, {mouse.counts.shape[0]:,} aligned bins; "
      f"largest misalignment of an aligned bin: {mouse.misalignment_ms:.1f} ms")
glue("n_sessions", mouse.units["session_id"].nunique(), display=False)
glue("n_units", len(mouse.units), display=False)
glue("misalignment_ms", f"{mouse.misalignment_ms:.1f}", display=False)

# %% tags=["nbval-check-output", "remove-input"]
scaling.pool_table(pool_units, sizes)

# %%
scaling_figures.units_per_session(scaling.units_per_session(mouse.units, pool_units))
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
# {glue:text}`chapter03_schedule`. The profile's `pan_session_preset` holds any
# pan-session override of the profile's preset (none on `demo`: the learning curve of
# `benchmarks/learning_curve.py` measures the preset on this pseudo-mouse against a run twice as long, and
# the table below prints where this run's encoder stands). The `paper` profile uses the paper's schedule.

# %% tags=["remove-input"]
glue("profile_name", profile, display=False)
glue("pan_schedule", scaling.schedule_text(train_config), display=False)
glue("chapter03_schedule", scaling.schedule_text(setup.encoder_preset()[1]), display=False)

# %%
pan = scaling.PanSession(layout, stimulus, mouse.units, encoder_config, train_config, seed=seed,
                         fractions=tuple(split_fractions), retrain=retrain, made_by=CHAPTER)
runs, decoders = pan.train_regimes(binned, regimes)   # chapter 06 reads the split the encoder was trained on

# %% tags=["nbval-check-output", "remove-input"]
timings["training the pan-session encoder(s)"] = sum(d.history_["seconds"].sum() for d in decoders.values())
pd.DataFrame({regime: data.counts() for regime, data in runs.items()}).T

# %%
scaling_figures.training_history(decoders)
plt.show()

# %% tags=["remove-input"]
single = learning_curve.measured_run(regimes[0], train_config)   # the same recipe on one session (the benchmark's)
single_world = learning_curve.world_note()
glue("pan_best", f"{decoders[regimes[0]].history_['val_score'].max():.2f}", display=False)
glue("single_best", "not measured for this recipe" if single is None else
     f"{single['best_val_cosine']:.2f} on session {single['session']}'s {single['units']} units"
     + (f", {single_world}" if single_world else ""), display=False)
pan_summary = training_summary({f"pan-session, {r}": d for r, d in decoders.items()}, plateaus={
    f"pan-session, {r}": v for r, v in learning_curve.plateaus(scaling.POPULATION).items()})
glue("pan_epochs", f"{pan_summary['epochs run'].iloc[0]} of {pan_summary['epochs scheduled'].iloc[0]}", display=False)
tables.show(pan_summary.drop(columns="training (s)").round(3), digits=3)

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

# %% tags=["remove-input"]
regime = regimes[0]
glue("sweep_regime", regime.replace("_", "-"), display=False)
glue("sweep_windows", "all" if windows_per_frame is None else windows_per_frame, display=False)

# %%
backend, model = setup.backend(layout), setup.sentence_model(memoized=True)
inputs = pan.sweep_inputs(decoders[regime], sample_per_frame(runs[regime].test, windows_per_frame), regime,
                          backend=backend, sbert_model=model, narrator=setup.narrator_name(backend),
                          sbert=setup.sbert_name, batch_size=narration_batch_size)
factories = {"backend": partial(setup.backend, layout), "sbert_model": partial(setup.sentence_model, memoized=True)}
done = scaling.run_pool_sweep(pool_units, sizes, draws, layout=layout, name=f"scaling_{regime}", scheduler=scheduler,
                              workers=scheduler_workers, narrator_factories=factories, made_by=CHAPTER, **inputs)
sweep = done.table

# %% tags=["remove-input"]
timings[f"sweep: {done.computed} points computed, {done.read_back} read back"] = done.seconds
print(done.message)

# %%
by_point, n_frames = scaling.point_means(sweep), inputs["targets"].shape[0]
scaling_figures.scaling_curves(by_point, sweep["random_caption"].mean(), pools, n_frames)
plt.show()

# %% tags=["remove-input"]
for name, text in scaling.growth_texts(by_point, n_frames).items():
    glue(name, text, display=False)

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
crossing = scaling.floor_crossing(sweep, n_boot=n_boot, seed=seed).reindex([p for p in pools if p in set(sweep["pool"])])
crossing_table = scaling.crossing_table(crossing)
tables.show(crossing_table, columns=["units", "crosses", "crossing", "crossing CI low", "crossing CI high", "gap at largest",
                                     "gap CI low", "blocks (n_eff)"])

# %% tags=["remove-input"]
glue("n_boot", n_boot, display=False)
for pool, row in crossing_table.iterrows():
    glue(f"cross_{pool.replace(' ', '_')}", row["crossing (units)"], display=False)

# %%
scaling_figures.floor_gap(scaling.gap_curves(sweep, crossing.index, n_boot, seed=seed), crossing, pools)
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
compared, common_size = scaling.common_size(pool_units, pools, sizes)
same, shuffled_floor = scaling.pairwise_similarity(
    {p: sweep[(sweep["pool"] == p) & (sweep["size"] == common_size)] for p in compared}, model, seed=seed)
scaling_figures.pool_similarity(same, shuffled_floor, common_size)
plt.show()

# %% tags=["remove-input"]
glue("common_size", common_size if common_size is not None else "n/a", display=False)
pairs = scaling.pair_table(same, shuffled_floor, compared)
for name, text in scaling.pair_texts(pairs).items():
    glue(name, text, display=False)
tables.show(pairs, caption="Pairs of pools: SBERT cosine of their narrations of the same and of shuffled frames")

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
comparison, retrain_seconds = scaling.mask_vs_retrained(pan, binned, retrain_pool, retrain_sizes, regime=regime,
                                                        windows_per_frame=windows_per_frame, **inputs)
tables.show(comparison.set_index(["pool", "size", "model"]))

# %% tags=["remove-input"]
glue("retrain_pool", retrain_pool, display=False)
timings["training the subset encoders (section 6)"] = retrain_seconds
glue("retrain_verdict", scaling.retrain_verdict(comparison, retrain_pool, len(scaling.pool_columns(mouse.units, retrain_pool))),
     display=False)

# %%
scaling_figures.mask_vs_retrained(comparison, retrain_pool)
plt.show()

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
ordering = scaling.pool_ordering(by_point, common_size, compared)
contrasts = scaling.planted_contrasts(sweep, compared, common_size, seed=seed)
scaling_figures.pool_ordering(ordering, common_size)
plt.show()

# %% tags=["remove-input"]
planted = scaling.planted_texts(ordering, contrasts, crossing, pool_units)
for name, text in planted.items():
    glue(name, text, display=False)
tables.show(contrasts.set_index("higher visual vs"), p_columns=["p", "q (Holm)"],
            caption=f"Planted contrasts ({scaling.planted_family(contrasts)})")

# %% [markdown]
# **Takeaway:** at {glue:text}`common_size` units the pools order as {glue:text}`ordering` (gap above
# the floor, per frame paired across pools); {glue:text}`planted_verdict`. The hippocampus
# {glue:text}`hippo_verdict`. Against the paper: {glue:text}`paper_comparison`.

# %% tags=["remove-input"]
results.record(layout, CHAPTER, scaling.headline(crossing_table, contrasts, pairs, comparison))
v1 = crossing.loc["VISp"] if "VISp" in crossing.index else None
v1_text = ("no V1 pool in this run" if v1 is None else "no number of V1 units in the range tested" if not v1["crosses"]
           else f"{v1['crossing']:.0f} {'or fewer ' if v1['from_start'] else ''}V1 units (95 % interval "
                f"{v1['crossing CI low']:.0f} to {v1['crossing CI high']:.0f})")
glue("finding", f"One encoder trained on a pseudo-mouse of {len(mouse.units)} units from "
     f"{mouse.units['session_id'].nunique()} sessions, queried with random subsets of one region, narrates above the "
     f"random-caption floor from {v1_text}; the hippocampus {planted['hippo_verdict']}.", display=False)
tables.show(pd.Series(timings, name="seconds").round(0).to_frame(), caption="Time taken in this run")

# %% [markdown]
# ## 8. Before and after the world's calibration
# World version {glue:text}`world_version` lowered the gain of the demo world's visual units so that they
# follow the movie as shallowly as real ones do (chapter 01, section 5); every model was trained again and
# nothing was tuned to a decoding result. Below, this run's crossings beside those the book published on the
# uncalibrated world (version {glue:text}`earlier_world`, kept in the package; a real cache has none).

# %%
earlier = results.earlier_world(CHAPTER, WORLD_VERSION - 1, profile)
crossing_change = results.before_after(earlier, results.load_recorded(layout, CHAPTER), "floor crossing",
                                       ["crossing", "crossing CI low", "crossing CI high", "gap at largest"],
                                       labels=(f"world v{WORLD_VERSION - 1}", f"world v{WORLD_VERSION}"))
tables.show(crossing_change, digits=2, caption="Floor crossings (units) and the gap above the floor at the largest "
                                               "size, before and after the calibration (–: no crossing in the range)")

# %% tags=["remove-input"]
glue("world_version", WORLD_VERSION, display=False)
glue("earlier_world", WORLD_VERSION - 1, display=False)
glue("crossing_change", results.change_text(crossing_change, "crossing", digits=0), display=False)
glue("largest_gap_change", results.change_text(crossing_change, "gap at largest"), display=False)

# %% [markdown]
# **Takeaway:** crossings (units), before → after: {glue:text}`crossing_change`. The gap at the largest
# size: {glue:text}`largest_gap_change`. Shallower units lowered how far above the floor a large pool
# narrates, not the size at which a pool first gets above it: the crossing only asks for a mean gap above zero.

# %% [markdown]
# ## Summary
# - {glue:text}`n_sessions` sessions give a pan-session pseudo-mouse of {glue:text}`n_units` units; one encoder
#   trained on it (best validation patch cosine {glue:text}`pan_best`) is queried with random subsets of each region.
# - Where each pool crosses the random-caption floor, in units: V1 {glue:text}`cross_VISp`; LGd
#   {glue:text}`cross_LGd`; the higher visual areas {glue:text}`cross_higher_visual`; the hippocampus
#   {glue:text}`cross_hippocampus`.
# - Visual pools narrate the same frames alike (at least {glue:text}`visual_pair_min` above shuffled frames);
#   pairs with the hippocampus sit at most {glue:text}`hippo_pair_max` above theirs.
# - Trained on {glue:text}`retrain_pool` subsets alone, the patch cosine is {glue:text}`retrain_verdict` than the
#   masked query of the same units.
# - The world's calibration (version {glue:text}`world_version`) moved the crossings: {glue:text}`crossing_change`.
#
# ## What's next
# Chapter 06 queries the same pan-session encoder with the optotagged PV, SST and VIP cells.
