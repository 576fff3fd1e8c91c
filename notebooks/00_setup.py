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

# %% tags=["parameters", "hide-input"] mystnb={"code_prompt_show": "Parameters: the profile, the data directory and the reproducibility check"}
profile = "demo"      # "demo" (offline, CPU) or "paper" (GPU runner with model and data access)
data_dir = None       # None: $NEURRATOR_DATA, else ./data at the project root
seed = 0              # seed of the reproducibility check
check_steps = 200     # optimisation steps of the reproducibility check

# %% tags=["hide-input"] mystnb={"code_prompt_show": "Imports, the book's theme and the data layout"}
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from neurrator import profiles
from neurrator.book import environment, plotting, repro, setup_figures, tables
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

# %% tags=["remove-input"]
machine = environment.machine_summary()
versions = environment.package_versions()
width = max(map(len, machine))
print("\n".join(f"{key:>{width}}: {value}" for key, value in machine.items()))
glue("n_packages", len(versions), display=False)
tables.show(versions.set_index("package"), caption="Package versions")

# %% tags=["remove-input"]
setup_figures.install_footprint(environment.install_footprint())
plt.show()

# %% [markdown]
# **Takeaway:** the tables record what produced the numbers below ({glue:text}`n_packages` package versions,
# down to the CPU kernels); most of the environment's size is the deep-learning stack (torch, transformers)
# and the Allen SDK's tree.

# %% [markdown]
# ## 2. Profile and data directory
# The profile is a papermill parameter, and `neurrator.profiles` registers what each one uses (its
# models and every training preset); the data directory holds every artifact the chain writes,
# each with a JSON sidecar naming what made it, in one folder per profile (profiles never share one).
# One object, `neurrator.layout.DataLayout`, says where each artifact lives.

# %% tags=["nbval-check-output"]
print(f"profile: {layout.profile}")
print(f"profiles available: {', '.join(profiles.names())}")
print(f"data directory exists: {layout.data_dir.is_dir()}")
session, stimulus, regime = 100000034, "natural_movie_one", "sparse_random"   # an example session
tables.show(pd.Series(layout.example_paths(session, stimulus, regime), name="path").rename_axis("artifact").to_frame())

# %% [markdown]
# **Takeaway:** later chapters find their inputs in the same data directory, set once here or
# through `NEURRATOR_DATA`.

# %% [markdown]
# ## 3. Seeded runs reproduce
# We fit the same small regression twice from the same seed, and once from another seed. With
# `seed_everything` the first two loss curves must be identical; the third differs.

# %%
run_a = repro.small_regression_losses(seed, check_steps)
run_b = repro.small_regression_losses(seed, check_steps)
run_c = repro.small_regression_losses(seed + 1, check_steps)

# %% tags=["nbval-check-output", "remove-input"]
print(f"same seed, max |difference| of loss curves: {np.abs(run_a - run_b).max():.1e}")
print(f"other seed differs: {bool(np.abs(run_a - run_c).max() > 0)}")
print(f"final loss (seed {seed}): {run_a[-1]:.3f}")

# %% tags=["remove-input"]
glue("repro_max_difference", f"{np.abs(run_a - run_b).max():.1e}", display=False)
glue("repro_final_loss", f"{run_a[-1]:.3f}", display=False)

# %%
setup_figures.seeded_runs(run_a, run_b, run_c, seed)
plt.show()

# %% [markdown]
# **Takeaway:** the two runs from one seed lie on top of each other (largest difference
# {glue:text}`repro_max_difference`); any later difference between runs with equal parameters is a bug, not noise.

# %% [markdown]
# ## Summary
# - The book records its software ({glue:text}`n_packages` package versions) and compute device at every build.
# - Artifacts live in one data directory resolved from a parameter or `NEURRATOR_DATA`, one folder
#   per profile, at the paths `DataLayout` gives.
# - Seeded computations repeat exactly on one machine: two runs from one seed end at the same training loss
#   ({glue:text}`repro_final_loss`) and differ nowhere by more than {glue:text}`repro_max_difference`. Across machines the simulated world is
#   identical too, while trained models differ in their last bits: their headline numbers are
#   compared within tolerances (`tests/test_headline_results.py`), the rest by nbval exactly.
#
# ## What's next
# Chapter 01 opens the Allen cache (simulated in the `demo` profile), applies unit quality control,
# bins spikes at 120 Hz and builds the held-out splits.
