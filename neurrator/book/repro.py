"""Seeding and deterministic settings: same parameters and seed, same outputs."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and torch; with ``deterministic`` force deterministic torch kernels.

    Returns a NumPy ``Generator`` seeded with ``seed`` for code that prefers explicit RNGs.
    """
    import torch

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this before the first CUDA matmul to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return np.random.default_rng(seed)


def torch_generator(seed: int):
    """A dedicated ``torch.Generator`` (for DataLoader shuffling and sampling) seeded with ``seed``."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen
