"""Headline numbers of a chapter, and how far another machine may move them.

nbval compares a notebook's text exactly, which holds for what is bit-reproducible (the simulated
world, shapes, counts before any floating-point model). Numbers that come out of a trained model
are not: another processor's kernels round differently, training follows another path, and a
rank among 900 frames or an SBERT mean moves a little. Each chapter therefore records its headline
tables with :func:`record` (``DataLayout.results(chapter)``: ``<data>/<profile>/results/<chapter>.json``), each column
with a :class:`Tolerance`; publishing the book copies the file to ``book/results/``, and
``tests/test_headline_results.py`` compares a fresh run with the published one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from neurrator.artifacts import ArtifactError, check_artifact, write_json_artifact

RESULTS_DIR = "results"


@dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= absolute + relative * |expected| + per_item / n``, on
    ``log10(max(x, floor))`` if ``log10``; ``n`` is the row's number of items (frames), where the
    table names the column that holds it, so that a mean or fraction over 12 frames may move more
    than one over 900."""

    absolute: float = 0.0
    relative: float = 0.0
    per_item: float = 0.0
    log10: bool = False
    floor: float = 0.0
    why: str = ""

    def allowance(self, expected: float, n: float | None = None) -> float:
        extra = self.per_item / n if (self.per_item and n) else 0.0
        return self.absolute + self.relative * abs(expected) + extra

    def accepts(self, expected: Any, actual: Any, n: float | None = None) -> bool:
        if not _is_number(expected) or not _is_number(actual):
            return expected == actual
        e, a = float(expected), float(actual)
        if e == a:                                   # also inf == inf (e.g. an interval open to the top)
            return True
        if math.isnan(e) or math.isnan(a):
            return math.isnan(e) and math.isnan(a)
        if self.log10:
            e, a = math.log10(max(e, self.floor)), math.log10(max(a, self.floor))
        return abs(a - e) <= self.allowance(e, n) + 1e-12

    def describe(self) -> str:
        parts = [f"±{self.absolute:g}"] if self.absolute else []
        if self.relative:
            parts.append(f"±{self.relative:.0%}")
        if self.per_item:
            parts.append(f"±{self.per_item:g}/n")
        text = " + ".join(parts) or "exact"
        return f"{text} in log10 (floor {self.floor:g})" if self.log10 else text


EXACT = Tolerance(why="a count or label fixed by the data, not by a trained model")
SBERT_MEAN = Tolerance(0.05, per_item=0.6, why="mean SBERT cosine over n held-out frames: a model retrained on "
                                                "other kernels narrates some frames differently (two frames may "
                                                "move by 0.3)")
COSINE = Tolerance(0.05, why="mean cosine or CKA between predicted and true grids: moves with the retrained model")
FRACTION = Tolerance(0.05, per_item=2, why="a fraction of n frames (R@k, KNN purity, distinct sentences): two "
                                           "frames may change sides")
RANK = Tolerance(5, 0.25, why="median rank of the true frame among all frames: a few ranks of noise, more where the "
                              "rank is large (seen: a 30-unit query's 94 vs 116 after training on targets one float16 "
                              "step apart)")
P_VALUE = Tolerance(2.0, log10=True, floor=1e-3, why="a p or q value of a resampling test: within a factor of 100, below "
                                                      "0.001 equal (its blocks come from a measured autocorrelation: a "
                                                      "retrained model can move the block length by a lag, and p near "
                                                      "its floor of 1/2^blocks with it)")
CROSSING = Tolerance(0.55, log10=True, floor=1.0, why="a population size on a half-decade grid (a floor crossing): "
                                                     "one step of the grid (3 to 10 is a factor of 3.3)")
CORRELATION = Tolerance(0.05, per_item=10, why="a rank correlation over n held-out frames: a model retrained on another "
                                               "CPU moves it by a fraction of its sampling error (about 1/sqrt(n))")
DISTINCT = Tolerance(3, 0.15, why="distinct decoded sentences among n frames: a retrained model moves a few frames to a "
                                  "neighbouring sentence, each adding or removing one (seen: 21 vs 24)")
COUNT = Tolerance(0, 0.05, why="a count that depends on a floating-point model (e.g. distinct captions)")
BLOCKS = Tolerance(1, 0.5, why="blocks of consecutive frames (the effective n): a block spans 3 autocorrelation lengths "
                                "of a retrained model's per-frame scores, which can move by a lag (seen: 2 vs 3 blocks)")
FEATURES = Tolerance(3, 0.25, why="a count of SAE features (active, unique, stable): an SAE trained on another CPU "
                                  "learns a slightly different, differently numbered dictionary")


