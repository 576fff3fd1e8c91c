# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · What does each cell type see? A sparse dictionary of the predicted patches
#
# ## Overview
# Chapter 06 let PV, SST and VIP cells narrate through one encoder. Sentences pass through a frozen
# narrator that can only say so much; here the populations' **predicted patches** are read directly,
# in a dictionary of visual features learned by a sparse autoencoder (SAE) on the decoder's own
# target space (the paper's Sec. 5, Fig. 8, and Appendix A.8, Fig. A6 and A7).
#
# You will learn:
# 1. how a TopK SAE is trained on the patch tokens of the stimuli and of a labelling corpus, and how
#    well it reconstructs them (and the encoder's predictions);
# 2. how a feature is named without looking at any narration: by the corpus images that activate it most;
# 3. which features each population's predictions use most, and which only one population has among
#    its top features ("unique by magnitude");
# 4. how stable those top features are when blocks of consecutive movie frames are resampled;
# 5. whether the populations' top features lean towards different visual concepts (Welch's t-test,
#    Benjamini–Hochberg, read as description);
# 6. whether the codes planted in the `demo` world come back out of the dictionary;
# 7. why every claim about a cell type is tested against its size-matched random controls: the same
#    statistic computed for random populations of its size and sessions is the null, and a pseudo cell
#    type made of a control draw shows that the comparison does not flag what is not there.
#
# ## Prerequisites
# - Chapter 02 (the target store of the movie and the scenes, reference captions).
# - Chapter 05 (the pan-session encoder and its split) and chapter 06 (the PV / SST / VIP populations and
#   their size-matched controls).

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Parameters (the profile, the SAE, the tests and the concepts)"}
profile = "demo"                  # "demo" (offline, CPU) or "paper" (LLaVA's CLIP tokens, on a GPU)
data_dir = None                   # None: $NEURRATOR_DATA, else ./data at the project root
cache_dir = None                  # None: <data_dir>/<profile>/allen_cache (stimulus frames; demo: planted truth)
seed = 0
stimulus = "natural_movie_one"
regime = "sparse_random"          # chapter 05's pan-session encoder of this regime is queried
sae_stimuli = ["natural_movie_one", "natural_scenes"]   # stimuli whose target tokens train the SAE, with the corpus
sae_options = None                # None: the profile's preset (its `sae` in the registry, neurrator.profiles); or overrides
sae_path = None                   # a SAE saved by this notebook elsewhere (e.g. on a GPU runner): used instead of training
retrain = False                   # True: train the SAE again even when an identical one is saved
corpus_dir = None                 # paper: a folder of images never shown as stimuli (ImageNet-1k validation); demo: None
corpus_limit = None               # at most this many corpus images (None: all)
windows_per_frame = 8             # test windows per held-out frame, spread over its repeats (None: every test bin)
top_k = 20                        # top features per population
images_per_feature = 8            # corpus images that name a feature
shown_features = 4                # unique features shown per population (with their top images)
n_specific = 5                    # most specific features per population ("times more strongly", section 4)
bootstrap = 200                   # resamples of blocks of test frames (the paper: 1000)
control_draws = 5                 # at most this many of chapter 06's size-matched control draws per cell type
concept_features = 10             # each population's top features in the concept-axis validation
frames_per_feature = 5            # each such feature is represented by its top frames of the movie
concepts = ["silhouette", "high contrast", "vintage car", "shop window", "interior arcade",
            "a car or vehicle", "bright lighting", "darkness or shadows"]
null_sets = 1000                  # random feature sets against which the planted-truth statistics are tested
llava_model_id = "llava-hf/llava-1.5-7b-hf"   # paper profile: its vision tower makes the corpus tokens
sbert_model_id = "sentence-transformers/all-MiniLM-L6-v2"   # paper profile (demo: the packaged copy)
clip_model_id = "openai/clip-vit-large-patch14-336"         # paper profile: image-text scores and corpus labels
device = "auto"

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Imports, the profile and the data layout"}
import time

import numpy as np
import pandas as pd
from myst_nb import glue

from neurrator import profiles
from neurrator.book import cell_type_figures, environment, plotting, repro, sae_figures, tables
from neurrator.data import celltypes, corpus
from neurrator.evaluation import cell_type_features, dictionary, inference, results
from neurrator.evaluation import cell_types as cell_types_06
from neurrator.evaluation.cell_type_features import readable, verdict
from neurrator.layout import DataLayout
from neurrator.models import sae as sae_models
from neurrator.vlm.targets import PatchTargetStore

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
layout = DataLayout.resolve(data_dir, profile, cache_dir)
setup = profiles.get(profile, llava_model_id=llava_model_id, sbert_model_id=sbert_model_id, clip_model_id=clip_model_id)
CHAPTER = "07_sae_concepts"
compute = environment.compute_device(device)
timings = {}
started = time.perf_counter()

