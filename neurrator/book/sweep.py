"""``neurrator sweep``: notebooks × a parameter grid, each point one independent papermill run.

A grid is a mapping of parameter names to values; lists are crossed, anything else is fixed
(``{"session_id": [a, b], "seed": [0, 1, 2], "profile": "paper"}`` is 6 points). Each point runs the
chain of notebooks with its parameters into ``<runs>/<sweep>/<point>/`` (executed notebooks, a log,
a copy of the headline results each notebook recorded, and ``point.json``), on the scheduler chosen as
in :mod:`neurrator.scheduler`.

- Data: by default each point gets its own data directory, ``<runs>/<sweep>/<point>/data`` (points
  cannot overwrite each other's artifacts). A ``data_dir`` among the fixed parameters is shared by
  every point instead, which runs them one after the other (``scheduler="inprocess"``): only
  correct when the varying parameters are part of every artifact path the points write
  (``session_id`` is; ``seed`` is not).
- Resumable: ``point.json`` records the point's parameters, the notebooks' source hashes and how it
  ended; a point that finished with the same parameters and sources is skipped, one that failed is
  skipped too (and reported) unless ``retry_failed``.
- A failing point does not stop the others; the summary names its notebook, its cell and its log.
"""

from __future__ import annotations

import itertools
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from neurrator.artifacts import ArtifactError, check_artifact, sha256_file, write_json_artifact

MADE_BY = "neurrator sweep"
POINT_FILE = "point.json"


def expand_grid(grid: Mapping[str, Any]) -> tuple[list[dict], list[str]]:
    """``(points, varying names)``: every combination of the list-valued entries, fixed entries added."""
    if not grid:
        raise ValueError("the grid is empty: give at least one parameter, e.g. {'seed': [0, 1]}")
    varying = [k for k, v in grid.items() if isinstance(v, list)]
    empty = [k for k in varying if not grid[k]]
    if empty:
        raise ValueError(f"grid parameter(s) {empty} have no values")
    fixed = {k: v for k, v in grid.items() if k not in varying}
    points = [{**fixed, **dict(zip(varying, combo))} for combo in itertools.product(*(grid[k] for k in varying))]
    return points, varying


def point_name(params: Mapping[str, Any], varying: Sequence[str]) -> str:
    """A folder name from the varying parameters, e.g. ``seed=1,session_id=715093703``."""
    if not varying:
        return "point"
    text = ",".join(f"{k}={params[k]}" for k in varying)
    return re.sub(r"[^A-Za-z0-9=,._+-]", "_", text)[:200]


@dataclass
class PointOutcome:
    point: str
    status: str                  # "ok", "failed", "skipped (done)", "skipped (failed earlier)"
    seconds: float
    error: str
    log: str
    params: dict


def _point_key(params: Mapping[str, Any], sources: Sequence[Path]) -> dict:
    return {"parameters": dict(params), "notebooks": {Path(s).stem: sha256_file(s) for s in sources}}


def previous_outcome(folder: Path, params: Mapping[str, Any], sources: Sequence[Path]) -> dict | None:
    """What ``point.json`` says of an earlier run with these parameters and sources, else None."""
    try:
        check_artifact(folder / POINT_FILE, made_by=MADE_BY, params=_point_key(params, sources))
    except ArtifactError:
        return None
    import json

    return json.loads((folder / POINT_FILE).read_text())


def run_point(name: str, params: Mapping[str, Any], sources: Sequence[str], folder: str, project_root: str,
              retry_failed: bool = False) -> PointOutcome:
    """Run the chain ``sources`` with ``params`` into ``folder`` (one grid point); never raises for a
    failing notebook: the outcome says what failed and where the log is."""
    from neurrator.book.runner import NotebookFailed, run_chain

    folder, sources = Path(folder), [Path(s) for s in sources]
    params = dict(params)
    params.setdefault("data_dir", str(folder / "data"))
    key = _point_key(params, sources)            # the sources as they are when the point starts
    before = previous_outcome(folder, params, sources)
    if before is not None and (before["status"] == "ok" or not retry_failed):
        status = "skipped (done)" if before["status"] == "ok" else "skipped (failed earlier)"
        return PointOutcome(name, status, 0.0, before.get("error", ""), before.get("log", ""), params)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "results", ignore_errors=True)     # never merge an earlier run's numbers
    log_path = folder / "log.txt"
    started, wall = time.perf_counter(), time.time()
    with open(log_path, "w") as log_file:
        def log(text):
            print(text, file=log_file, flush=True)

        try:
            run_chain(sources, params, run_name="notebooks", runs_dir=folder, cwd=project_root, progress=False, log=log)
            _keep_results(params, sources, folder, since=wall)
            status, error = "ok", ""
        except Exception as err:   # noqa: BLE001 - a point's failure is its outcome, never the sweep's
            status, error = "failed", str(err) if isinstance(err, NotebookFailed) else f"{type(err).__name__}: {err}"
            log(f"FAILED: {error}")
    outcome = PointOutcome(name, status, time.perf_counter() - started, error, str(log_path), params)
    write_json_artifact(folder / POINT_FILE, {"status": status, "error": error, "log": str(log_path),
                                              "seconds": outcome.seconds, "point": name},
                        made_by=MADE_BY, params=key)
    return outcome