def tolerance_table() -> pd.DataFrame:
    """The tolerance of each kind of headline number, and why (shown in chapter 03)."""
    kinds = {"SBERT mean": SBERT_MEAN, "cosine / CKA": COSINE, "fraction of frames": FRACTION,
             "median rank": RANK, "p or q value": P_VALUE, "population size (floor crossing)": CROSSING,
             "model-dependent count": COUNT, "distinct sentences": DISTINCT, "count of SAE features": FEATURES,
             "data count or label": EXACT}
    return pd.DataFrame([{"number": kind, "tolerance": t.describe(), "why": t.why} for kind, t in kinds.items()]
                        ).set_index("number")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _plain(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    return value if isinstance(value, (int, str)) or value is None else str(value)


def table_record(table: pd.DataFrame, tolerances: Mapping[str, Tolerance], n_column: str | None = None) -> dict:
    """One table as ``{"rows": {row: {column: value}}, "tolerances": {column: Tolerance}, "n_column": ...}``;
    only the columns named in ``tolerances`` are kept, and a multi-level row index is joined with " / ".
    ``n_column`` names the column holding each row's number of items (see :class:`Tolerance`)."""
    if n_column is not None and n_column not in tolerances:
        raise KeyError(f"n_column {n_column!r} must be one of the recorded columns")
    missing = sorted(set(tolerances) - set(table.columns))
    if missing:
        raise KeyError(f"columns {missing} are not in the table (it has {list(table.columns)})")
    rows = {}
    for position, key in enumerate(table.index):  # column by column: a row Series would upcast ints to floats
        name = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        if name in rows:
            raise ValueError(f"row {name!r} appears twice: give the table a unique index")
        rows[name] = {column: _plain(table[column].iloc[position]) for column in tolerances}
    return {"rows": rows, "tolerances": {column: asdict(t) for column, t in tolerances.items()}, "n_column": n_column}


def record(layout, chapter: str, tables: Mapping[str, dict]) -> Path:
    """Write ``chapter``'s headline tables (each made by :func:`table_record`) to ``layout.results(chapter)``,
    atomically with a sidecar."""
    payload = {"chapter": chapter, "profile": layout.profile, "tables": dict(tables)}
    return write_json_artifact(layout.results(chapter), payload, made_by=chapter, params={"profile": layout.profile})


def load(path: str | os.PathLike) -> dict:
    """A published results file (``book/results/<chapter>.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no published results at {path}: publish notebook {path.stem} "
                            f"(`.venv/bin/neurrator run {path.stem} --publish`)")
    return json.loads(path.read_text())


def load_recorded(layout, chapter: str) -> dict:
    """The results a run of ``chapter`` wrote to ``layout`` (checked against their sidecar)."""
    path = layout.results(chapter)
    check_artifact(path, made_by=chapter)
    return json.loads(path.read_text())


def earlier_world(chapter: str, world_version: int, profile: str) -> dict | None:
    """The headline results ``chapter`` published on version ``world_version`` of the demo world, kept in the package
    (``neurrator/evaluation/history/world_v<N>/<chapter>.json``) when the world changed; None when none was kept for
    ``profile`` (a real cache has no earlier world)."""
    from importlib import resources

    path = resources.files("neurrator.evaluation") / "history" / f"world_v{int(world_version)}" / f"{chapter}.json"
    if not path.is_file():
        return None
    kept = json.loads(path.read_text())
    return kept if kept.get("profile") == profile else None


def before_after(before: Mapping | None, after: Mapping, table: str, columns: list[str] | tuple[str, ...],
                 labels: tuple[str, str] = ("before", "after")) -> pd.DataFrame:
    """``table``'s ``columns`` in two results records (:func:`load`, :func:`load_recorded`) side by side: one row per
    row of either record (NaN where one lacks it), columns ``(column, label)``; ``before`` None gives NaN."""
    parts = {}
    for label, kept in zip(labels, (before, after)):
        rows = (kept or {}).get("tables", {}).get(table, {}).get("rows", {})
        frame = pd.DataFrame.from_dict(rows, orient="index")
        parts[label] = frame.reindex(columns=list(columns)) if len(frame) else pd.DataFrame(columns=list(columns))
    if not len(parts[labels[1]]) and not len(parts[labels[0]]):
        raise KeyError(f"neither record has a table {table!r}")
    out = pd.concat(parts, axis=1).swaplevel(axis=1)
    return out[[(column, label) for column in columns for label in labels]]


def change_text(table: pd.DataFrame, column: str, rows: list[str] | None = None, digits: int = 2) -> str:
    """``row before → after`` for ``rows`` (default all) of a :func:`before_after` table's ``column``, "; "-joined
    ("–" for a value a record lacks, e.g. a pool that never crossed)."""
    labels = [label for name, label in table.columns if name == column]
    if len(labels) != 2:
        raise KeyError(f"{column!r} is not a before/after column of this table (it has {sorted(set(table.columns))})")

    def shown(value) -> str:   # rounded as the book's tables round (numpy: half to even), so text and table agree
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else (
            f"{np.round(value, digits):.{digits}f}" if isinstance(value, float) else str(value))

    return "; ".join(f"{row} {shown(table.loc[row, (column, labels[0])])} → {shown(table.loc[row, (column, labels[1])])}"
                     for row in (rows if rows is not None else table.index))


def compare(expected: dict, actual: dict) -> list[str]:
    """Every difference beyond the expected file's tolerances, as readable lines (empty: all agree)."""
    problems = []
    for name, table in expected["tables"].items():
        got = actual["tables"].get(name)
        if got is None:
            problems.append(f"table {name!r} is missing")
            continue
        extra = sorted(set(got["rows"]) - set(table["rows"]))
        if extra:
            problems.append(f"{name}: rows {extra} are new (republish the book if intended)")
        for row, values in table["rows"].items():
            if row not in got["rows"]:
                problems.append(f"{name}: row {row!r} is missing")
                continue
            n = values.get(table.get("n_column")) if table.get("n_column") else None
            for column, want in values.items():
                tolerance = Tolerance(**table["tolerances"][column])
                have = got["rows"][row].get(column, "<missing>")
                want_v = float("nan") if want is None else want
                have_v = float("nan") if have is None else have
                if not tolerance.accepts(want_v, have_v, n):
                    problems.append(f"{name} [{row}, {column}]: {have} vs published {want} "
                                    f"(tolerance {tolerance.describe()}" + (f", n = {n})" if n else ")"))
    return problems
