"""Shared fixtures; every test runs offline (hub variables set, non-loopback sockets refused)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_real_connect = socket.socket.connect


def _loopback_only(sock, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host == "localhost"
        if not allowed:
            raise OSError(f"network access during tests is forbidden (tried {address})")
    return _real_connect(sock, address)


socket.socket.connect = _loopback_only

#: the GPU-only packages of the ``paper`` extra that are installed here (none in the default install)
PAPER_EXTRA_INSTALLED = [name for name in ("torchvision", "open_clip") if importlib.util.find_spec(name)]
#: skip a test that asserts the CPU-only default install, on a runner that installed the paper extra
needs_default_install = pytest.mark.skipif(
    bool(PAPER_EXTRA_INSTALLED), reason=f"asserts the CPU-only default install; the paper extra is installed here "
                                        f"({', '.join(PAPER_EXTRA_INSTALLED)})")


def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private data directory, exported as NEURRATOR_DATA."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("NEURRATOR_DATA", str(path))
    return path


#: the small simulated Allen cache shared by the allensdk and simulator tests and the paper-profile chain (simulating
#: one costs minutes, mostly the stimulus features of the 900-frame movie and allensdk's read-back check)
SMALL_WORLD = dict(genotypes=("wt", "Pvalb", "Sst"), units_per_session=100, movie_one_repeats=4, movie_three_repeats=2,
                   movie_three_frames=60, scene_repeats=3, n_scenes=24, opto_trials_per_condition=8, seed=3)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """``(cache_dir, WorldConfig)`` of a small simulated world; read-only (copy it to change it)."""
    from neurrator.world.simulate import WorldConfig, simulate_world

    config = WorldConfig(**SMALL_WORLD)
    path = tmp_path_factory.mktemp("allen_world")
    simulate_world(path, config, progress=False)
    return path, config


@pytest.fixture(scope="session")
def photos():
    """Five real photographs (cat, coffee, camera, rocket, astronaut) as Allen-sized grayscale frames."""
    from neurrator.world.images import packaged_photographs

    return packaged_photographs(("cat", "coffee", "camera", "rocket", "astronaut"))[0]


@pytest.fixture(scope="session")
def demo_backend(tmp_path_factory):
    """The real demo backend (packaged EfficientNet-Lite0 + SmolLM2), with a private model cache."""
    from neurrator.vlm.demo import DemoBackend

    return DemoBackend(cache_dir=tmp_path_factory.mktemp("models"))


def pytest_configure(config):
    config.addinivalue_line("markers", "after_notebooks: run after the nbval notebooks (reads what they wrote)")


#: test modules that read what the notebooks wrote (marked ``after_notebooks``); under xdist they run in the
#: notebooks' worker, after them
BOOK_READERS = ("tests/test_headline_results.py",)


def pytest_collection_modifyitems(session, config, items):
    """Tests marked ``after_notebooks`` run last, after nbval has executed book/*.ipynb."""
    late = [item for item in items if item.get_closest_marker("after_notebooks")]
    unlisted = sorted({str(item.path.relative_to(ROOT)) for item in late} - set(BOOK_READERS))
    if unlisted:
        raise pytest.UsageError(f"{unlisted} read what the notebooks wrote (after_notebooks): add them to BOOK_READERS "
                                "in tests/conftest.py, so that they run in the notebooks' xdist worker")
    items[:] = [item for item in items if not item.get_closest_marker("after_notebooks")] + late


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs two xdist workers: one executes the notebooks in order, then the tests that read
    what they wrote; the other takes the unit tests, a module at a time (its fixtures are built once)."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksInOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "book" if path.startswith("book/") or path in BOOK_READERS else path

    return NotebooksInOneWorker(config, log)
