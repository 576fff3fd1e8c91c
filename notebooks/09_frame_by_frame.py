# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Frame by frame: narration strips and an explorer
#
# ## Overview
# Tables of mean scores hide what a reader most wants to see: the frames, the spikes, and what was said about
# each frame. This chapter shows held-out stretches of both movies frame by frame, as the paper's Fig. A1 and A2
# do, and ends with an explorer: a slider over every held-out frame with every decoder's sentence.
#
# You will learn:
# 1. what the encoder says frame by frame over a held-out stretch of the first movie, beside the population's
#    spikes and the reference (Fig. A1);
# 2. the same for the second movie (Fig. A2);
# 3. how to browse every held-out frame, every held-out condition's and every cell type's sentence in the
#    explorer.
#
# ## Prerequisites
# - Chapter 04 (the narrations of held-out frames) and chapter 06 (the cell-type populations' narrations).
# - Chapter 01's processed session (the raster) and chapter 02's reference captions.

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Parameters: profile, data, session, stretches and the explorer"}
profile = "demo"                  # "demo" (offline, CPU) or "paper" (the paper's models, on a GPU runner)
data_dir = None                   # None: $NEURRATOR_DATA, else ./data at the project root
cache_dir = None                  # None: <data_dir>/<profile>/allen_cache (the frames)
seed = 0
session_id = None                 # None: the session chapter 03 trained on (chapter 04 narrated its encoders)
stimulus = "natural_movie_one"
second_stimulus = "natural_movie_three"
strip_conditions = ["contiguous_middle", "second_movie_contiguous"]   # chapter 04's conditions shown as strips
strip_length = 6                  # frames per strip, evenly spaced over the condition's held-out stretch
cell_type_regime = "sparse_random"   # chapter 06's encoder regime (its populations' narrations of `stimulus`)
explored_conditions = ["sparse_random", "contiguous_middle", "second_movie", "second_movie_contiguous"]   # with the cell
                                  # types, their held-out frames are the explorer's (others' sentences show where they overlap)
window_frames = 30                # the explorer's raster: frames before and after the frame shown
sbert_model_id = "sentence-transformers/all-MiniLM-L6-v2"   # paper profile: hub id or local path (demo: packaged copy)

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Imports, the profile and the data layout"}
import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

from neurrator import profiles
from neurrator.book import environment, narration_strips, plotting, repro, tables
from neurrator.book.explorer import ExplorerStimulus, NarrationExplorer, SpikeRaster
from neurrator.data import allen
from neurrator.data.binning import BinnedStimulus
from neurrator.evaluation import cell_types, frame_by_frame, heldout
from neurrator.evaluation.narration import read_narrations
from neurrator.layout import DataLayout
from neurrator.vlm import captions

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
setup = profiles.get(profile, sbert_model_id=sbert_model_id)
layout = DataLayout.resolve(data_dir, profile, cache_dir)
session_id = layout.trained_session(session_id)

# %% [markdown]
# ## 1. The first movie, frame by frame (Fig. A1)
# Chapter 04's narrations of held-out frames, each scored by its SBERT cosine with the frame's reference caption
# (the model reference), and chapter 06's populations' narrations of the same movie. A strip shows
# {glue:text}`strip_length` frames evenly spaced over the longest stretch of consecutive frames that a condition
# held out, the spikes of the session's units over the stretch (first repeat of the movie, units grouped by
# brain area), and under each frame the decoded sentence and the reference.

# %%
narrations = read_narrations(layout.narrations())
model = setup.sentence_model()
sentences = pd.concat([frame_by_frame.heldout_sentences(narrations, model),
                       frame_by_frame.cell_type_sentences(
                           cell_types.read_population_narrations(layout, stimulus, cell_type_regime), stimulus)],
                      ignore_index=True)
