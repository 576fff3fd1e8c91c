# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Training the encoder: from spikes to the VLM's patch grid
#
# ## Overview
# The encoder reads a 167 ms window of spikes (20 bins at 120 Hz) from every unit of one session and
# predicts the patch grid that the frozen vision–language model's own vision tower produces for the
# frame on screen (chapter 02). This chapter trains it for each held-out condition — three regimes of
# the first movie, the sparse-random regime with a guard band, the whole pipeline replicated on the
# second movie (as the paper does), unseen scenes — and checks, at the level of embeddings, that its
# predictions for frames it never saw carry information about them.
#
# You will learn:
# 1. which session and which windows each regime trains, validates and tests on;
# 2. how training goes (the paper's schedule: AdamW, cosine decay, clipping, early stopping on the
#    validation cosine, jitter and neuron-dropout augmentation) and what the curves look like;
# 3. how good the predicted grids of held-out frames are against a shuffled control: patch cosine,
#    CKA, retrieval of the true frame among all frames (R@1, R@10, median rank) and KNN purity;
# 4. how the retrieval variant of the paper (one embedding trained with InfoNCE) compares.
#
# ## Prerequisites
# - Chapter 01 (binned sessions and splits) and chapter 02 (target grids and reference captions).

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Parameters: the profile, the session, the stimuli, the held-out regimes and training overrides"}
profile = "demo"                  # "demo" (offline, CPU) or "paper" (the paper's encoder and schedule, on a GPU)
data_dir = None                   # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0
session_id = None                 # None: the session with the most visual units (visual cortex + LGd)
stimulus = "natural_movie_one"    # trained on under each regime
second_stimulus = "natural_movie_three"   # trained on itself (the paper's replication) and narrated zero-shot by stimulus's model
scenes = "natural_scenes"         # the image-identity holdout
regimes = ["sparse_random", "contiguous_middle", "front_only"]   # held-out regimes of the first movie
second_stimulus_regimes = ["sparse_random", "contiguous_middle"]    # the second movie's own encoders
guard_frames = [3, 15]            # extra sparse-random encoders whose training keeps this many frames from held-out ones
split_fractions = [0.7, 0.15, 0.15]    # train / validation / test repeats
train_options = {}                # overrides of the profile's preset, e.g. {"max_epochs": 60, "d_model": 384}
retrain = False                   # True: ignore finished checkpoints and train again
device = "auto"

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Imports, the book's theme, the data layout and the profile's encoder preset"}
from dataclasses import asdict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from neurrator import profiles
from neurrator.book import learning_curve, plotting, repro, tables, training_figures
from neurrator.data import allen, splits
from neurrator.data.binning import BinnedStimulus
from neurrator.evaluation import heldout, inference, metrics, results
from neurrator.layout import DataLayout
from neurrator.models.training import training_summary
from neurrator.rowfiles import pooled_targets
from neurrator.vlm import captions
from neurrator.vlm.targets import PatchTargetStore

CHAPTER = "03_train"
plotting.set_theme()
repro.seed_everything(seed)
layout = DataLayout.resolve(data_dir, profile)
encoder_config, train_config = profiles.get(profile).encoder_preset(seed=seed, device=device, **train_options)

# %% [markdown]
# ## 1. The session and its windows
# Every unit that passes the Allen QC enters the encoder (later chapters query subsets of them).
# The demo default is the session with the most visual units.

# %% tags=["remove-input"]
pools = allen.session_pools(layout)
if session_id is None:
    session_id = int(pools["visual units"].idxmax())
print(f"training on session {session_id}")

# %% tags=["nbval-check-output"]
tables.show(pools[["VISp", "higher visual", "LGd", "hippocampus", "all", "visual units"]], caption="Units per pool")

# %% tags=["hide-input"] mystnb={"code_prompt_show": "The held-out conditions and their windows (each split saved for chapter 04)"}
conditions = splits.heldout_conditions(stimulus, second_stimulus, scenes, regimes, second_stimulus_regimes, guard_frames)
binned = {name: BinnedStimulus.of_session(layout, session_id, name)
          for name in dict.fromkeys(c.stimulus for c in conditions.values())}
options = dict(seed=seed, fractions=tuple(split_fractions), jitter=train_config.jitter,
               neuron_dropout=train_config.neuron_dropout)
