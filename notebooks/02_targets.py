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

# %% tags=["parameters", "hide-input"]
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

# %% tags=["hide-input"]
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from neurrator import vlm
from neurrator.book import environment, plotting, repro
from neurrator.data import allen
from neurrator.evaluation import results
from neurrator.layout import DataLayout
from neurrator.vlm import captions
from neurrator.vlm.targets import PatchTargetStore
from neurrator.world.stimuli import STIMULUS_FOLDER

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
layout = DataLayout.resolve(data_dir, profile, cache_dir)
if not layout.manifest.is_file():
    raise FileNotFoundError(f"no Allen cache at {layout.allen_cache}: run notebook 01_preprocess first")

# %% [markdown]
# ## 1. The stimulus frames

# %%
cache = allen.open_cache(layout.allen_cache)
frames = {name: allen.stimulus_frames(cache, name) for name in stimulus_names}
pd.DataFrame([{"stimulus": n, "frames": f.shape[0], "height": f.shape[1], "width": f.shape[2]} for n, f in frames.items()])

# %%
fig, axes = plt.subplots(len(frames), 6, figsize=(14, 1.25 * len(frames) + 0.4))
for row, (name, stack) in enumerate(frames.items()):
    for col, index in enumerate(np.linspace(0, len(stack) - 1, 6).astype(int)):
        axes[row, col].imshow(stack[index], cmap="gray", vmin=0, vmax=255)
        axes[row, col].set_title(f"{name} #{index}", fontsize=8)
        axes[row, col].axis("off")
fig.suptitle("Stimulus frames as the mouse sees them (grayscale)")
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
backend = vlm.load_backend(profile, **({"model_id": llava_model_id, "field_of_view": field_of_view} if profile == "paper"
                                       else {"cache_dir": layout.models}))
store = PatchTargetStore(layout.targets)
targets = {}
for name, stack in frames.items():
    store.write(name, stack, backend, chunk_size=chunk_size)
    targets[name] = store.open(name, backend_spec=backend.target_spec(), frames=stack)
backend.target_spec()

# %% tags=["nbval-check-output"]
summary = pd.DataFrame(store.summary()).set_index("stimulus")
summary.loc[stimulus_names]

