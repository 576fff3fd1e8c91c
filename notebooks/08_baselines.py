# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Baselines side by side: Ridge, an MLP, CEBRA and PCA + KNN
#
# ## Overview
# Is the encoder of chapter 03 needed, or would the field's standard decoders do as well? This chapter
# fits them on **exactly** the windows, frames, repeats and z-scoring that the encoder was trained on
# (the persisted split of chapter 03), decodes the same held-out frames and narrates their predictions
# with the same frozen narrator (the paper's Appendix A.6, Tables A1–A3).
#
# You will learn:
# 1. which baselines are compared and what each is fitted on;
# 2. how their narrations score against the encoder's in each held-out regime (Table A1);
# 3. how they compare at the level of embeddings, with and without an exclusion zone around the true
#    frame, the control for a movie's temporal autocorrelation (Table A2);
# 4. how well each identifies the frame in held-out repeats, over several sessions (Table A3);
# 5. what each costs to fit, and how the demo's ordering compares with the paper's.
#
# ## Prerequisites
# - Chapter 03 (the encoders, their splits and the retrieval variant) and chapter 04 (the encoder's
#   narrations of the held-out frames); chapter 02 for the targets and reference captions.

# %% tags=["parameters", "hide-input"]
profile = "demo"                  # "demo" (offline, CPU) or "paper" (LLaVA's tokens and narrator, on a GPU)
data_dir = None                   # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0
session_id = None                 # None: the session chapter 03 trained on
movie = "natural_movie_one"
regimes = ["sparse_random", "contiguous_middle", "front_only"]   # chapter 03's encoders of these regimes
train_options = {}                # as chapter 03: overrides of the profile's preset (the MLP trains with the same)
retrain = False                   # True: train the MLP again even when a finished checkpoint exists
ridge_alphas = [1, 10, 100, 1000, 10000, 100000]   # chosen by frame-grouped CV on training windows
pca_components = 64               # PCA + KNN
knn_k = 10                        # neighbours of the KNN decoders
cebra_dimensions = None           # None: the profile's sweep (demo [8, 32]; paper [128, 256, 512])
cebra_iterations = None           # None: the profile's (demo 300; paper 10000)
cebra_batch_size = None           # None: the profile's (demo 256; paper 512)
exclusion_frames = 15             # exclusion-zone retrieval: frames within +-k of the true one are not candidates
frame_id_sessions = 3             # Table A3: this many sessions (most visual units first)
split_fractions = [0.7, 0.15, 0.15]
narration_batch_size = 32
llava_model_id = "llava-hf/llava-1.5-7b-hf"   # paper profile: hub id or local path
sbert_model_id = "sentence-transformers/all-MiniLM-L6-v2"   # paper profile: hub id or local path (demo: packaged copy)
device = "auto"

# %% tags=["hide-input"]
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from myst_nb import glue
from tqdm import tqdm

from neurrator import vlm
from neurrator.artifacts import ArtifactError
from neurrator.book import environment, learning_curve, plotting, repro
from neurrator.data import allen, splits
from neurrator.data.binning import BinnedStimulus
from neurrator.data.windows import SpikeWindows, regime_windows
from neurrator.evaluation import inference, metrics, results, sbert, scoring
from neurrator.evaluation.narration import narrate_batch, read_narrations
from neurrator.layout import DataLayout
from neurrator.models import baselines
from neurrator.models.objectives import pooled_targets
from neurrator.models.predictions import read_predictions
from neurrator.models.training import MLP_OPTIONS, SpikeDecoder, preset, training_summary
from neurrator.vlm import captions
from neurrator.vlm.targets import PatchTargetStore

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
layout = DataLayout.resolve(data_dir, profile)
CHAPTER = "08_baselines"
# demo: batch 256 scores as batch 512 on the demo's frame identification in a third of the time (the conditional
# sampler's nearest-label search costs windows x batch per step)
CEBRA_PRESETS = {"demo": {"dimensions": [8, 32], "iterations": 300, "batch_size": 256},
                 "paper": {"dimensions": [128, 256, 512], "iterations": 10000, "batch_size": 512}}
cebra_dimensions = list(cebra_dimensions or CEBRA_PRESETS[profile]["dimensions"])
cebra_iterations = int(cebra_iterations or CEBRA_PRESETS[profile]["iterations"])
cebra_batch_size = int(cebra_batch_size or CEBRA_PRESETS[profile]["batch_size"])
compute = environment.compute_device(device)
encoder_config, train_config = preset(profile, seed=seed, device=device, **train_options)
if session_id is None:
    trained = layout.trained_sessions()
    if len(trained) != 1:
        raise ArtifactError(f"expected the encoders of one session in {layout.show(layout.root / 'predictions')}, found "
                            f"{len(trained)}: run notebook 03_train first, or set session_id")
    session_id = trained[0]