runs = splits.heldout_windows(conditions, binned, allen_cache=layout.allen_cache, **options)
for name, data in runs.items():   # chapter 04 reads the split each model was trained on
    conditions[name].save_split(data.split, layout, session_id, made_by=CHAPTER)

# %% tags=["nbval-check-output"]
tables.show(pd.DataFrame({name: {"stimulus": conditions[name].stimulus, "guard (frames)": data.split.guard_frames,
                                 **data.counts()} for name, data in runs.items()}).T, caption="Windows per condition")

# %% tags=["remove-input"]
for key, value in heldout.window_texts(conditions, runs, layout.allen_cache).items():
    glue(key, value, display=False)
glue("guard_frames", ", ".join(str(g) for g in guard_frames) or "no", display=False)
glue("second_movie_repeats", len(np.unique(binned[second_stimulus].repeat)) if second_stimulus in binned else 0, display=False)

# %% [markdown]
# A test window takes its context from the bins around its frame, which
# in the sparse-random regime are training bins of the same repeat; the guard band (bottom rows) keeps
# every training and validation window {glue:text}`guard_frames` frames away from held-out frames, at the
# cost of training windows. To tell distance from training frames apart from that loss of data,
# {glue:text}`matched_text`. The second movie is shown {glue:text}`second_movie_repeats` times in the demo
# world: one repeat trains, the other validates, and its held-out frames are tested in both. Unseen scenes
# are held out by **source**: the demo's scenes are crops of a few source photographs, and a held-out
# crop whose source trains under another crop is not unseen. Held out ({glue:text}`scene_text`).
#
# **Takeaway:** each regime trains only on windows wholly inside training bins (front-only,
# {glue:text}`front_only_train_frames` training frames: {glue:text}`front_only_train_windows` windows;
# contiguous middle: {glue:text}`contiguous_middle_train_windows`); its test windows are centred on
# frames it never trained on.

# %% [markdown]
# ## 2. Training
# The architecture and schedule are the paper's. The `demo` profile keeps the architecture but
# narrows it (d_model {glue:text}`demo_d_model`, {glue:text}`demo_conv_channels` channels per
# convolution) and samples {glue:text}`demo_windows_per_epoch` windows per epoch, in batches of
# {glue:text}`demo_batch_size`, for up to {glue:text}`demo_max_epochs` epochs at learning rate
# {glue:text}`demo_lr`, with the cosine schedule over those epochs; early stopping ends a run after
# {glue:text}`demo_patience` epochs that gain less than {glue:text}`demo_min_delta` validation cosine.
# `paper` uses the full widths (d_model {glue:text}`paper_d_model`), batches of
# {glue:text}`paper_batch_size`, every window and up to {glue:text}`paper_max_epochs` epochs (patience
# {glue:text}`paper_patience`). A checkpoint is written after every epoch: an interrupted run resumes
# where it stopped, and a finished one is loaded instead of retrained.

# %% tags=["remove-input"]
for name in ("demo", "paper"):
    shown_encoder, shown_train = profiles.get(name).encoder_preset()
    for key, value in {**asdict(shown_encoder), **asdict(shown_train)}.items():
        glue(f"{name}_{key}", value if value is not None else "all", display=False)
tables.show(pd.Series({**asdict(encoder_config), **asdict(train_config)}, name=profile).rename_axis("setting").to_frame(),
            caption=f"The {profile} profile's encoder and training preset")

# %% [markdown]
# ### How far training goes: the learning curve behind the demo recipe
# How long to train is a measurement, not a guess. `benchmarks/learning_curve.py` trains this
# session's encoder from scratch under several recipes (learning rate, the cosine schedule's length,
# windows per epoch) with early stopping off, and records the validation cosine after every epoch; ridge
# and PCA + KNN (chapter 08's baselines) are fitted on the same training windows. The demo recipe is the
# cheapest one (fewest optimiser steps) whose best validation cosine lies within {glue:text}`curve_margin` of
# the plateau (the best any run reached): close enough that more training would not change a
# chapter's conclusions, and below the tolerance within which the book's cosines are compared across machines.
# The curve shown here was {glue:text}`curve_world`.

# %%
measured_curve = learning_curve.load()
if measured_curve is None:
    print("benchmarks/results/learning_curve.json is not in this project: run benchmarks/learning_curve.py to measure it")
