"""Install the packages that must come with ``pip install --no-deps``.

Their list lives in ``pyproject.toml`` under ``[tool.neurrator] no-deps`` (one source of truth);
``make`` calls ``python -m neurrator.book.install`` after ``pip install -e .``. Exact pins already
installed are skipped, so the step is a no-op on an up-to-date environment.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path


#: the project's pyproject.toml (this file is neurrator/book/install.py)
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def no_deps_requirements(pyproject: str | Path) -> list[str]:
    data = tomllib.loads(Path(pyproject).read_text())
    return list(data.get("tool", {}).get("neurrator", {}).get("no-deps", []))


def missing(requirements: list[str]) -> list[str]:
    """The ``name==version`` pins that are not installed at exactly that version."""
    out = []
    for req in requirements:
        name, _, version = req.partition("==")
        if not version:
            raise ValueError(f"no-deps requirement {req!r} must be pinned as name==version")
        try:
            if metadata.version(name) == version:
                continue
        except metadata.PackageNotFoundError:
            pass
        out.append(req)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", default=str(PYPROJECT))
    args = parser.parse_args(argv)
    todo = missing(no_deps_requirements(args.pyproject))
    if not todo:
        print("no-deps packages: up to date")
        return 0
    print("installing without dependencies:", " ".join(todo))
    return subprocess.call([sys.executable, "-m", "pip", "install", "--no-deps", *todo])


if __name__ == "__main__":
    raise SystemExit(main())
