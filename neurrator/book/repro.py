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


def small_regression_losses(seed: int, steps: int) -> np.ndarray:
    """The loss curve of a 2-layer MLP (with dropout) fitted to noisy targets, all randomness from ``seed``: the
    setup chapter's reproducibility check (same seed, same curve; another seed, another curve)."""
    import torch

    seed_everything(seed)
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