movies = [stimulus, second_stimulus]
references = {name: captions.read_captions(layout.captions(name)) for name in movies}
content = heldout.read_content_references(layout, movies, required=setup.simulated)
cache = allen.open_cache(layout)
images = {name: allen.stimulus_frames(cache, name) for name in movies}
pools = allen.read_recording(layout.recording(session_id)).units["region"].map(allen.region_pool).to_dict()
rasters = {name: SpikeRaster.of_repeat(BinnedStimulus.of_session(layout, session_id, name), pools,
                                       group_order=allen.DISJOINT_POOLS) for name in movies}
raster_label = f"session {session_id}: spikes of its {rasters[stimulus].n_rows} units"
strip_inputs = dict(images=images, references=references, rasters=rasters, length=strip_length, raster_label=raster_label)

# %% tags=["full-width"]
figure, first_summary = narration_strips.condition_strip(sentences, strip_conditions[0], **strip_inputs)
plt.show()

# %% tags=["remove-input"]
glue("strip_length", strip_length, display=False)

glue("first_strip", frame_by_frame.strip_text(first_summary), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`first_strip`. Sentences, like references, repeat over neighbouring frames: these are
# not independent samples, which is why chapter 04 resamples blocks of consecutive frames.

# %% [markdown]
# ## 2. The second movie (Fig. A2)
# The second movie's own encoder (chapter 03), on its held-out stretch.

# %% tags=["full-width"]
figure, second_summary = narration_strips.condition_strip(sentences, strip_conditions[1], **strip_inputs)
plt.show()

# %% tags=["remove-input"]
glue("second_strip", frame_by_frame.strip_text(second_summary), display=False)
strips = pd.DataFrame([first_summary, second_summary],
                      index=pd.Index([frame_by_frame.condition_label(c) for c in strip_conditions], name="held-out stretch"))

# %% tags=["remove-input"]
tables.show(strips, caption="Each strip's whole held-out stretch: how often the sentence and the reference change")

# %% [markdown]
# **Takeaway:** {glue:text}`second_strip`.

# %% [markdown]
# ## 3. The narration explorer
# Every held-out frame of both movies: move the slider (or use the arrow keys on it, or the buttons) to see the
# frame, the session's spikes around it (the frame shaded), the references, and the sentence of every decoder that
# held the frame out, with its SBERT cosine with the model reference. Decoders: chapter 04's held-out conditions of
# the encoder trained on session {glue:text}`explorer_session`, and chapter 06's PV, SST and VIP populations of the
# pan-session encoder (first movie only). The page needs no server: it is part of the book.

# %% tags=["hide-input"] mystnb={"code_prompt_show": "The explorer, built from the sentences, frames, references and rasters above"}
explorer = NarrationExplorer([
    ExplorerStimulus(name, name.replace("_", " "),
                     {f: images[name][f] for f in frame_by_frame.explored_frames(sentences, name, explored_conditions)},
                     references[name], sentences[sentences["stimulus"] == name], rasters[name], content.get(name),
                     raster_label=raster_label) for name in movies], window_frames=window_frames)
explorer

# %% tags=["nbval-check-output", "remove-input"]
print(f"the explorer: {explorer.n_frames} held-out frames of {len(movies)} movies, {len(explorer.decoders)} decoders")

# %% tags=["remove-input"]
glue("explorer_session", session_id, display=False)
glue("explorer_frames", explorer.n_frames, display=False)
glue("explorer_decoders", len(explorer.decoders), display=False)

# %% [markdown]
# **Takeaway:** {glue:text}`explorer_frames` held-out frames and {glue:text}`explorer_decoders` decoders are in the
# explorer; frames that no decoder narrated well are as easy to find as those it did.

# %% [markdown]
# ## Summary
# - First movie: {glue:text}`first_strip`.
# - Second movie: {glue:text}`second_strip`.
# - The explorer holds {glue:text}`explorer_frames` held-out frames with every decoder's sentence.
#
# ## What's next
# The methods page describes the models and the statistics behind every number; the intro's "What this book finds"
# gathers the headline results of every chapter.
