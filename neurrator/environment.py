"""What the book ran on: versions, device and threads (notebook 00 shows this)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import pandas as pd

#: distributions whose versions every book build records
REPORTED_PACKAGES = (
    "neurrator", "torch", "transformers", "sentence-transformers", "allensdk", "pynwb", "hdmf",
    "numpy", "pandas", "scipy", "scikit-learn", "seaborn", "papermill", "jupytext",
    "jupyter-book", "nbval",
)


def package_versions(names=REPORTED_PACKAGES) -> pd.DataFrame:
    """Installed version of each distribution (``"not installed"`` where absent)."""
    rows = []
    for name in names:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"package": name, "version": version})
    return pd.DataFrame(rows)


def install_footprint(top: int = 12) -> pd.DataFrame:
    """Installed size (MB, from each distribution's RECORD) of the largest distributions in this environment."""
    rows = []
    for dist in metadata.distributions():
        size = sum(f.size or 0 for f in (dist.files or ()))
        rows.append({"package": dist.metadata["Name"], "MB": size / 2**20})
    table = pd.DataFrame(rows).groupby("package", as_index=False)["MB"].sum()
    return table.sort_values(["MB", "package"], ascending=[False, True]).head(top).round(1).reset_index(drop=True)


def compute_device(prefer: str | None = None) -> str:
    """``"cuda"`` when a GPU is usable (or requested), else ``"cpu"``; a request for a missing GPU is an error."""
    import torch

    if prefer not in (None, "auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was requested but torch sees no GPU; use device='auto' or 'cpu'")
    if prefer in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return prefer


def machine_summary() -> dict:
    """Python, platform, device and thread counts of this machine."""
    import os

    import torch

    device = compute_device()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else "none",
    }


def quiet_model_loading() -> None:
    """Silence transformers' per-load progress bars and info logs (the book shows our own progress)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