timings = {}
started = time.perf_counter()

# %% [markdown]
# ## 1. The comparison set
# Every baseline reads the encoder's own split of each regime (`splits.read_split`, written by chapter
# 03) and its z-scoring statistics, and predicts patch grids of the same target space, so the narrator,
# the metrics and the held-out frames are shared:
#
# - **Ridge → patches** (scikit-learn): from each window's time-average to its frame's grid; the penalty
#   is chosen by 5-fold cross-validation grouped by frame, on the training windows only (a fold's frames
#   are never in its training part, as held-out frames are not). The time-average, because the flattened
#   window has 20 times as many features as units for about ten thousand training windows.
# - **MLP → patches** ("MLP-Patches"): one hidden layer on the flattened window, trained by the encoder's
#   own training loop, loss, schedule and augmentation (`SpikeDecoder("mlp_patches")`), on the same windows per
#   epoch; on `demo` in batches of 64 (`MLP_OPTIONS`: its 48 M-weight output layer makes every optimiser step
#   cost as much as a batch-64 pass, so the encoder's batch of 16 would quadruple its time).
# - **CEBRA + KNN** (the `cebra` package): an embedding of the time-averaged windows trained with each
#   window's frame target (its pooled grid, in 16 principal components) as the continuous auxiliary
#   variable; a window's grid is the mean target of its {glue:text}`knn_k` nearest training windows (a
#   KNN regression to patches), which the narrator reads. CEBRA's offset models treat neighbouring rows
#   as consecutive time; here rows are windows of different repeats, so it gets the `offset1-model`.
# - **PCA + KNN**: the same KNN decoder on {glue:text}`pca_components` principal components of the rates.
# - The **retrieval variant** of chapter 03 (InfoNCE, one embedding per window) joins the embedding-level
#   table; the image classifier of the scene holdout is scored in chapter 04.

# %%
glue("knn_k", knn_k, display=False)
glue("pca_components", pca_components, display=False)
store = PatchTargetStore(layout.targets)
try:
    targets = store.open(movie)
except ArtifactError as err:
    raise ArtifactError(f"no target grids of {movie}: run notebook 02_targets first ({err})") from None
binned = BinnedStimulus.load(layout.binned(session_id, movie))
references = captions.read_captions(layout.captions(movie))
pooled_all = pooled_targets(targets, np.arange(targets.shape[0]))
encoders, windows = {}, {}
for regime in regimes:
    try:
        encoders[regime] = SpikeDecoder.load(layout.decoder(session_id, movie, regime))
        split = splits.read_split(layout.split(session_id, movie, regime))
    except ArtifactError as err:
        raise ArtifactError(f"chapter 03's {regime} encoder of session {session_id} is missing or stale: run notebook "
                            f"03_train first ({err})") from None
    mean, std = encoders[regime].zscore_
    part = lambda p, augment=False: SpikeWindows(binned.counts, binned.frame, split.centres[p], mean, std,
                                                 jitter=train_config.jitter if augment else 0,
                                                 neuron_dropout=train_config.neuron_dropout if augment else 0.0, seed=seed)
    windows[regime] = {"split": split, "train": part(splits.TRAIN, augment=True), "val": part(splits.VAL),
                       "test": part(splits.TEST)}

# %% tags=["nbval-check-output"]
pd.DataFrame({r: {"training windows": len(w["train"]), "validation windows": len(w["val"]), "test windows": len(w["test"]),
                  "held-out frames": int(w["split"].held_out.sum()), "units": binned.counts.shape[1]}
              for r, w in windows.items()}).T

# %% [markdown]
# **Takeaway:** every method below sees these windows and nothing else; the test windows of a regime are
# centred on its held-out frames.

# %% [markdown]
# ## 2. Fitting the baselines
# Each regime gets its own fit of every baseline. The MLP is checkpointed like the encoder (a finished
# run is read back when its windows and targets are the same).

