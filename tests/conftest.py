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
def small_world(tmp_path_factory, worker_id):
    """``(cache_dir, WorldConfig)`` of a small simulated world; read-only (copy it to change it). Simulated once per
    run: the xdist workers share it (the first builds it under a lock, the other reads it back), so the worker
    that runs the paper chain does not spend minutes simulating it again."""
    import shutil

    from filelock import FileLock

    from neurrator.world.simulate import WorldConfig, simulate_world

    config = WorldConfig(**SMALL_WORLD)
    root = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    path, done = root / "allen_world_shared", root / "allen_world_shared.done"
    with FileLock(str(root / "allen_world_shared.lock")):
        if not done.is_file():
            shutil.rmtree(path, ignore_errors=True)       # a half-built world of an interrupted worker
            simulate_world(path, config, progress=False)
            done.touch()
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
    config._neurrator_failed_notebooks = set()
    config.pluginmanager.register(NotebookLanes(), "neurrator-notebook-lanes")


#: test modules that read what the notebooks wrote (marked ``after_notebooks``); under xdist they run in the
#: second notebook lane, after every notebook of the run has finished
BOOK_READERS = ("tests/test_headline_results.py",)
#: the chain's second lane: under xdist these notebooks run in a worker of their own beside 03, 04 and 08 (08
#: reads 03 and 04, so it follows them in the first lane), after the unit tests, each once the notebooks of the
#: first lane that it reads have finished (05-07 read 00-02 and each other, never 03 or 04; 09 reads 04 and 06)
_DATA_CHAPTERS = ("00_setup", "01_preprocess", "02_targets")
LATE_LANE_NEEDS = {"book/05_scaling.ipynb": _DATA_CHAPTERS, "book/06_cell_types.ipynb": _DATA_CHAPTERS,
                   "book/07_sae_concepts.ipynb": _DATA_CHAPTERS,
                   "book/09_frame_by_frame.ipynb": (*_DATA_CHAPTERS, "03_train", "04_narrate_heldout", "06_cell_types")}
LATE_LANE = tuple(LATE_LANE_NEEDS)
#: unit tests long enough to unbalance the lanes (the paper chain on stand-ins: minutes); queued after the late
#: lane's notebooks, so that the first worker takes them once chapter 08 is done instead of the second worker
#: running them before chapter 05
LONG_UNIT_TESTS = ("tests/test_paper_chain.py",)
#: how long a notebook (or a book reader) waits for the notebooks it needs before it fails
NOTEBOOK_WAIT_S = 45 * 60


def _notebook(item) -> str | None:
    """The book notebook an nbval item belongs to (its stem), else None."""
    path = Path(str(item.path))
    return path.stem if path.suffix == ".ipynb" and path.parent == ROOT / "book" else None


def _lane(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path in LATE_LANE:
        return "book-late"
    if path in BOOK_READERS:
        return "book-readers"
    return "book" if path.startswith("book/") else path


#: the order in which the lanes' work is queued (unlisted scopes: the unit tests, rank 1)
LANE_RANK = {"book": 0, "book-late": 2, **dict.fromkeys(LONG_UNIT_TESTS, 3), "book-readers": 4}


def pytest_collection_modifyitems(session, config, items):
    """Order: notebooks 00-04 and 08, the unit tests, the late lane's notebooks, the long unit tests, then the
    tests marked ``after_notebooks`` (they read what the notebooks wrote)."""
    late = [item for item in items if item.get_closest_marker("after_notebooks")]
    unlisted = sorted({str(item.path.relative_to(ROOT)) for item in late} - set(BOOK_READERS))
    if unlisted:
        raise pytest.UsageError(f"{unlisted} read what the notebooks wrote (after_notebooks): add them to BOOK_READERS "
                                "in tests/conftest.py, so that they run after the notebooks")
    order = {id(item): (LANE_RANK.get(_lane(item.nodeid), 1) + (2 if item in late else 0), i) for i, item in enumerate(items)}
    items[:] = sorted(items, key=lambda item: order[id(item)])
    config._neurrator_notebooks = list(dict.fromkeys(n for n in map(_notebook, items) if n))


# ------------------------------------------------------------------ the two notebook lanes
def _marker_dir(config) -> Path:
    """Where this run's workers say which notebooks finished (one folder per run, shared by its workers)."""
    run = getattr(config, "workerinput", {}).get("testrunuid") or getattr(config, "_neurrator_run", None)
    if run is None:
        import uuid

        run = config._neurrator_run = uuid.uuid4().hex
    return ROOT / ".pytest_cache" / "notebook_lanes" / run


def _wait_for(config, needed: list[str], who: str) -> None:
    import time

    folder, deadline = _marker_dir(config), time.monotonic() + NOTEBOOK_WAIT_S
    for stem in needed:
        while not (folder / stem).is_file():
            if time.monotonic() > deadline:
                pytest.fail(f"{who} waited {NOTEBOOK_WAIT_S} s for book/{stem}.ipynb to finish")
            time.sleep(2)
        if (folder / stem).read_text() != "passed":
            pytest.fail(f"{who} needs book/{stem}.ipynb, which failed in this run: see its cells above")


class NotebookLanes:
    """The per-item hooks of the two lanes. Registered as a plugin (``pytest_configure``), not written as
    functions of this conftest: a conftest's item hooks run only for items under its own folder (tests/),
    and the notebooks are under book/."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.failed and _notebook(item):
            item.config._neurrator_failed_notebooks.add(_notebook(item))

    def pytest_runtest_teardown(self, item, nextitem):
        """After a notebook's last cell, record that it finished (and whether every cell passed)."""
        stem = _notebook(item)
        if stem and (nextitem is None or _notebook(nextitem) != stem):
            folder = _marker_dir(item.config)
            folder.mkdir(parents=True, exist_ok=True)
            status = "failed" if stem in item.config._neurrator_failed_notebooks else "passed"
            tmp = folder / f".{stem}.tmp"
            tmp.write_text(status)
            tmp.replace(folder / stem)

    def pytest_runtest_setup(self, item):
        """A late-lane notebook waits for the notebooks it needs, a book reader for every notebook of the run
        (only those collected in this run: a notebook run alone does not wait)."""
        config, collected = item.config, getattr(item.config, "_neurrator_notebooks", [])
        waited = config.__dict__.setdefault("_neurrator_waited", set())
        path = str(Path(str(item.path)).relative_to(ROOT)) if Path(str(item.path)).is_relative_to(ROOT) else ""
        if path in LATE_LANE and path not in waited:
            _wait_for(config, [n for n in LATE_LANE_NEEDS[path] if n in collected], f"{path}")
            waited.add(path)
        elif path in BOOK_READERS and item.get_closest_marker("after_notebooks") and path not in waited:
            _wait_for(config, collected, path)
            waited.add(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs two xdist workers. One executes notebooks 00-04 and 08 in order; the other takes the unit
    tests, a module at a time (its fixtures are built once), then notebooks 05-07 (they need 00-02, not 03 or 04);
    the long unit tests and the tests that read what the notebooks wrote go to whichever worker is free first. The
    order is the collection's (:func:`pytest_collection_modifyitems`), not xdist's largest-scope-first."""
    from xdist.scheduler import LoadScopeScheduling

    class TwoNotebookLanes(LoadScopeScheduling):
        def __init__(self, config, log=None):
            super().__init__(config, log)
            config.option.loadscopereorder = False

        def _split_scope(self, nodeid: str) -> str:
            return _lane(nodeid)

    return TwoNotebookLanes(config, log)