# %% [markdown]
# ## 1. A labelling corpus that is never shown
# A feature is named by the images that activate it most, so those images must never have been
# stimuli. On the `demo` profile the corpus is every photograph and micrograph we found inside registry
# packages that the demo world does not use (objects, animals, landscapes, rooms), each as the whole frame and
# 2 × 2 overlapping crops of 60 % of its side; a folder of your own replaces it (`corpus_dir`, one frame per
# image; the paper uses 1000 ImageNet-1k validation images, and registries ship no such number of
# photographs). Every image becomes a grayscale frame of the stimulus size, as the stimuli are, and passes
# the same frozen vision tower as the stimuli.

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Loading the corpus and computing its patch tokens"}
corpus_frames, corpus_table = corpus.load_corpus(profile, corpus_dir, corpus_limit)
store = PatchTargetStore(layout.targets)
field_of_view = cell_type_features.target_field_of_view(store, stimulus)   # the corpus passes the same vision tower
backend = setup.backend(layout, field_of_view=field_of_view, device=device)
stimulus_tokens = cell_type_features.stimulus_grids(store, sae_stimuli, backend_spec=backend.target_spec())
t0 = time.perf_counter()
corpus_grids = backend.compute_targets(corpus_frames)
timings["corpus tokens"] = time.perf_counter() - t0
print(f"{len(corpus_frames)} corpus frames from {corpus_table['image'].nunique()} distinct images -> "
      f"{corpus_grids.shape[0] * corpus_grids.shape[1]:,} patch tokens of dimension {corpus_grids.shape[2]}")

# %% tags=["nbval-check-output"]
tables.show(corpus.package_table(corpus_table), caption="Where the corpus's images come from: distinct images, crops and licence per package")

# %% tags=["nbval-check-output"]
tables.show(corpus.source_table(corpus_table).head(12), caption="The first of the corpus's source images")

# %%
sae_figures.corpus_examples(corpus_frames, corpus_table)

# %% tags=["remove-input"]
glue("n_corpus", len(corpus_frames), display=False)
glue("n_sources", corpus_table["image"].nunique(), display=False)
glue("sae_stimuli_text", " and ".join(s.replace("_", " ") for s in sae_stimuli), display=False)

# %% [markdown]
# **Takeaway:** the corpus has {glue:text}`n_corpus` frames from {glue:text}`n_sources` distinct images, none
# of which the mice saw.

# %% [markdown]
# ## 2. A TopK sparse autoencoder on the target space
# The SAE reads one patch token at a time, keeps its `k` strongest features and reconstructs the
# token from them (Gao et al. 2024; `neurrator.models.sae`). It is trained on the target tokens of
# {glue:text}`sae_stimuli_text` and of the corpus: the decoder's own target space (the paper borrowed an
# SAE trained on another CLIP; its future work asks for this). An SAE trained elsewhere on the same
# space (`sae_path`) is used instead when given. Quality is measured on the tokens it was trained on
# and on the encoder's predicted patches, which it never saw.

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Training (or reading back) the SAE"}
tokens = cell_type_features.training_tokens(stimulus_tokens, corpus_grids)
t0 = time.perf_counter()
sae, trained = sae_models.fit_or_load(tokens, layout.sae(f"{profile}_patch_tokens"), setup.sae_preset(**dict(sae_options or {})),
                                      seed=seed, device=compute, retrain=retrain, given=sae_path,
                                      params={"stimuli": sae_stimuli, "corpus": len(corpus_frames)})
timings["SAE (training or reading back)"] = time.perf_counter() - t0
print(cell_type_features.sae_summary(sae, len(tokens), trained))

# %%
sae_figures.training_history(sae.history_)

