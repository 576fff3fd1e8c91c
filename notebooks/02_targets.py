# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Targets and reference captions
#
# ## Overview
# The encoder of chapter 03 learns to predict, from spikes, the patch grid that the frozen
# vision–language model's own vision tower produces for the frame on screen. This chapter computes
# those **target grids** for every stimulus frame, stores them on disk, and writes the **reference
# caption** of every frame, against which narrations decoded from neurons are scored later.
#
# You will learn:
# 1. what a target grid is in each profile (`demo`: EfficientNet-Lite0, 49 × 1280; `paper`: CLIP
#    ViT-L/14-336 inside LLaVA-1.5, 576 × 1024);
# 2. how the patch-target store keeps grids as float16 arrays on disk with a sidecar that refuses
#    grids made by another backend or from other frames;
# 3. what the reference captions say, and what the store costs against a float32 table in RAM.
#
# ## Prerequisites
# - Chapter 01 (the Allen cache: in the `demo` profile the simulated world, whose stimuli are real
#   images and clips shipped inside Python packages; in `paper` the Allen stimulus templates).

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Parameters: the profile, the stimuli, batch sizes and the paper profile's models"}
profile = "demo"                 # "demo" (offline, CPU) or "paper" (LLaVA-1.5 + BLIP-2 on a GPU runner)
data_dir = None                  # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0
cache_dir = None                 # None: <data_dir>/<profile>/allen_cache (made by chapter 01)
stimulus_names = ["natural_movie_one", "natural_movie_three", "natural_scenes"]
chunk_size = 32                  # frames per vision-tower pass when writing the store
narration_batch_size = 32        # grids per narrator call
llava_model_id = "llava-hf/llava-1.5-7b-hf"   # paper profile: hub id or local path
blip2_model_id = "Salesforce/blip2-opt-2.7b"  # paper profile: reference captioner
caption_max_new_tokens = 30      # paper profile: longest BLIP-2 caption, in tokens
field_of_view = "pad"            # paper profile: "pad" (whole frame, LLaVA-1.5's own choice), "crop" or "squeeze"
content_caption_files = {}       # stimulus -> CSV (frame, caption) written by a person; demo default: the world's

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Imports, the book's theme, the profile and the data layout (chapter 01's cache must exist)"}
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from neurrator import profiles
from neurrator.book import environment, plotting, repro, tables, target_figures
from neurrator.data import allen
from neurrator.evaluation import results
from neurrator.layout import DataLayout
from neurrator.vlm import captions
from neurrator.vlm.targets import PatchTargetStore, storage_cost

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
setup = profiles.get(profile, llava_model_id=llava_model_id, blip2_model_id=blip2_model_id)
layout = DataLayout.resolve(data_dir, profile, cache_dir)
if not layout.manifest.is_file():
    raise FileNotFoundError(f"no Allen cache at {layout.allen_cache}: run notebook 01_preprocess first")

# %% [markdown]
# ## 1. The stimulus frames

# %%
cache = allen.open_cache(layout)
frames = {name: allen.stimulus_frames(cache, name) for name in stimulus_names}
tables.show(pd.DataFrame([{"stimulus": n, "frames": f.shape[0], "height": f.shape[1], "width": f.shape[2]} for n, f in frames.items()]))

# %%
target_figures.stimulus_frames(frames)
plt.show()

# %% [markdown]
# **Takeaway:** two movies and a set of still scenes of varied content (street, people, vehicles,
# animals, objects), grayscale like the Allen natural movies and scenes.

# %% [markdown]
# ## 2. Target grids in the patch-target store
# The backend's own vision tower turns each frame into a grid of patch vectors. A 304 × 608 Allen
# frame is wider than the square a vision tower sees, so the **field of view** is a choice, recorded
# with the targets and used for the reference captions too: `paper` pads the whole frame to a square
# (LLaVA-1.5's own preprocessing; `field_of_view = "crop"` would keep only the middle half, as CLIP's
# processor does), `demo` resizes the whole frame to EfficientNet's square input. The store writes
# the grids chunk by chunk into a float16 array on disk and records, in a sidecar, the backend,
# layer, field of view, preprocessing and a hash of the frames.

# %%
backend = setup.backend(layout, field_of_view=field_of_view)
store = PatchTargetStore(layout.targets)
targets = {}
for name, stack in frames.items():
    store.write(name, stack, backend, chunk_size=chunk_size)
    targets[name] = store.open(name, backend_spec=backend.target_spec(), frames=stack)
backend.target_spec()

# %% tags=["nbval-check-output"]
summary = pd.DataFrame(store.summary()).set_index("stimulus")
tables.show(summary.loc[stimulus_names], caption="The patch-target store")

# %%
scene_grids = targets["natural_scenes"].rows(range(len(frames["natural_scenes"])))
target_figures.grid_structure(frames["natural_scenes"], scene_grids, targets["natural_movie_one"].rows(np.arange(0, 900, 5)))
plt.show()

