# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Setup: what this book ran on
#
# ## Overview
# Every number in this book depends on the software and machine that produced it. This chapter
# records both, resolves the profile and the data directory that the later chapters use, and checks
# that a seeded computation reproduces exactly on this machine.
#
# You will learn:
# 1. which package versions and which device the book was executed with;
# 2. where the chain reads and writes its artifacts;
# 3. that `neurrator.book.repro.seed_everything` makes a small training run repeat bit for bit.
#
# ## Prerequisites
# None: this is the first chapter. To re-run it: `.venv/bin/neurrator run 00_setup`.

# %% tags=["parameters", "hide-input"]
profile = "demo"      # "demo" (offline, CPU) or "paper" (GPU runner with model and data access)
data_dir = None       # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0              # seed of the reproducibility check
check_steps = 200     # optimisation steps of the reproducibility check

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from neurrator import config
from neurrator.book import environment, plotting, repro
from neurrator.layout import DataLayout

plotting.set_theme()
layout = DataLayout.resolve(data_dir, profile)

# %% [markdown]
# ## 1. Software and machine
# Besides versions, the table names the CPU and the kernels that torch (its CPU capability and
# BLAS), numpy (its SIMD dispatch) and the BLAS libraries picked on it. They decide the last bits of
# every floating-point result, so two machines that differ here train slightly different models:
# the book checks the simulated world exactly and trained models' numbers within stated
# tolerances (chapter 03 says which).

# %%
machine = environment.machine_summary()
versions = environment.package_versions()
width = max(map(len, machine))
print("\n".join(f"{key:>{width}}: {value}" for key, value in machine.items()))
versions

# %%
footprint = environment.install_footprint()
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.barh(footprint["package"][::-1], footprint["MB"][::-1], color="C0")
ax.set_xlabel("installed size (MB)")
ax.set_title("Largest packages in this environment")
plt.show()

# %% [markdown]
# **Takeaway:** the tables record what produced the numbers below, down to the CPU kernels; most of
# the environment's size is the deep-learning stack (torch, transformers) and the Allen SDK's tree.

# %% [markdown]
# ## 2. Profile and data directory
# The profile is a papermill parameter; the data directory holds every artifact the chain writes,
# each with a JSON sidecar naming what made it, in one folder per profile (profiles never share one).
# One object, `neurrator.layout.DataLayout`, says where each artifact lives.

# %% tags=["nbval-check-output"]
print(f"profile: {layout.profile}")
print(f"profiles available: {', '.join(config.PROFILES)}")
print(f"data directory exists: {layout.data_dir.is_dir()}")
session, stimulus, regime = 100000034, "natural_movie_one", "sparse_random"   # an example session
pd.DataFrame({"artifact": ["Allen cache", "processed session", "binned counts", "target store", "reference captions",
                           "split", "trained encoder", "held-out predictions", "narrations", "headline results"],
              "path": [layout.show(p) for p in (
                  layout.allen_cache, layout.recording(session), layout.binned(session, stimulus), layout.targets,
                  layout.captions(stimulus), layout.split(session, stimulus, regime),
                  layout.decoder(session, stimulus, regime), layout.predictions(session, stimulus, regime),
                  layout.narrations(), layout.results("03_train"))]}).set_index("artifact")

# %% [markdown]
# **Takeaway:** later chapters find their inputs in the same data directory, set once here or
# through `NEURRATOR_DATA`.

# %% [markdown]
# ## 3. Seeded runs reproduce
# We fit the same small regression twice from the same seed, and once from another seed. With
# `seed_everything` the first two loss curves must be identical; the third differs.

# %%
def fit_small_regression(seed: int, steps: int) -> np.ndarray:
    """Loss curve of a 2-layer MLP fitted to noisy targets, all randomness from ``seed``."""
    repro.seed_everything(seed)
    x = torch.randn(256, 16)
    y = torch.sin(x[:, :4].sum(1, keepdim=True)) + 0.1 * torch.randn(256, 1)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


run_a = fit_small_regression(seed, check_steps)
run_b = fit_small_regression(seed, check_steps)
run_c = fit_small_regression(seed + 1, check_steps)

# %% tags=["nbval-check-output"]
print(f"same seed, max |difference| of loss curves: {np.abs(run_a - run_b).max():.1e}")
print(f"other seed differs: {bool(np.abs(run_a - run_c).max() > 0)}")
print(f"final loss (seed {seed}): {run_a[-1]:.3f}")

# %%
fig, ax = plt.subplots()
ax.plot(run_a, lw=3, alpha=0.5, label=f"seed {seed}, run 1")
ax.plot(run_b, ls="--", color="k", lw=1, label=f"seed {seed}, run 2")
ax.plot(run_c, color="C3", lw=1, label=f"seed {seed + 1}")
ax.set(xlabel="optimisation step", ylabel="training MSE", yscale="log", title="Seeded training is reproducible")
ax.legend()
plt.show()

# %% [markdown]
# **Takeaway:** the two runs from one seed lie on top of each other; any later difference between
# runs with equal parameters is a bug, not noise.

# %% [markdown]
# ## Summary
# - The book records its software versions and compute device at every build.
# - Artifacts live in one data directory resolved from a parameter or `NEURRATOR_DATA`, one folder
#   per profile, at the paths `DataLayout` gives.
# - Seeded computations repeat exactly on one machine. Across machines the simulated world is
#   identical too, while trained models differ in their last bits: their headline numbers are
#   compared within tolerances (`tests/test_headline_results.py`), the rest by nbval exactly.
#
# ## What's next
# Chapter 01 opens the Allen cache (simulated in the `demo` profile), applies unit quality control,
# bins spikes at 120 Hz and builds the held-out splits.