else:
    plotting.learning_curves(measured_curve)
    plt.show()

# %% tags=["remove-input"]
for key, value in heldout.learning_curve_texts(measured_curve).items():
    glue(key, value, display=False)
glue("curve_world", learning_curve.world_note() or "measured on this book's world", display=False)

# %% [markdown]
# **Takeaway:** run to convergence ({glue:text}`sparse_random_converged_steps` steps), the encoder's
# validation cosine levels off at {glue:text}`sparse_random_plateau` on the sparse-random split and
# {glue:text}`contiguous_middle_plateau` on the contiguous middle. Held out, the converged encoder scores
# {glue:text}`sparse_random_converged_heldout` between training frames (ridge
# {glue:text}`sparse_random_ridge_heldout`, PCA + KNN {glue:text}`sparse_random_pca_heldout`) and
# {glue:text}`contiguous_middle_converged_heldout` inside the 200-frame block (ridge
# {glue:text}`contiguous_middle_ridge_heldout`, PCA + KNN {glue:text}`contiguous_middle_pca_heldout`):
# between training frames a neighbour lookup is hard to beat; inside the block no method is far from the others.

# %%
store = PatchTargetStore(layout.targets)
fit = dict(layout=layout, session_id=session_id, store=store, configs=(encoder_config, train_config), made_by=CHAPTER,
           retrain=retrain)
decoders = {name: heldout.train_condition(conditions[name], data, **fit) for name, data in runs.items()}
variants = {f"{name} ({objective})": heldout.train_condition(conditions[name], runs[name], objective=objective, **fit)
            for name, objective in [("sparse_random", "infonce"), ("scene_identity", "classifier")] if name in runs}
trained_models = {**{f"{r} (patches)": d for r, d in decoders.items()}, **variants}

# %%
training_figures.training_curves(trained_models)
plt.show()

# %% [markdown]
# Where each model's training ended, beside the measured plateau of its split (where the learning curve
# was measured on this session):

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Each model's training summary beside the measured plateau"}
trained_summary = training_summary(trained_models, plateaus={f"{r} (patches)": v for r, v in
                                                              learning_curve.plateaus(session_id).items()})
for key, value in heldout.training_texts(trained_summary).items():
    glue(key, value, display=False)
tables.show(trained_summary.drop(columns="training (s)"), digits=3, caption="Where each model's training ended")

# %% [markdown]
# **Takeaway:** the sparse-random model's best validation cosine is {glue:text}`sparse_random_best_val`
# ({glue:text}`sparse_random_gap` below the plateau), the contiguous-middle model's
# {glue:text}`contiguous_middle_best_val` ({glue:text}`contiguous_middle_gap` below); early stopping
# ended {glue:text}`n_stopped_early` runs before their last scheduled epoch. The plateau was
# {glue:text}`curve_world`.

# %% [markdown]
# ## 3. Held-out frames: embedding metrics against a shuffled control
# For each regime the encoder predicts the grid of every held-out frame (averaged over the frame's
# test windows, i.e. over its bins and repeats). The second movie's own models predict its held-out
# frames (the paper's replication); zero-shot transfer runs the first movie's sparse-random model on the
# whole second movie, which it never saw. Each metric is paired with a control: the same predictions against the
# targets of **shuffled** frames (patch cosine, CKA, KNN purity with shuffled captions; each held-out frame is
# paired with the one half the held-out frames away in movie order, a circular shift), or chance
# (median rank). Retrieval ranks the true frame among **all** frames of the stimulus by cosine of
# the patch-averaged grids.
#
# A movie changes slowly, so a frame's neighbours in time resemble it in targets, captions and predictions
# alike. The **excl.** columns repeat CKA, KNN purity and retrieval with an exclusion zone of ±k frames
# (column "exclusion (± frames)"; k is the autocorrelation length of the movie's pooled targets,
# {glue:text}`exclusion_text`): CKA counts only pairs of held-out frames further apart, KNN purity seeks each
# frame's neighbours only further away, and retrieval drops the true frame's neighbours from the candidates.

