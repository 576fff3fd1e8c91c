"""Profile and data-directory resolution.

The profile is a papermill parameter (``profile = "demo"``); the data directory comes from,
in order: an explicit argument, the ``NEURRATOR_DATA`` environment variable, or ``data/``
under the project root (the nearest folder above the working directory holding ``_toc.yml``
and ``pyproject.toml``), else ``./data``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILES = ("demo", "paper")
DEFAULT_PROFILE = "demo"
DATA_ENV = "NEURRATOR_DATA"


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known profile, else raise a clear error."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}: use one of {', '.join(PROFILES)} "
            f"(e.g. `neurrator run -p profile demo`)"
        )
    return profile


def find_project_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding both ``_toc.yml`` and ``pyproject.toml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return None


def read_benchmark(relative: str | os.PathLike, root: str | os.PathLike | None = None) -> dict | None:
    """A benchmark's saved results (``relative`` to the project root, e.g. ``benchmarks/results/<name>.json``); None
    where the project has none (e.g. an installed package, or a benchmark not run)."""
    import json

    root = Path(root) if root else find_project_root()
    path = None if root is None else root / relative
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def resolve_data_dir(data_dir: str | os.PathLike | None = None, create: bool = True) -> Path:
    """Resolve the data directory (argument > ``$NEURRATOR_DATA`` > ``<project>/data`` > ``./data``)."""
    if data_dir in (None, ""):
        data_dir = os.environ.get(DATA_ENV) or None
    if data_dir in (None, ""):
        root = find_project_root()
        data_dir = (root / "data") if root else Path("data")
    path = Path(data_dir).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"data directory {path} is a file; point {DATA_ENV} at a folder")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def with_overrides(configs: tuple, overrides: dict, what: str = "option") -> tuple:
    """``configs`` (dataclasses) with each of ``overrides`` applied to whichever config has that field; a name no
    config has is an error naming the choices."""
    from dataclasses import asdict, replace

    names = [set(asdict(c)) for c in configs]
    unknown = set(overrides) - set().union(*names)
    if unknown:
        raise ValueError(f"unknown {what}(s) {sorted(unknown)}; choose from {sorted(set().union(*names))}")
    return tuple(replace(c, **{k: v for k, v in overrides.items() if k in n}) for c, n in zip(configs, names))