# %%
scenes, scene_grids = frames["natural_scenes"], targets["natural_scenes"].rows(range(len(frames["natural_scenes"])))
energy = np.linalg.norm(scene_grids, axis=-1)                       # (scenes, patches)
side = int(np.sqrt(scene_grids.shape[1]))
movie_grids = targets["natural_movie_one"].rows(np.arange(0, 900, 5))
pooled = movie_grids.mean(1)
pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
fig, axes = plt.subplots(2, 5, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
for col, index in enumerate(np.linspace(0, len(scenes) - 1, 4).astype(int)):
    axes[0, col].imshow(scenes[index], cmap="gray")
    axes[0, col].set_title(f"scene {index}", fontsize=9)
    axes[1, col].imshow(energy[index].reshape(side, side), cmap="magma")
    axes[1, col].set_title("patch-vector norm", fontsize=9)
for ax in axes[:, :4].flat:
    ax.axis("off")
axes[0, 4].axis("off")
im = axes[1, 4].imshow(pooled @ pooled.T, cmap="viridis", vmin=0, vmax=1)
axes[1, 4].set_title("cosine between movie frames (every 5th)", fontsize=9)
fig.colorbar(im, ax=axes[1, 4], fraction=0.046)
plt.tight_layout()
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
reference = {}
for name, stack in frames.items():
    reference[name], caption_spec = captions.reference_captions(
        profile, stack, targets[name], backend, blip2_model_id=blip2_model_id, batch_size=narration_batch_size,
        max_new_tokens=caption_max_new_tokens)
    captions.write_captions(layout.captions(name), name, range(len(stack)),
                            reference[name], caption_spec, inputs={"targets": store.path(name)})
world_stimuli = layout.allen_cache / STIMULUS_FOLDER if profile == "demo" else None
content = {}
for name, stack in frames.items():
    made = captions.content_captions(profile, name, len(stack), caption_file=content_caption_files.get(name),
                                     world_stimuli=world_stimuli)
    path = layout.captions(name, "content")
    if made is None:
        path.unlink(missing_ok=True)      # no stale content reference from an earlier run
        continue
    content[name], content_spec = made
    captions.write_captions(path, name, range(len(stack)), content[name], content_spec)
examples = np.linspace(0, len(frames["natural_scenes"]) - 1, 8).astype(int)
table = pd.DataFrame({"scene": examples, "reference caption": [reference["natural_scenes"][i] for i in examples]})
if "natural_scenes" in content:
    table["content reference"] = [content["natural_scenes"][i] for i in examples]
if profile == "demo":
    table["labels read by the frozen head"] = [", ".join(l) for l in backend.labels(scene_grids[examples])]
table

# %%
caption_counts = pd.DataFrame([{"stimulus": n, "frames": len(c), "distinct captions": len(set(c)),
                                "distinct content descriptions": len(set(content[n])) if n in content else 0}
                               for n, c in reference.items()]).set_index("stimulus")
results.record(layout, "02_targets", {"reference captions": results.table_record(
    caption_counts, {"frames": results.EXACT, "distinct captions": results.COUNT,
                     "distinct content descriptions": results.EXACT})})
glue("movie_content_distinct", int(caption_counts.loc["natural_movie_one", "distinct content descriptions"])
     if "natural_movie_one" in caption_counts.index else 0, display=False)
caption_counts

# %%
fig, axes = plt.subplots(3, 4, figsize=(14, 6.2))
movie = frames["natural_movie_one"]
for ax, index in zip(axes.flat, np.linspace(0, len(movie) - 1, 12).astype(int)):
    ax.imshow(movie[index], cmap="gray")
    ax.set_title(f"#{index}: " + "\n".join(textwrap.wrap(reference["natural_movie_one"][index], 36)), fontsize=8)
    ax.axis("off")
fig.suptitle("natural_movie_one frames with their reference captions")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Takeaway:** every frame gets a short literal sentence naming its main content (the model
# reference); the content reference is coarser — {glue:text}`movie_content_distinct` distinct descriptions
# for natural_movie_one's 900 frames, one per source. Narrations decoded from neurons are scored against both.

# %% [markdown]
# ## 4. What the store costs
# The reference implementation holds the whole patch table in RAM as float32. The store keeps
# float16 on disk and reads only the rows a batch needs.

# %% tags=["nbval-check-output"]
shapes = {"demo 900-frame movie": (900, 49, 1280), "paper 900-frame movie": (900, 576, 1024),
          "paper 3600-frame movie": (3600, 576, 1024)}
cost = pd.DataFrame([{"stimulus": name, "float32 table in RAM (GB)": round(np.prod(s) * 4 / 1e9, 2),
                      "float16 store on disk (GB)": round(np.prod(s) * 2 / 1e9, 2),
                      "RAM for a batch of 64 (MB)": round(64 * s[1] * s[2] * 4 / 1e6, 1)}
                     for name, s in shapes.items()]).set_index("stimulus")
cost

# %%
ax = cost[["float32 table in RAM (GB)", "float16 store on disk (GB)"]].plot.barh(figsize=(7, 2.6))
ax.set_xlabel("GB")
ax.set_title("Target storage: reference float32 table vs float16 store")
plt.show()

# %% [markdown]
# **Takeaway:** the store halves the footprint on disk and keeps RAM at one batch, whatever the
# movie length (measured in `benchmarks/target_store.py`).

# %% [markdown]
# ## Summary
# - Targets are the backend's own vision-tower grids; the store keeps them as float16 arrays on disk,
#   read a batch at a time, with a sidecar that refuses a mismatched backend or frame set.
# - Reference captions come from the oracle narrator (`demo`) or BLIP-2 (`paper`), one per frame.
#
# ## What's next
# Chapter 03 trains the encoder from spikes to these grids.
