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
# - Chapter 00 (environment, data directory).
# - Stimuli: until the simulated Allen world is built, this chapter uses real photographs that ship
#   inside scikit-image and scikit-learn, as grayscale frames of the Allen template size (304 × 608).

# %% tags=["parameters"]
profile = "demo"                 # "demo" (offline, CPU) or "paper" (LLaVA-1.5 + BLIP-2 on a GPU runner)
data_dir = None                  # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0
stimulus = "packaged_photographs"
chunk_size = 32                  # frames per vision-tower pass when writing the store
narration_batch_size = 32        # grids per narrator call
llava_model_id = "llava-hf/llava-1.5-7b-hf"   # paper profile: hub id or local path
blip2_model_id = "Salesforce/blip2-opt-2.7b"  # paper profile: reference captioner

# %%
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurrator import captions, config, environment, plotting, repro, stimuli, vlm
from neurrator.targets import PatchTargetStore

plotting.set_theme()
environment.quiet_model_loading()
repro.seed_everything(seed)
profile = config.check_profile(profile)
data_path = config.resolve_data_dir(data_dir)

# %% [markdown]
# ## 1. The stimulus frames

# %%
frames, sources = stimuli.packaged_photographs()
print(f"{len(frames)} frames of {frames.shape[1]} x {frames.shape[2]} pixels (uint8 grayscale)")
sources[["frame", "name", "package", "licence"]]

# %%
fig, axes = plt.subplots(2, 7, figsize=(14, 2.9))
for ax, frame, name in zip(axes.flat, frames, sources["name"]):
    ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
    ax.set_title(name, fontsize=9)
    ax.axis("off")
fig.suptitle("Stimulus frames as the mouse sees them (grayscale, 304 x 608)")
plt.show()

# %% [markdown]
# **Takeaway:** real photographs of varied content (animals, objects, vehicles, textures, text),
# grayscale like the Allen natural scenes and movies.

# %% [markdown]
# ## 2. Target grids in the patch-target store
# The backend's own vision tower turns each frame into a grid of patch vectors. The store writes
# them chunk by chunk into a float16 array on disk and records, in a sidecar, the backend, layer,
# preprocessing and a hash of the frames.

# %%
backend = vlm.load_backend(profile, **({"model_id": llava_model_id} if profile == "paper" else {}))
store = PatchTargetStore(data_path / "targets" / profile)
store.write(stimulus, frames, backend, chunk_size=chunk_size)
targets = store.open(stimulus, backend_spec=backend.target_spec(), frames=frames)
backend.target_spec()

# %% tags=["nbval-check-output"]
summary = pd.DataFrame(store.summary()).set_index("stimulus")
summary.loc[[stimulus]]

# %%
grids = targets.rows(range(len(frames)))
energy = np.linalg.norm(grids, axis=-1)                       # (frames, patches)
side = int(np.sqrt(grids.shape[1]))
pooled = grids.mean(1)
pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
fig, axes = plt.subplots(2, 5, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
for col, index in enumerate([0, 1, 3, 5]):
    axes[0, col].imshow(frames[index], cmap="gray")
    axes[0, col].set_title(sources["name"][index], fontsize=9)
    axes[1, col].imshow(energy[index].reshape(side, side), cmap="magma")
    axes[1, col].set_title("patch-vector norm", fontsize=9)
for ax in axes[:, :4].flat:
    ax.axis("off")
axes[0, 4].axis("off")
im = axes[1, 4].imshow(pooled @ pooled.T, cmap="viridis", vmin=0, vmax=1)
axes[1, 4].set_title("cosine between frames (mean grid)", fontsize=9)
fig.colorbar(im, ax=axes[1, 4], fraction=0.046)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Takeaway:** a target grid is spatial (patch norms follow the objects in the frame) and frames
# are distinguishable from their grids alone, which is what the encoder must learn to predict.

# %% [markdown]
# ## 3. Reference captions
# In the `demo` profile the reference is the "oracle": the demo narrator applied to the frame's
# *true* grid (its frozen classifier head reads labels, SmolLM2 writes the sentence). In the
# `paper` profile it is BLIP-2's caption of the frame.

# %%
reference, caption_spec = captions.reference_captions(
    profile, frames, targets, backend, blip2_model_id=blip2_model_id, batch_size=narration_batch_size)
caption_file = captions.write_captions(
    captions.caption_path(data_path / "captions" / profile, stimulus), stimulus, sources["frame"], reference,
    caption_spec, inputs={"targets": store.path(stimulus)})
table = sources[["frame", "name"]].assign(reference_caption=reference)
if profile == "demo":
    table["labels read by the frozen head"] = [", ".join(l) for l in backend.labels(grids)]
table

# %% tags=["nbval-check-output"]
print(f"frames: {len(reference)}, captions: {len(set(reference))} distinct")

# %%
fig, axes = plt.subplots(3, 4, figsize=(14, 6.2))
for ax, frame, text in zip(axes.flat, frames, reference):
    ax.imshow(frame, cmap="gray")
    ax.set_title("\n".join(textwrap.wrap(text, 38)), fontsize=8)
    ax.axis("off")
fig.suptitle("Frames with their reference captions")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Takeaway:** every frame gets a short literal sentence naming its main content; this is the
# target meaning that narrations decoded from neurons are scored against.

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