# %% [markdown]
# **Takeaway:** a target grid is spatial (patch norms follow the objects in the frame); along the
# movie, grids are similar within a shot and change at cuts — the structure the encoder must predict.

# %% [markdown]
# ## 3. Reference captions
# Narrations are scored against two references. The **model** reference: in the `demo` profile the
# "oracle", the demo narrator applied to the frame's *true* grid (its frozen classifier head reads
# labels, SmolLM2 writes the sentence); in the `paper` profile BLIP-2's caption of the frame. A match
# with it measures agreement with a model's reading of the frame, which in `demo` is the narrator's own.
# The **content** reference is written by a person: in `demo`, the simulated world's description of
# the clip or photograph each frame comes from; in `paper`, a caption file per stimulus
# (`content_caption_files`, absent by default).

# %%
reference, content = captions.write_references(
    layout, frames, targets, backend, blip2_model_id=setup.captioner_id, batch_size=narration_batch_size,
    max_new_tokens=caption_max_new_tokens, content_caption_files=content_caption_files)

# %% tags=["remove-input"]
examples = np.linspace(0, len(frames["natural_scenes"]) - 1, 8).astype(int)
table = pd.DataFrame({"scene": examples, "reference caption": [reference["natural_scenes"][i] for i in examples]})
if "natural_scenes" in content:
    table["content reference"] = [content["natural_scenes"][i] for i in examples]
if hasattr(backend, "labels"):   # the demo narrator reads labels with a frozen classifier head
    table["labels read by the frozen head"] = [", ".join(l) for l in backend.labels(scene_grids[examples])]
tables.show(table, caption="Scenes with their references")

# %% tags=["remove-input"]
caption_counts = pd.DataFrame([{"stimulus": n, "frames": len(c), "distinct captions": len(set(c)),
                                "distinct content descriptions": len(set(content[n])) if n in content else 0}
                               for n, c in reference.items()]).set_index("stimulus")
results.record(layout, "02_targets", {"reference captions": results.table_record(
    caption_counts, {"frames": results.EXACT, "distinct captions": results.COUNT,
                     "distinct content descriptions": results.EXACT})})
glue("movie_content_distinct", int(caption_counts.loc["natural_movie_one", "distinct content descriptions"])
     if "natural_movie_one" in caption_counts.index else 0, display=False)
glue("movie_frames", len(frames["natural_movie_one"]) if "natural_movie_one" in frames else 0, display=False)
glue("movie_distinct_captions", int(caption_counts.loc["natural_movie_one", "distinct captions"])
     if "natural_movie_one" in caption_counts.index else 0, display=False)
tables.show(caption_counts, caption="Distinct references per stimulus")

# %%
target_figures.captioned_frames(frames["natural_movie_one"], reference["natural_movie_one"], "natural_movie_one")

# %% [markdown]
# **Takeaway:** every frame gets a short literal sentence naming its main content (the model
# reference); the content reference is coarser — {glue:text}`movie_content_distinct` distinct descriptions
# for natural_movie_one's {glue:text}`movie_frames` frames, one per source. Narrations decoded from neurons are scored against both.

# %% [markdown]
# ## 4. What the store costs
# The reference implementation holds the whole patch table in RAM as float32. The store keeps
# float16 on disk and reads only the rows a batch needs.

# %% tags=["nbval-check-output"]
cost = storage_cost({"demo 900-frame movie": (900, 49, 1280), "paper 900-frame movie": (900, 576, 1024),
                     "paper 3600-frame movie": (3600, 576, 1024)})
tables.show(cost, caption="Storage of the target grids")

# %% tags=["remove-input"]
long_movie = cost.loc["paper 3600-frame movie"]
glue("long_movie_ram_gb", f"{long_movie['float32 table in RAM (GB)']:.2f}", display=False)
glue("long_movie_disk_gb", f"{long_movie['float16 store on disk (GB)']:.2f}", display=False)
glue("long_movie_batch_mb", f"{long_movie['RAM for a batch of 64 (MB)']:.0f}", display=False)

# %%
target_figures.storage_cost(cost)
plt.show()

# %% [markdown]
# **Takeaway:** the store halves the footprint on disk and keeps RAM at one batch, whatever the
# movie length (measured in `benchmarks/target_store.py`).

# %% [markdown]
# ## Summary
# - Targets are the backend's own vision-tower grids; the store keeps them as float16 arrays on disk,
#   read a batch at a time, with a sidecar that refuses a mismatched backend or frame set.
#   The paper profile's long movie (natural_movie_three) takes {glue:text}`long_movie_disk_gb` GB on disk instead of
#   {glue:text}`long_movie_ram_gb` GB in RAM, while a training batch holds {glue:text}`long_movie_batch_mb` MB in RAM.
# - Reference captions come from the oracle narrator (`demo`) or BLIP-2 (`paper`), one per frame:
#   {glue:text}`movie_distinct_captions` distinct sentences for natural_movie_one's {glue:text}`movie_frames`
#   frames, against {glue:text}`movie_content_distinct` content descriptions.
#
# ## What's next
# Chapter 03 trains the encoder from spikes to these grids.