def _keep_results(params: Mapping[str, Any], sources: Sequence[Path], folder: Path, since: float) -> None:
    """Copy the headline results the point's notebooks wrote (``results.record``) next to its notebooks."""
    from neurrator.layout import DataLayout

    layout = DataLayout.resolve(params.get("data_dir"), params.get("profile", "demo"), create=False)
    kept = folder / "results"
    for source in sources:
        written = layout.results(source.stem)
        if written.is_file() and written.stat().st_mtime >= since:
            kept.mkdir(exist_ok=True)
            shutil.copyfile(written, kept / written.name)


def point_results(folder: str | Path) -> pd.DataFrame:
    """A point's headline numbers in long form: chapter, table, row, column, value."""
    from neurrator.evaluation import results

    rows = []
    for path in sorted((Path(folder) / "results").glob("*.json")):
        recorded = results.load(path)
        for table, content in recorded["tables"].items():
            for row, values in content["rows"].items():
                rows += [{"chapter": recorded["chapter"], "table": table, "row": row, "column": column, "value": value}
                         for column, value in values.items()]
    return pd.DataFrame(rows, columns=["chapter", "table", "row", "column", "value"])


@dataclass
class SweepSummary:
    folder: Path
    outcomes: pd.DataFrame       # one row per point: point, status, seconds, error, log, and its parameters
    results: pd.DataFrame        # every point's headline numbers (long form), with the point's name

    @property
    def failed(self) -> pd.DataFrame:
        return self.outcomes[self.outcomes["status"].isin(["failed", "skipped (failed earlier)"])]


def sweep(sources: Sequence[str | Path], grid: Mapping[str, Any], *, name: str, runs_dir: str | Path,
          project_root: str | Path, fixed: Mapping[str, Any] | None = None, scheduler: str | None = "local",
          workers: int | None = None, cluster: str | None = None, batch: Mapping[str, Any] | None = None,
          retry_failed: bool = False, progress: bool = True) -> SweepSummary:
    """Run every point of ``grid`` (lists crossed) with the ``fixed`` parameters (taken as they are, lists
    included) added to each; see the module docstring. Returns the outcomes and the merged results."""
    from neurrator.book.runner import check_parameters, declared_parameters, read_source
    from neurrator.scheduler import INPROCESS, client_for, map_grid

    project_root = Path(project_root).resolve()
    sources = [str(Path(s).resolve()) for s in sources]
    fixed = dict(fixed or {})
    if fixed.get("data_dir"):
        fixed["data_dir"] = str((project_root / fixed["data_dir"]).resolve())   # as the kernels (cwd: the project) see it
        if scheduler not in INPROCESS or cluster:
            raise ValueError("points sharing one data directory overwrite each other's results when they run at once: "
                             "drop data_dir (each point then gets its own) or use scheduler 'inprocess'")
    grid_points, varying = expand_grid(grid)
    points = [{**fixed, **p} for p in grid_points]
    check_parameters(points[0], {s: declared_parameters(read_source(s)) for s in sources})
    names = [point_name(p, varying) for p in points]
    if len(set(names)) != len(names):
        raise ValueError("two grid points get the same folder name; make the varying values distinct")
    folder = Path(runs_dir).resolve() / name
    batch = dict(batch or {})
    if batch.get("gpus") and not cluster:
        raise ValueError("gpus are asked for per batch job: give cluster (e.g. 'slurm'); a local or running scheduler's "
                         "workers declare their own resources")
    resources = {"GPU": 1} if batch.get("gpus") else None
    tasks = [(n, p, sources, str(folder / n), str(project_root), retry_failed) for n, p in zip(names, points)]
    with client_for(scheduler, cluster=cluster, workers=workers, **(batch if cluster else {})) as client:
        outcomes = map_grid(_run_task, tasks, client=client, resources=resources, desc=f"sweep {name}", progress=progress,
                            return_exceptions=True)
    outcomes = [o if isinstance(o, PointOutcome) else PointOutcome(n, "failed", 0.0, f"{type(o).__name__}: {o}", "", p)
                for o, n, p in zip(outcomes, names, points)]     # e.g. a worker that died
    table = pd.DataFrame([{k: v for k, v in vars(o).items() if k != "params"} | {f"param {k}": o.params.get(k) for k in varying}
                          for o in outcomes])
    merged = [point_results(folder / n).assign(point=n) for n, o in zip(names, outcomes) if o.status in ("ok", "skipped (done)")]
    results = pd.concat(merged, ignore_index=True) if merged else pd.DataFrame(columns=["chapter", "table", "row", "column", "value", "point"])
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "outcomes.csv", index=False)
    results.to_csv(folder / "results.csv", index=False)
    return SweepSummary(folder, table, results)


def _run_task(task: tuple) -> PointOutcome:
    return run_point(*task)