# %%
def fit_baselines(train, val, regime):
    fitted = {}
    fitted["Ridge"] = baselines.RidgePatches(alphas=ridge_alphas, seed=seed).fit(train, targets)
    mlp = SpikeDecoder("mlp_patches", encoder_config, replace(train_config, **MLP_OPTIONS[profile]),
                       checkpoint_dir=layout.checkpoints(session_id, movie, regime, "mlp_patches"))
    if retrain and (layout.checkpoints(session_id, movie, regime, "mlp_patches") / "last.pt").exists():
        (layout.checkpoints(session_id, movie, regime, "mlp_patches") / "last.pt").unlink()
    mlp.fit(train, val, targets, name=f"{movie} {regime} (MLP)")
    mlp.save(layout.decoder(session_id, movie, regime, "mlp_patches"),
             params={"session_id": session_id, "stimulus": movie, "regime": regime},
             inputs={"binned": layout.binned(session_id, movie), "targets": store.path(movie)})
    mlp.fit_seconds_ = float(mlp.history_["seconds"].sum())     # its training epochs (also when read back)
    mlp.n_params_ = sum(p.numel() for p in mlp.model_.parameters())
    fitted["MLP-Patches"] = mlp
    fitted["CEBRA + KNN"] = baselines.CebraKNN(output_dimension=max(cebra_dimensions), max_iterations=cebra_iterations,
                                               batch_size=cebra_batch_size, k=knn_k, seed=seed,
                                               device=compute).fit(train, targets)
    fitted["PCA + KNN"] = baselines.PCAKNN(n_components=pca_components, k=knn_k, seed=seed).fit(train, targets)
    return fitted


def heldout_grids(model, test):
    if isinstance(model, SpikeDecoder):
        return model.predict(test, by_frame=True)
    return model.predict(test)


fitted, predicted = {}, {}
for regime in regimes:
    w = windows[regime]
    fitted[regime] = fit_baselines(w["train"], w["val"], regime)
    encoder_predictions = read_predictions(layout.predictions(session_id, movie, regime))
    predicted[regime] = {"Neurrator": (encoder_predictions.frame_ids, np.asarray(encoder_predictions.outputs.rows(
        np.arange(len(encoder_predictions.frame_ids)))))}
    predicted[regime].update({name: heldout_grids(model, w["test"]) for name, model in fitted[regime].items()})
timings["fitting and predicting"] = time.perf_counter() - started
costs = pd.DataFrame([{"regime": r, "method": name, "fit (s)": model.fit_seconds_, "parameters": model.n_params_}
                      for r, models in fitted.items() for name, model in models.items()])
methods = ["Neurrator", *fitted[regimes[0]]]

# %%
fig, ax = plt.subplots(figsize=(8, 3))
sns.barplot(data=costs, x="method", y="fit (s)", hue="regime", ax=ax)
ax.set(yscale="log", xlabel="", ylabel="seconds to fit (log)", title="Training time per method and regime")
plt.show()
cost_table = costs.groupby("method", sort=False).agg(**{"fit (s), mean": ("fit (s)", "mean"), "parameters": ("parameters", "first")})
cost_table.round({"fit (s), mean": 1})

# %% [markdown]
# **Takeaway:** fit times on this machine (the encoder itself trained in chapter 03); `benchmarks/baselines.py`
# measures fit time and peak memory of each method side by side.

# %% [markdown]
# ## 3. Narration (Table A1)
# The held-out frames' predicted grids of each method go through the same frozen narrator; each narration is
# scored by SBERT against its frame's reference caption (matched). The encoder's narrations are chapter 04's.
# The **random-sentence floor** is the reference caption of another frame of the movie, scored the same way.
# Neighbouring frames share content, so the comparisons resample **blocks** of consecutive movie frames (three
# autocorrelation lengths of the per-frame scores, "block (frames)"; the number of blocks is the effective n):
# each method against the encoder by a two-sided sign-flip test on block means, corrected by Holm over the
# table's comparisons (the family: this table), with a bootstrap interval over the same blocks.

# %%
backend = vlm.load_backend(profile, **({"model_id": llava_model_id} if profile == "paper" else {"cache_dir": layout.models}))
model = sbert.load_sbert(profile, **({"model_id": sbert_model_id} if profile == "paper" else {}))
try:
    encoder_narrations = read_narrations(layout.narrations())
except (ArtifactError, FileNotFoundError) as err:
    raise ArtifactError(f"the encoder's held-out narrations are missing: run notebook 04_narrate_heldout first ({err})") from None
