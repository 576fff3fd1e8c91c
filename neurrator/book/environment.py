"""What the book ran on: versions, device and threads (notebook 00 shows this)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import pandas as pd

from neurrator.runtime import compute_device  # noqa: F401 (re-exported: notebooks call environment.compute_device)

#: distributions whose versions every book build records
REPORTED_PACKAGES = (
    "neurrator", "torch", "transformers", "sentence-transformers", "allensdk", "pynwb", "hdmf",
    "numpy", "pandas", "scipy", "xarray", "scikit-learn", "statsmodels", "cebra", "seaborn", "papermill",
    "jupytext", "jupyter-book", "nbval",
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


#: environment variables that switch the CPU kernels (another processor switches them the same way)
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                    "OMP_NUM_THREADS", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "NPY_DISABLE_CPU_FEATURES")


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def kernel_configuration() -> dict:
    """Which CPU kernels torch, numpy and the BLAS libraries dispatch to on this machine: these decide
    the last bits of every floating-point result, so two machines can differ where this differs."""
    import os
    import re

    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so threadpoolctl lists it)
    import torch
    from threadpoolctl import threadpool_info

    built = torch.__config__.show()
    torch_blas = re.search(r"BLAS_INFO=(\w+)", built)
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", built)
    try:
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        simd = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    except ImportError:  # numpy 2 moved them
        simd = []
    blas = sorted({f"{lib['internal_api']} {lib.get('version') or ''} ({lib.get('architecture') or 'core ?'}, "
                   f"{lib['num_threads']} threads)".replace("  ", " ")
                   for lib in threadpool_info() if lib.get("user_api") == "blas"})
    overrides = [f"{name}={os.environ[name]}" for name in KERNEL_VARIABLES if name in os.environ]
    return {
        "cpu": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_blas": (torch_blas.group(1) if torch_blas else "unknown") + (f" {mkl.group(1)}" if mkl else ""),
        "numpy_simd": simd[-1] if simd else "baseline only",
        "numpy_scipy_blas": "; ".join(blas) or "not found",
        "kernel_overrides": ", ".join(overrides) or "none",
    }


def machine_summary() -> dict:
    """Python, platform, CPU kernels, device and thread counts of this machine."""
    import os

    import torch

    device = compute_device()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "executable": sys.executable,
        **kernel_configuration(),
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