# %%
predictions = heldout.predict_conditions(conditions, decoders, runs, binned, layout=layout, session_id=session_id,
                                         made_by=CHAPTER, **options)

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Embedding metrics of every condition, with the exclusion zone and the shuffled controls"}
targets = {name: store.open(name) for name in binned}
references = {name: captions.read_captions(layout.captions(name)) for name in binned}
pooled_all = {name: pooled_targets(targets[name], np.arange(targets[name].shape[0])) for name in binned}
# the exclusion zone of each movie: the autocorrelation length of its frames' pooled targets (scenes are separate images)
exclusion = {name: 0 if name == scenes else inference.autocorrelation_length(pooled_all[name]) for name in binned}
rows, ranks = [], {}
for regime, predicted in predictions.items():
    stim = conditions[regime].stimulus
    row, ranks[regime] = heldout.embedding_metrics(predicted, targets[stim], pooled_all[stim], references[stim], exclusion[stim])
    rows.append({"condition": regime, "stimulus": stim, **row})
embedding_table = pd.DataFrame(rows).set_index("condition")
for key, value in heldout.exclusion_texts(embedding_table, exclusion).items():
    glue(key, value, display=False)

# %%
tables.show(embedding_table, columns=["held-out frames", "patch cosine", "patch cosine (shuffled)", "CKA", "CKA (excl.)",
                                      "R@10", "median rank", "median rank (chance)"], caption="Held-out embedding metrics")

# %% [markdown]
# These numbers come out of trained models, so they are not bit-identical across machines: another
# processor's kernels round differently and training takes a slightly different path. The book's
# tests compare the simulated world and every count before a model exactly, and the headline
# numbers of this and the following chapters (recorded with `neurrator.evaluation.results`) within these
# tolerances:

# %%
tables.show(results.tolerance_table(), caption="Tolerances of the headline numbers across machines")

# %%
training_figures.metric_bars(embedding_table)
plt.show()

# %% [markdown]
# KNN purity and CKA, as measured, versus with neighbours in time excluded (shuffled control in
# brackets; for purity, the shuffled control measured the same way on each side of the arrow, since a caption
# is shared by the frames of one shot, so that few frames beyond the zone share it):
# {glue:text}`exclusion_effect`. Retrieval's median rank, plain and with the exclusion zone
# (chance in brackets): {glue:text}`rank_effect`.
#
# **Takeaway:** where a metric falls to its control once neighbours are excluded, its plain value came from
# the movie's slow change, not from decoded content; patch cosine (sparse random
# {glue:text}`sparse_random_patch_cosine`, shuffled {glue:text}`sparse_random_patch_cosine_shuffled`) and
# retrieval say more than CKA or purity alone. Chapter 04 shows what this means for narration, and why.

# %% [markdown]
# ## 4. The retrieval variant
# The paper's retrieval baseline maps the same front end to **one** embedding per window, trained
# with InfoNCE against the patch-averaged target of every training frame. It answers "which frame?"
# but gives the narrator nothing to describe. Here both models rank the true held-out frame among
# all frames of the movie; chapter 04 shows what the image classifier does with unseen images.

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Rank the held-out frames with both models; the image classifier's predictions for chapter 04"}
stim, frame_ids = conditions["sparse_random"].stimulus, predictions["sparse_random"].frame_ids
_, embeddings = variants["sparse_random (infonce)"].predict(runs["sparse_random"].test, by_frame=True)
variant_ranks = {"Neurrator (patch grid, averaged)": ranks["sparse_random"],
                 "retrieval variant (InfoNCE)": metrics.ranks_among(embeddings, pooled_all[stim], frame_ids)}
# the image classifier's logits for the held-out scenes, narrated (as best it can) in chapter 04
classifier = heldout.predict_condition(conditions["scene_identity"], variants["scene_identity (classifier)"],
                                       runs["scene_identity"].test, layout=layout, session_id=session_id,
                                       made_by=CHAPTER, objective="classifier")

# %% tags=["remove-input"]
retrieval_table = pd.DataFrame({name: metrics.summarise_ranks(r, len(pooled_all[stim]))
                                for name, r in variant_ranks.items()}).T.round(2)