# %% tags=["remove-input"]
glue("sae_text", cell_type_features.training_text(sae.history_, sae.config.n_features), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`sae_text`; section 3 measures it on each kind of token.

# %% [markdown]
# ## 3. The populations' predicted patches in the dictionary
# The encoder of chapter 05 is queried, as in chapter 06, with each population's units only (a neuron
# mask) on test bins of the held-out movie frames ({glue:text}`n_windows` windows over
# {glue:text}`n_frames` frames: the parameter `windows_per_frame` of each, spread over its repeats; the
# windows of one frame share its content, so the blocks of frames, not the windows, are the samples). Each predicted grid is encoded by the SAE and averaged over its
# patches; a population's **profile** is each feature's mean activation over the test bins. Besides
# PV, SST and VIP, each type's size-matched controls of chapter 06 (random untagged units, as many from
# each session as the type has there) are queried the same way, every draw chapter 06 made up to
# `control_draws`: they are the null of every statistic below ({glue:text}`draws_text`).

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Querying the encoder with each population and encoding its predictions"}
decoder, split = cell_type_features.pan_session_encoder(layout, stimulus, regime)   # chapter 05's, and its split
queried = cell_type_features.queried_populations(
    *celltypes.split_population_table(celltypes.read_populations(layout.cell_type_populations)), control_draws)
cell_types, members = queried.cell_types, queried.members     # members: a type, then its draws
test = cell_type_features.held_out_windows(layout, decoder, split, stimulus, windows_per_frame, seed=seed)
print(queried.describe())
t0 = time.perf_counter()
frames_of_window, codes = cell_type_features.population_codes(decoder, test, queried.columns, sae)
timings["encoding the predictions"] = time.perf_counter() - t0

# %% tags=["remove-input"]
glue("n_windows", len(test), display=False)
glue("n_frames", len(np.unique(frames_of_window)), display=False)
glue("draws_text", queried.draws_text(), display=False)

# %% tags=["hide-input"] mystnb={"code_prompt_show": "The SAE's quality on each kind of token"}
quality = cell_type_features.quality_table(
    sae, decoder, test, {s.replace("_", " "): g for s, g in stimulus_tokens.items()} | {"labelling corpus": corpus_grids},
    {t: queried.columns[t] for t in cell_types} | {"all units": None})
glue("quality_text", cell_type_features.quality_text(quality, stimulus, cell_types), display=False)
tables.show(quality, caption="Reconstruction of each kind of token")

# %% [markdown]
# **Takeaway:** the dictionary reconstructs with {glue:text}`quality_text`. ("Silent features": the
# fraction of the dictionary that never fires on that set of tokens; on the training tokens these are
# the dead features.) A masked query of a few dozen units predicts patches that are smoother and
# further from any real image than the targets the SAE learned from, so for the smallest populations
# the dictionary describes only part of what they predict: read the features below as what their
# predictions lean on most, not as a full account of them.

# %%
features = cell_type_features.FeatureProfiles(codes, members, top_k)
sae_figures.strongest_features(features.strongest([*cell_types, *queried.control_names], 8))

# %%
profile_table = features.summary(queried.columns)
tables.show(profile_table, digits=1, caption="Each population's profile over the dictionary")

# %% [markdown]
# A control draw's "unique by magnitude" is counted in its type's place, against the other *cell types*;
# "shared with its type's others" is the mean over the cell type and its other draws. Is a cell type's
# number of unique features more than its draws', and does its top-{glue:text}`k_text` share less with the
# draws than they share with each other? Each statistic of a cell type is compared with the same statistic of
# its draws (`dictionary.control_null`): p = (1 + draws at least as extreme) / (1 + draws); the row "all
# types" sums the statistic over the types and compares it with every other assignment of draws to types, a
# test of the types as a group that few draws per type can still pass. Holm's correction runs over each such
# table. The second table is a **check that the comparison can fail**: each type's draw 0 is relabelled as
# the "cell type" and its other draws are its controls; nothing in it is special, so nothing may pass.

# %%
cell_type_null = features.versus_controls(seed=seed)
print(cell_type_features.family_note("cell types", cell_type_null))
tables.show(readable(cell_type_null), caption="The cell types against their size-matched draws")

# %%
pseudo_null = features.pseudo_cell_types(seed=seed)   # draw 0 plays the type, the other draws its controls
if len(pseudo_null):
    print(cell_type_features.family_note("pseudo cell types", pseudo_null))
tables.show(readable(pseudo_null), caption="Pseudo cell types") if len(pseudo_null) else "no pseudo cell type"

# %% tags=["remove-input"]
glue("pseudo_text", cell_type_features.pseudo_text(pseudo_null), display=False)
glue("unique_text", verdict(cell_type_null, "unique features", "beats its draws"), display=False)
glue("shared_text", verdict(cell_type_null, f"top-{top_k} shared with its type's others",
                            "shares fewer top features with its draws than they share with each other"), display=False)

# %% [markdown]
# **Takeaway:** unique features: {glue:text}`unique_text`. Shared top-{glue:text}`k_text`:
# {glue:text}`shared_text`. Size and sessions alone produce the draws' values, so only a cell type above
# them "has" more unique features than a random population would. The pseudo cell types:
# {glue:text}`pseudo_text`.

# %% [markdown]
# ## 4. Naming the unique features (Fig. 8)
# Each feature's activation on a corpus image is its largest over the image's patches. Its
# {glue:text}`images_per_feature` strongest images name it: on `demo`, by the frozen ImageNet
# classifier's most probable label of each image (the label most of them share is the feature's
# label); on `paper`, by CLIP's zero-shot ImageNet class of each image, counted the same way. On `demo`
# the scene narrator of chapter 04 §6 also names the same images (where the object sits, and its words for
# lighting and contrast; column "scene words", the words most of them get). Narrations of the predictions
# are never looked at.

# %% tags=["remove-input"]
glue("images_per_feature", images_per_feature, display=False)

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Labelling every feature by its strongest corpus images"}
clip = setup.image_text_model(compute)    # paper: CLIP (corpus labels, image-text scores); demo: none
image_labels = cell_type_features.corpus_labels(backend, corpus_grids, corpus_frames, clip)
feature_images = dictionary.top_images(dictionary.image_activations(sae, corpus_grids), features.table.index.to_numpy(),
                                       images_per_feature)
labels = dictionary.feature_labels(feature_images, image_labels).set_index("feature")
# demo: also the scene narrator's words for the same images (where the object sits, lighting and contrast)
labels = cell_type_features.with_scene_words(labels, feature_images, setup.scene_backend(layout, backend), corpus_grids)

# %%
unique_table = features.unique_table(labels)
tables.show(unique_table, digits=3) if len(unique_table) else "no population has a unique feature"

# %%
sae_figures.unique_feature_gallery(cell_types, features.unique, feature_images, labels, corpus_frames, shown_features, top_k,
                                   images=min(5, images_per_feature))

# %% [markdown]
# **By specificity.** Uniqueness is all or nothing; the paper ranks a population's features by how many
# times more strongly they fire in it than in the other populations: a feature's mean activation over the
# population's test windows divided by its largest mean activation in any other type's (activations below
# 1 % of the table's largest count as that floor). Each type's {glue:text}`n_specific` most specific
# features, with their corpus labels, and the median of their ratios against the same statistic when each
# size-matched draw plays the type (p = (1 + draws at least as large) / (1 + draws); Holm over that table).

# %% tags=["remove-input"]
glue("n_specific", n_specific, display=False)

# %%
tables.show(features.specific_table(labels, n_specific), digits=2,
            caption="Each type's most specific features: how many times more strongly than in any other type")
specific_null = features.specificity_versus_controls(n_specific, seed=seed)
print(cell_type_features.family_note("specificity", specific_null))
tables.show(readable(specific_null), caption=f"Median ratio of the {n_specific} most specific features, against the draws")

# %% tags=["remove-input"]
glue("specific_text", verdict(specific_null, "specificity", "beats its draws"), display=False)

# %% [markdown]
# **Takeaway:** the labels say what, in images no mouse saw, drives each feature that only one
# population's predictions lean on; section 6 tests whether those leanings are systematic. By
# specificity: {glue:text}`specific_text`.

# %% [markdown]
# ## 5. Are the top features stable? (Fig. A6)
# Neighbouring test bins come from the same or neighbouring movie frames and predict nearly the same
# patches, so resampling single bins treats a few dozen frames' worth of evidence as thousands of samples
# and finds any top-k stable. Here whole **blocks of consecutive frames** are resampled with replacement
# {glue:text}`n_boot` times (every bin of a drawn block; the same draw for every population, as they share
# the bins). The block length is measured (`dictionary.top_k_blocks`): per population, three
# decorrelation lags of each bin's mean activation over its top-{glue:text}`k_text` (the quantity the top-k
# ranks), the longest over the populations: {glue:text}`block_text`. For each resample, the fraction of a
# population's top-{glue:text}`k_text` that stays in its top-{glue:text}`k_text`, and the features that are in
# the top-{glue:text}`k_text` of every resample; beside them the mean overlap of the old resampling of single
# bins. Each type's mean overlap is then compared with its draws' (two-sided: more or less stable than a
# random population of its size and sessions).

# %% tags=["hide-input"] mystnb={"code_prompt_show": "The block bootstrap"}
glue("n_boot", bootstrap, display=False)
glue("k_text", top_k, display=False)
t0 = time.perf_counter()
stability, overlaps, blocks = cell_type_features.stability_table(codes, frames_of_window, cell_types, features.unique_as,
                                                                 top_k, bootstrap, seed=seed)
timings["bootstrap"] = time.perf_counter() - t0
glue("block_text", blocks.describe(), display=False)

# %%
sae_figures.bootstrap_overlaps(overlaps, cell_types, members, top_k, blocks, bootstrap)
print(f"bootstrap: {blocks.describe()}; percentile summaries of {bootstrap} resamples")
tables.show(stability, columns=list(stability.columns[:8]), caption="Top-k overlap over the resamples")

# %%
stability_null = cell_type_features.against_controls(lambda a: {t: stability.at[m, "mean"] for t, m in a.items()}, members,
                                                     "two-sided", seed=seed)
print(cell_type_features.family_note("stability", stability_null))
tables.show(readable(stability_null), caption="Stability against the controls")

# %% tags=["remove-input"]
glue("stability_text", cell_type_features.stability_text(stability, cell_types), display=False)
glue("stability_null_text", verdict(pd.concat({"overlap": stability_null}), "overlap",
                                    "is more or less stable than its draws"), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`stability_text`. Against their controls: {glue:text}`stability_null_text`.

# %% [markdown]
# ## 6. Concept-axis validation (Fig. A7)
# A check that does not use the labelling corpus. Each population's {glue:text}`concept_k` strongest
# features are each represented by their {glue:text}`frames_k` most activating movie frames (on the
# frames' true target tokens). The feature's score on a concept is the mean similarity of those frames
# with the concept's text: on `paper`, CLIP's image–text cosine; on `demo`, the SBERT cosine between the
# concept and the frames' oracle captions, **the demo's stand-in for CLIP's image–text similarity** (the
# demo has no image–text model). Each (concept, population) is tested against the other populations'
# features with Welch's t-test; the p-values are corrected for the number of concepts × populations
# (Benjamini–Hochberg). **Read that table as description:** Welch's test takes a population's features as
# independent samples, and they are not (they come from the same units and test bins, and neighbouring
# features fire on the same frames), so its q values are too small. The verdict comes from the controls:
# how many concepts pass for a type is compared with how many pass for each of its draws in its place,
# against the same other cell types.

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Scoring each population's top features on the concepts"}
glue("concept_k", concept_features, display=False)
glue("frames_k", frames_per_feature, display=False)
movie_grids = cell_type_features.stimulus_grids(store, [stimulus])[stimulus]
frame_acts = dictionary.image_activations(sae, movie_grids)
frame_concept = cell_type_features.movie_concept_scores(clip or setup.sentence_model(memoized=True), layout, stimulus,
                                                        len(movie_grids), concepts)
concept_scores = cell_type_features.feature_concept_scores(features.tops, [m for t in cell_types for m in members[t]],
                                                           frame_acts, frame_concept, concept_features, frames_per_feature)
welch = cell_type_features.welch_tests(concept_scores, features.observed)

# %%
print(inference.family_note("the Welch table", len(welch), "fdr_bh", "Welch's t-test of a type's top features against "
                            f"the other types' ({concept_features} features each, taken as independent: descriptive)"))
tables.show(welch.set_index(["concept", "population"]), p_columns=["p", "q (BH)"],
            caption="Welch's t-test per concept and population (descriptive)")

# %%
sae_figures.concept_leanings(welch, cell_types, concepts)

# %%
t0 = time.perf_counter()
welch_null = cell_type_features.welch_against_controls(concept_scores, members, seed=seed)
timings["Welch against the controls"] = time.perf_counter() - t0
print(cell_type_features.family_note("Welch passes", welch_null))
tables.show(readable(welch_null), caption="Concepts passed per type against its draws")

# %% tags=["remove-input"]
glue("welch_text", cell_type_features.welch_text(welch, welch_null), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`welch_text`.

# %% [markdown]
# ## 7. Against the planted truth
# The demo world planted PV → local RMS contrast, SST → "a vehicle is on screen", VIP → global
# luminance, each as a drive that rises with its variable. For each feature, the planted variable's
# mean over its {glue:text}`frames_k` most activating movie frames; a carrier's **leaning** is that mean
# averaged over its unique features, in standard deviations of the variable over the movie, from the movie's
# mean (0 without unique features). The verdict compares it with the leaning of each of its size-matched
# draws in its place (one-sided; the row "all types" sums the leanings): **recovered** means p < 0.05 after
# Holm's correction. As description, the statistic is also set against {glue:text}`n_null` random feature
# sets of the same size (p counts those at least as large; "p (below)" those at most as large, a leaning
# *away* from the planted code); those p take the dictionary's features as exchangeable, which they are not.

# %% tags=["remove-input"]
glue("n_null", null_sets, display=False)

# %% tags=["hide-input"] mystnb={"code_prompt_show": "The planted variables over each feature's top frames"}
planted, leaning_null, per_feature = features.planted_truth(
    cell_type_features.planted_variables(layout, stimulus, cell_types) if setup.simulated else {}, frame_acts,
    frames_per_feature, null_sets, seed=seed)
if len(planted):
    print(cell_type_features.PLANTED_NOTE)
tables.show(planted.set_index("planted"), digits=3, columns=["unique features", "leaning (SD)", "control leaning",
            "p vs controls", "p (Holm)", "recovered", "whole profile", "control whole profile"],
            p_columns=["p vs random sets", "p (below)", "p vs controls", "p (Holm)"]) if len(planted) else "not tested"

# %%
if len(leaning_null):
    print(cell_type_features.family_note("leanings", leaning_null))
tables.show(readable(leaning_null), caption="Leanings against the controls") if len(leaning_null) else "not tested"

# %%
if len(planted):
    sae_figures.planted_histograms(per_feature, features.unique, features.unique_as, members, cell_type_features.PLANTED)

# %% tags=["remove-input"]
glue("planted_text", cell_type_features.planted_text(planted, leaning_null), display=False)
glue("finding", cell_type_features.chapter_finding(cell_type_null, leaning_null, top_k), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`planted_text`.
#
# The "whole profile" columns say whether a planted leaning is in the predictions at all but sits in
# features the populations share (uniqueness discards those), or is absent. Section 3 gives the
# other reason to read these checks with care: the dictionary reconstructs the populations' predicted
# patches less well than the stimuli's own targets ({glue:text}`quality_text`), and a code that chapter 06
# finds in the tagged cells' spikes but not in their narrations may already be lost in the masked query's
# predictions. A dictionary of the predictions cannot recover what the predictions do not carry.

# %% [markdown]
# ### Every route, the dictionary's included
# Chapter 06 §10 followed each planted code from the tagged cells' spikes through the masked query and the
# population's own encoder to the sentences of both narrators. The dictionary of the masked query's
# predictions is one more route: its row is the carrier's leaning against its draws (above), and every p of
# the table is Holm-corrected again as one family.

# %%
routes = cell_type_features.with_dictionary_route(cell_types_06.read_routes(layout.cell_type_routes), planted, leaning_null)
print(cell_types_06.route_notes(routes))
tables.show(routes.set_index(["planted", "route"]), columns=["ρ", "leaning (SD)", "q", "recovered"], p_columns=["q"],
            caption="Each planted code along every route: clip-level ρ (chapter 06) or the unique features' leaning (here)")

# %%
cell_type_figures.planted_routes_figure(routes)

# %% tags=["remove-input"]
glue("all_routes", cell_types_06.route_verdict(routes), display=False)

# %% [markdown]
# **Takeaway:** route by route, {glue:text}`all_routes`.

# %% tags=["remove-input"]
results.record(layout, CHAPTER, {**cell_type_features.record_tables(
    quality, profile_table, cell_type_null, stability, cell_types, stability_null, welch, welch_null, pseudo_null, planted,
    leaning_null), "specificity against the controls": cell_type_features.null_record(specific_null, counts=False)})
timings["whole chapter"] = time.perf_counter() - started
pd.Series(timings, name="seconds").round(0).to_frame()

# %% [markdown]
# ## Summary
# {glue:text}`finding`
#
# - **The dictionary** ({glue:text}`sae_text`) reconstructs with {glue:text}`quality_text`: it describes what the
#   populations' predictions lean on most, not all of it.
# - **Unique features against size-matched controls:** {glue:text}`unique_text`. The pseudo cell types:
#   {glue:text}`pseudo_text`.
# - **Stability** under the block bootstrap, against the controls: {glue:text}`stability_null_text`.
# - **Concepts:** {glue:text}`welch_text`.
# - **Planted truth:** {glue:text}`planted_text`.
#
# ## What's next
# Chapter 08 puts Neurrator beside the field's baselines (Ridge, an MLP, CEBRA, PCA + KNN).