encoder_narrations = encoder_narrations[(encoder_narrations["decoder"] == "Neurrator") & (encoder_narrations["stimulus"] == movie)]
rng = np.random.default_rng(seed)
pool = list(dict.fromkeys(references.values()))
t0 = time.perf_counter()
narrated = []
for regime in regimes:
    own = encoder_narrations[encoder_narrations["regime"] == regime]
    narrated.append(own.assign(method="Neurrator")[["regime", "method", "frame", "narration", "reference"]])
    for name in methods[1:]:
        ids, grids = predicted[regime][name]
        table = narrate_batch(backend, ids, grids, references=references, stimulus=movie, regime=regime,
                              session_id=session_id, population=name, batch_size=narration_batch_size)
        narrated.append(table.assign(method=name)[["regime", "method", "frame", "narration", "reference"]])
    frames = own["frame"].to_numpy()
    floor = [rng.choice([c for c in pool if c != references[int(f)]]) for f in frames]
    narrated.append(pd.DataFrame({"regime": regime, "method": "random sentence", "frame": frames, "narration": floor,
                                  "reference": [references[int(f)] for f in frames]}))
narrated = pd.concat(narrated, ignore_index=True)
narrated["matched"] = scoring.score_narrations(model, narrated["narration"].tolist(), narrated["reference"].tolist(),
                                               caption_pool=pool, seed=seed)["matched"].to_numpy()
timings["narrating and scoring"] = time.perf_counter() - t0


def against_encoder(group):
    """One row of Table A1: the method's mean score with a block-bootstrap interval, and a two-sided sign-flip
    test against the encoder on the means of blocks of frames (block length: the longer of the two measured on
    the method's scores and on its difference from the encoder)."""
    regime, method = group.name
    mine = group.groupby("frame")["matched"].mean()
    theirs = narrated[(narrated["regime"] == regime) & (narrated["method"] == "Neurrator")].groupby("frame")["matched"].mean()
    common = mine.index.intersection(theirs.index)
    frames = mine.index.to_numpy()
    length = inference.frame_blocks(frames, mine.to_numpy()).length
    compared = method != "Neurrator" and len(common) > 1 and not np.allclose(mine[common], theirs[common])
    if compared:
        length = max(length, inference.frame_blocks(common.to_numpy(), (mine[common] - theirs[common]).to_numpy()).length)
    blocks = inference.frame_blocks(frames, length=length)
    low, high = inference.block_bootstrap_ci(mine.to_numpy(), blocks, seed=seed)
    p = np.nan
    if compared:
        shared = inference.frame_blocks(common.to_numpy(), length=length)
        p = inference.paired_block_test(mine[common], theirs[common], shared, alternative="two-sided", seed=seed)["p"]
    return pd.Series({"frames": len(mine), "block (frames)": length, "blocks (n_eff)": blocks.n,
                      "SBERT matched": mine.mean(), "SD": mine.std(ddof=1), "CI low": low, "CI high": high,
                      "distinct sentences": group["narration"].nunique(),
                      "distinct": scoring.fraction_distinct(group["narration"]), "p vs Neurrator": p})


order = [*methods, "random sentence"]
table_a1 = (narrated.groupby(["regime", "method"], sort=False)[["frame", "matched", "narration"]].apply(against_encoder)
            .reindex(pd.MultiIndex.from_product([regimes, order], names=["regime", "method"])))
for column in ("frames", "block (frames)", "blocks (n_eff)", "distinct sentences"):
    table_a1[column] = table_a1[column].astype(int)
table_a1["q (Holm)"] = inference.correct(table_a1["p vs Neurrator"].astype(float).to_numpy(), "holm")
a1_family = inference.family_note("Table A1", int(table_a1["p vs Neurrator"].notna().sum()), "holm",
                                  "two-sided sign-flip test of each method against the encoder on block means")
print(a1_family)
table_a1.round({"SBERT matched": 3, "SD": 3, "CI low": 3, "CI high": 3, "distinct": 2}).assign(
    **{c: table_a1[c].map(inference.format_p) for c in ("p vs Neurrator", "q (Holm)")})

# %%
fig, ax = plt.subplots(figsize=(11, 3.6))
sns.barplot(data=narrated, x="regime", y="matched", hue="method", hue_order=order, errorbar=("ci", 95), ax=ax,
            seed=seed, palette=["C0", "C1", "C2", "C3", "C4", "0.7"])
ax.set(xlabel="", ylabel="SBERT cosine to the reference", title="Held-out narration by method (mean, 95% interval)")
ax.legend(ncol=3, fontsize=8, loc="upper right")
plt.show()


def best_baseline(regime):
    scores = table_a1.loc[regime, "SBERT matched"].drop(["Neurrator", "random sentence"])
    return scores.idxmax(), scores.max()


glue("a1_text", "; ".join(f"{r.replace('_', ' ')}: the encoder {table_a1.loc[(r, 'Neurrator'), 'SBERT matched']:.2f}, the best "
                          f"baseline {best_baseline(r)[0]} {best_baseline(r)[1]:.2f}, the floor "
                          f"{table_a1.loc[(r, 'random sentence'), 'SBERT matched']:.2f}" for r in regimes), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`a1_text`.

# %% [markdown]
# ## 4. Embedding-level retrieval (Table A2)
# On the sparse-random held-out frames: linear CKA and KNN purity of the patch-averaged predictions against
# the true targets, and the rank of the true frame among all frames of the movie by cosine (R@10, median rank).
# A movie changes slowly, so a frame's neighbours in time look like it; the **exclusion-zone** columns remove
# the frames within ±{glue:text}`exclusion_frames` frames of the true one (other than itself) from the candidates, so
# that a method is credited for telling the frame from the rest of the movie, not from its own neighbours; for
# CKA they drop the pairs of held-out frames that close together from the alignment, and for KNN purity
# they keep such frames out of each frame's neighbours.
# The retrieval variant ranks its embedding against the same pooled targets.

# %%
glue("exclusion_frames", exclusion_frames, display=False)
regime = "sparse_random" if "sparse_random" in regimes else regimes[0]
embedded = {name: (ids, metrics.patch_means(grids)) for name, (ids, grids) in predicted[regime].items()}
try:
    infonce = SpikeDecoder.load(layout.decoder(session_id, movie, "sparse_random", "infonce"))
    embedded["retrieval variant (InfoNCE)"] = infonce.predict(windows[regime]["test"], by_frame=True) if regime == "sparse_random" else None
except ArtifactError:
    print("no InfoNCE variant of chapter 03 for this session: the table goes without it")
rows = {}
for name, value in embedded.items():
    if value is None:
        continue
    ids, vectors = value
    plain = metrics.summarise_ranks(metrics.ranks_among(vectors, pooled_all, ids), len(pooled_all))
    excluded = metrics.summarise_ranks(metrics.ranks_among(vectors, pooled_all, ids, exclude_within=exclusion_frames),
                                       len(pooled_all))
    labels = np.array([references[int(f)] for f in ids])
    rows[name] = {"frames": len(ids), "CKA": metrics.linear_cka(vectors, pooled_all[ids]),
                  f"CKA (±{exclusion_frames} excluded)": metrics.linear_cka(vectors, pooled_all[ids], positions=ids,
                                                                           exclude_within=exclusion_frames),
                  "KNN purity": metrics.knn_purity(vectors, labels, k=min(5, len(ids) - 1)),
                  f"KNN purity (±{exclusion_frames} excluded)": metrics.knn_purity(
                      vectors, labels, k=min(5, len(ids) - 1), positions=ids, exclude_within=exclusion_frames),
                  "R@10": plain["R@10"], "median rank": plain["median_rank"],
                  f"R@10 (±{exclusion_frames} excluded)": excluded["R@10"],
                  f"median rank (±{exclusion_frames} excluded)": excluded["median_rank"],
                  "candidates left": float(np.median(metrics.candidates_left(len(pooled_all), ids, exclusion_frames)))}
table_a2 = pd.DataFrame(rows).T
table_a2["frames"] = table_a2["frames"].astype(int)
table_a2.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
long = table_a2[["median rank", f"median rank (±{exclusion_frames} excluded)"]].rename_axis("method").reset_index().melt(
    id_vars="method", var_name="candidates", value_name="median rank of the true frame")
sns.barplot(data=long, y="method", x="median rank of the true frame", hue="candidates", ax=axes[0])
axes[0].set(xscale="log", ylabel="", title="Retrieval among all frames (lower is better)")
axes[0].legend(fontsize=8)
sns.barplot(x=table_a2["CKA"], y=table_a2.index, ax=axes[1], color="C0")
axes[1].set(ylabel="", xlabel="linear CKA with the true targets", title="Representational similarity")
plt.tight_layout()
plt.show()
glue("a2_text", f"the lowest median rank is {table_a2['median rank'].idxmin()}'s ({table_a2['median rank'].min():.1f}; the encoder "
     f"{table_a2.at['Neurrator', 'median rank']:.1f}); with the exclusion zone, "
     f"{table_a2[f'median rank (±{exclusion_frames} excluded)'].idxmin()}'s "
     f"({table_a2[f'median rank (±{exclusion_frames} excluded)'].min():.1f}; the encoder "
     f"{table_a2.at['Neurrator', f'median rank (±{exclusion_frames} excluded)']:.1f})", display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`a2_text`. Removing a frame's neighbours lowers every method's rank: the
# candidates that outranked the true frame were mostly its neighbours in time.
#
# The exclusion zone removes neighbours from the *candidates*; it does not stop a decoder from reading
# them. A KNN decoder's prediction is the targets of the training windows it finds, so where they come from
# says what it learned: below, the gap in frames between each held-out window's frame and its neighbours'.

# %%
gaps, lookup = [], {}
for r in regimes:
    for name in ("PCA + KNN", "CEBRA + KNN"):
        true, found = fitted[r][name].neighbour_frames(windows[r]["test"])
        gap = np.abs(found - true[:, None]).ravel()
        lookup[(r, name)] = {"median frame gap": float(np.median(gap)),
                             f"neighbours within ±{exclusion_frames} frames": float(np.mean(gap <= exclusion_frames))}
        gaps.append(pd.DataFrame({"regime": r, "method": name, "frame gap": gap + 1}))
lookup = pd.DataFrame(lookup).T.rename_axis(["regime", "method"])
fig, ax = plt.subplots(figsize=(8, 3))
sns.ecdfplot(data=pd.concat(gaps, ignore_index=True), x="frame gap", hue="regime", ax=ax)
ax.axvline(exclusion_frames + 1, color="0.5", ls=":")
ax.set(xscale="log", xlabel="1 + frames between a held-out window and its neighbours (log)",
       ylabel="fraction of neighbours", title="Where the KNN decoders' neighbours come from (PCA and CEBRA)")
plt.show()
near = lookup.loc[(regime, "PCA + KNN"), f"neighbours within ±{exclusion_frames} frames"]
glue("lookup_text", f"in {regime.replace('_', ' ')}, {near:.0%} of PCA + KNN's neighbours lie within ±{exclusion_frames} "
     f"frames of the held-out frame (median gap {lookup.loc[(regime, 'PCA + KNN'), 'median frame gap']:.0f} frames)",
     display=False)
glue("lookup_blocks", "; ".join(f"{r.replace('_', ' ')}: {lookup.loc[(r, 'PCA + KNN'), f'neighbours within ±{exclusion_frames} frames']:.0%} "
                                f"within ±{exclusion_frames} frames (median gap {lookup.loc[(r, 'PCA + KNN'), 'median frame gap']:.0f})"
                                for r in regimes if r != regime) or "no other regime was run", display=False)
knn_lead = {r: table_a1.loc[(r, ["PCA + KNN", "CEBRA + KNN"]), "SBERT matched"].max() - table_a1.loc[(r, "Neurrator"), "SBERT matched"]
            for r in regimes}
glue("knn_lead", ", ".join(f"{r.replace('_', ' ')} {d:+.2f}" for r, d in knn_lead.items()), display=False)
lookup.round(2)

# %% [markdown]
# **Takeaway:** {glue:text}`lookup_text`: held-out frames scattered through the movie have training frames
# a few frames away that look almost the same, and a nearest-neighbour search finds them. Where the held-out
# frames form a block the neighbours are far away ({glue:text}`lookup_blocks`). The best KNN decoder's SBERT
# minus the encoder's (Table A1): {glue:text}`knn_lead`.

# %% [markdown]
# ## 5. Frame identification in held-out repeats (Table A3)
# Here every frame is seen in training and the test is on held-out **repeats** (the `repeat` split of
# chapter 03's fractions), in each of {glue:text}`n_a3_sessions` sessions: R@1 is the fraction of frames whose
# averaged prediction is closest to their own target among all {glue:text}`n_movie_frames` frames (chance
# 1/{glue:text}`n_movie_frames`). The CEBRA sweep varies the embedding's dimension.

# %%
pools = allen.session_pools(layout)
a3_sessions = [int(s) for s in pools["visual units"].sort_values(ascending=False, kind="stable").index[:frame_id_sessions]]
glue("n_a3_sessions", len(a3_sessions), display=False)
glue("n_movie_frames", len(pooled_all), display=False)
t0 = time.perf_counter()
a3_rows = []
for sid in tqdm(a3_sessions, desc="Table A3", unit="session"):
    session_binned = BinnedStimulus.load(layout.binned(sid, movie))
    data = regime_windows(session_binned, "repeat", seed=seed, fractions=tuple(split_fractions), jitter=0, neuron_dropout=0.0)
    models = {"Ridge": baselines.RidgePatches(alphas=ridge_alphas, seed=seed),
              "PCA + KNN": baselines.PCAKNN(n_components=pca_components, k=knn_k, seed=seed),
              **{f"CEBRA-{d} + KNN": baselines.CebraKNN(output_dimension=d, max_iterations=cebra_iterations,
                                                        batch_size=cebra_batch_size, k=knn_k, seed=seed, device=compute)
                 for d in cebra_dimensions}}
    for name, estimator in models.items():
        estimator.fit(data.train, targets)
        ids, pooled = estimator.predict_pooled(data.test)
        ranks = metrics.ranks_among(pooled, pooled_all, ids)
        a3_rows.append({"session": sid, "units": session_binned.counts.shape[1], "method": name, "frames": len(ids),
                        "R@1": float(np.mean(ranks == 1)), "R@10": float(np.mean(ranks <= 10)),
                        "parameters": estimator.n_params_, "fit (s)": estimator.fit_seconds_})
timings["Table A3 (fits over sessions)"] = time.perf_counter() - t0
a3 = pd.DataFrame(a3_rows)
table_a3 = a3.pivot(index="method", columns="session", values="R@1").reindex(list(models))
table_a3["mean"] = table_a3.mean(1)
table_a3["parameters (first session)"] = a3.groupby("method", sort=False)["parameters"].first()
table_a3.loc["chance"] = [1 / len(pooled_all)] * (table_a3.shape[1] - 1) + [np.nan]
table_a3.round(3)

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
sns.stripplot(data=a3, x="method", y="R@1", hue="session", dodge=False, size=7, ax=ax, palette="tab10")
ax.axhline(1 / len(pooled_all), color="0.5", ls=":", label="chance")
ax.set(xlabel="", ylabel="frame R@1 (held-out repeats)", title="Frame identification per session")
ax.legend(fontsize=7, ncol=2, title="session", title_fontsize=7)
plt.show()
glue("a3_text", ", ".join(f"{m} {table_a3.at[m, 'mean']:.1%}" for m in models) + f" (chance {1 / len(pooled_all):.2%})",
     display=False)

# %% [markdown]
# **Takeaway:** mean frame R@1 over sessions: {glue:text}`a3_text`.

# %% [markdown]
# ## 6. Against the paper
# The paper (NM1, BLIP-2 references, Tables A1 and A2) finds the encoder far ahead of every baseline, in
# narration and in retrieval; its figures are in the table below, beside this run's. Three differences
# stand out, and each follows from how the demo is built rather than from the methods:
#
# - **The floor.** Here the random-sentence floor is measured like every row: another frame's caption scores
#   {glue:text}`floor_sparse` against the reference, partly because the demo's reference captions share one
#   template ({glue:text}`n_distinct_captions` distinct sentences for {glue:text}`n_movie_frames` frames, e.g.
#   "{glue:text}`caption_example`"). The paper's Table A1 lists 0.03 for random sentences, yet its Fig. 4 draws
#   the random-caption floor at 0.28; the paper does not say how the two differ (another scale, another set of
#   sentences, or a subtracted baseline), so its 0.03 cannot be compared with this table's floor, and the
#   comparison below puts its numbers beside this run's without rescaling either.
# - **Between training frames a neighbour lookup is hard to beat.** The learning curve of chapter 03
#   (`benchmarks/learning_curve.py`, on that chapter's session) trains the encoder to convergence and fits ridge
#   and PCA + KNN on the same windows. Held-out patch cosine: {glue:text}`curve_contrast`. A sparse-random frame
#   sits a frame or two from near-identical training frames
#   (section 4), so averaging their targets, or a linear map fitted on them, interpolates it almost for free;
#   in a block every method extrapolates and none leads by much. This run's encoders stopped
#   {glue:text}`encoder_gap` below that plateau in validation cosine (chapter 03 §2). The demo world's
#   visual codes are near-linear in the rates (chapter 04 §5 compares a ridge read-out at the embedding
#   level); the paper's gap (its encoder trained for hours on a GPU, on real responses that are far from
#   linear in CLIP's patches) is not something the demo can reproduce or refute.
# - **Front only is at the floor for everyone.** Its held-out frames are the part of the movie none of the
#   methods trained on; the best method is {glue:text}`front_gap` above the random-sentence floor there.
#
# The ordering is what this run measured; the paper profile (`-p profile paper`) runs the same comparison on
# the Allen data with LLaVA's targets and narrator.

# %%
PAPER = pd.DataFrame({"SBERT, sparse random": {"Neurrator": 0.426, "CEBRA + KNN": 0.07, "Ridge": 0.06, "random sentence": 0.03},
                      "R@10": {"Neurrator": 0.388, "CEBRA + KNN": 0.013, "MLP-Patches": 0.21},
                      "median rank": {"Neurrator": 14, "CEBRA + KNN": 436, "MLP-Patches": 35}})
PAPER.index.name = "method (reported by the paper)"
measured = pd.DataFrame({"SBERT, sparse random": table_a1.loc[regime, "SBERT matched"],
                         "R@10": table_a2["R@10"], "median rank": table_a2["median rank"]})
side = PAPER.join(measured, rsuffix=" (this run)", how="outer").reindex([*order, "retrieval variant (InfoNCE)"])
side = side[[c for pair in zip(PAPER.columns, [f"{c} (this run)" for c in PAPER.columns]) for c in pair]]
glue("n_distinct_captions", len(pool), display=False)
glue("caption_example", pool[0], display=False)
glue("floor_sparse", f"{table_a1.loc[(regime, 'random sentence'), 'SBERT matched']:.2f}", display=False)
glue("curve_contrast", learning_curve.contrast_text(), display=False)
encoder_summary = training_summary({r: SpikeDecoder.load(layout.decoder(session_id, movie, r)) for r in regimes},
                                   plateaus=learning_curve.plateaus(session_id))
gaps = encoder_summary["below plateau"].dropna() if "below plateau" in encoder_summary else pd.Series(dtype=float)
glue("encoder_gap", ", ".join(f"{gap:.2f} ({r.replace('_', ' ')})" for r, gap in gaps.items()) or
     "(no plateau measured for this session)", display=False)
if "front_only" in regimes:
    front = table_a1.loc["front_only", "SBERT matched"]
    glue("front_gap", f"{front.drop('random sentence').max() - front['random sentence']:+.2f}", display=False)
else:
    glue("front_gap", "(front only not run)", display=False)
glue("ordering_text", " > ".join(table_a1.loc[regime, "SBERT matched"].sort_values(ascending=False).index), display=False)
side.round(3)

# %% [markdown]
# **Takeaway:** ordered by held-out SBERT in this run: {glue:text}`ordering_text`.

# %%
results.record(layout, CHAPTER, {
    "Table A1": results.table_record(
        table_a1.reset_index().assign(row=lambda t: t["regime"] + " / " + t["method"]).set_index("row")[
            ["frames", "SBERT matched", "SD", "p vs Neurrator", "q (Holm)"]].round(3),
        {"frames": results.EXACT, "SBERT matched": results.SBERT_MEAN, "SD": results.COSINE,
         "p vs Neurrator": results.P_VALUE, "q (Holm)": results.P_VALUE}, n_column="frames"),
    "Table A2": results.table_record(table_a2.round(3), {
        "frames": results.EXACT, "CKA": results.COSINE, "KNN purity": results.FRACTION, "R@10": results.FRACTION,
        f"CKA (±{exclusion_frames} excluded)": results.COSINE, f"KNN purity (±{exclusion_frames} excluded)": results.FRACTION,
        "median rank": results.RANK, f"R@10 (±{exclusion_frames} excluded)": results.FRACTION,
        f"median rank (±{exclusion_frames} excluded)": results.RANK, "candidates left": results.EXACT}, n_column="frames"),
    "Table A3": results.table_record(a3.assign(row=lambda t: t["session"].astype(str) + " / " + t["method"]).set_index("row")[
        ["frames", "R@1", "R@10", "parameters"]].round(3), {"frames": results.EXACT, "R@1": results.FRACTION,
                                                            "R@10": results.FRACTION, "parameters": results.COUNT},
        n_column="frames")})
timings["whole chapter"] = time.perf_counter() - started
pd.Series(timings, name="seconds").round(0).to_frame()

# %% [markdown]
# ## Summary
# - Ridge, an MLP, CEBRA + KNN and PCA + KNN were fitted on exactly the encoder's training windows of each
#   held-out regime, and their predicted grids narrated by the same frozen narrator (Table A1).
# - At the embedding level (Table A2) the exclusion zone removes the credit a method gets from a frame's
#   neighbours in time; frame identification in held-out repeats (Table A3) is measured over several sessions.
# - Section 6 sets this run's ordering beside the paper's and says why the demo world can differ.
#
# ## What's next
# This is the last chapter of the analysis; the bibliography and methods pages follow.