results.record(layout, "03_train", {
    "embedding metrics": results.table_record(embedding_table.round(2), {
        "stimulus": results.EXACT, "held-out frames": results.EXACT,
        **dict.fromkeys(["patch cosine", "patch cosine (shuffled)", "CKA", "CKA (shuffled)", "CKA (excl.)"], results.COSINE),
        **dict.fromkeys(["R@1", "R@10", "KNN purity", "KNN purity (shuffled)", "KNN purity (excl.)",
                         "KNN purity (excl., shuffled)", "R@10 (excl.)"],
                        results.FRACTION),
        "median rank": results.RANK, "median rank (excl.)": results.RANK, "median rank (chance)": results.EXACT,
        "exclusion (± frames)": results.EXACT}, n_column="held-out frames"),
    "retrieval": results.table_record(retrieval_table, {
        "R@1": results.FRACTION, "R@10": results.FRACTION, "median_rank": results.RANK,
        "chance_median_rank": results.EXACT, "items": results.EXACT}, n_column="items")})
tables.show(retrieval_table, caption="Retrieval of sparse-random held-out frames")

# %%
training_figures.retrieval_curves(variant_ranks, len(pooled_all[stim]), "Retrieval of sparse-random held-out frames")
plt.show()

# %% tags=["remove-input"]
glued = {}
for name, row in embedding_table.iterrows():
    for column, key in [("patch cosine", "patch_cosine"), ("patch cosine (shuffled)", "patch_cosine_shuffled")]:
        glued[f"{name}_{key}"] = f"{row[column]:.2f}"
    glued[f"{name}_median_rank"], glued[f"{name}_chance_rank"] = f"{row['median rank']:.0f}", f"{row['median rank (chance)']:.0f}"
for key, value in glued.items():
    glue(key, value, display=False)
variant_medians = {name: f"{np.median(r):.0f}" for name, r in variant_ranks.items()}
glue("patch_grid_median_rank", variant_medians["Neurrator (patch grid, averaged)"], display=False)
glue("infonce_median_rank", variant_medians["retrieval variant (InfoNCE)"], display=False)
glue("finding", f"Frames held out between training frames are predicted specifically (patch cosine "
     f"{glued['sparse_random_patch_cosine']} against {glued['sparse_random_patch_cosine_shuffled']} for shuffled frames; "
     f"the true frame's median rank among all {len(pooled_all[stim])} is {glued['sparse_random_median_rank']}, chance "
     f"{glued['sparse_random_chance_rank']}), while frames far from training are not (front-only: "
     f"{glued.get('front_only_patch_cosine', '–')} against {glued.get('front_only_patch_cosine_shuffled', '–')}).",
     display=False)

# %% [markdown]
# **Takeaway:** the retrieval variant, trained for exactly this, ranks held-out frames better
# than the averaged patch grid does (median rank {glue:text}`infonce_median_rank` against
# {glue:text}`patch_grid_median_rank`); but it outputs one vector, not a grid a narrator can read.

# %% [markdown]
# ## Summary
# - One encoder per held-out condition, trained on every QC unit of one session with the paper's schedule
#   (on `demo` narrower, in batches of {glue:text}`demo_batch_size` and shorter, a recipe chosen on a measured learning curve within
#   {glue:text}`curve_margin` of the plateau), checkpointed and resumable; its history is saved with it.
# - Held-out frames close to the training content are predicted specifically: sparse-random frames of the
#   first movie at patch cosine {glue:text}`sparse_random_patch_cosine` (shuffled control
#   {glue:text}`sparse_random_patch_cosine_shuffled`), of the second movie {glue:text}`second_movie_patch_cosine`
#   ({glue:text}`second_movie_patch_cosine_shuffled`). Frames far from it are not: front-only
#   {glue:text}`front_only_patch_cosine` ({glue:text}`front_only_patch_cosine_shuffled`), zero-shot transfer to
#   the second movie {glue:text}`zero_shot_transfer_patch_cosine`
#   ({glue:text}`zero_shot_transfer_patch_cosine_shuffled`), and neither are frames behind a wide guard band or
#   unseen scenes.
# - Between training frames, ridge ({glue:text}`sparse_random_ridge_heldout`) and a neighbour lookup
#   ({glue:text}`sparse_random_pca_heldout`) on the same windows reach the converged encoder's held-out cosine
#   ({glue:text}`sparse_random_converged_heldout`) or more; inside a held-out block, none is far ahead (the
#   learning curve, section 2).
#
# ## What's next
# Chapter 04 sends these predicted grids through the frozen narrator and scores the sentences
# against the reference captions with SBERT.
