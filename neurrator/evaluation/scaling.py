"""Narration fidelity against population size: one trained encoder queried with subsets of its neurons.

A point of the sweep is ``(pool, size, draw)``: ``size`` units drawn at random (seeded by the point)
from the pool's columns, every other input zeroed by the encoder's neuron mask. Each point is one
call of :func:`run_point`, which predicts, narrates and scores the held-out frames and writes one
per-frame table (``DataLayout.sweep_point``) with a sidecar; a finished point whose inputs and
settings are unchanged is read back instead of recomputed, so a sweep resumes where it stopped and
its points can be spread over workers.

:func:`floor_crossing` finds, per pool, the size from which matched SBERT stays above the
random-caption floor, judged by a bootstrap interval over draws and frames (:func:`gap_curve`);
:func:`pairwise_similarity` compares the narrations two pools give for the same frames.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.artifacts import ArtifactError, array_digest as digest, check_artifact, read_sidecar, sha256_file, write_artifact
from neurrator.data.allen import REGION_POOLS
from neurrator.evaluation import metrics, scoring

MADE_BY = "05_scaling"
#: the paper's pools, from the earliest visual stage to the non-visual control
POOLS = ("LGd", "VISp", "higher visual", "visual cortex", "hippocampus", "all")
#: half-decade steps from 10 neurons; each pool's own size is added as its last point
DEFAULT_SIZES = (10, 30, 100, 300, 1000, 3000)


@dataclass(frozen=True)
class SweepPoint:
    pool: str
    size: int
    draw: int

    @property
    def name(self) -> str:
        return f"{self.pool.replace(' ', '-')}_n{self.size}_d{self.draw}"


def pool_columns(units: pd.DataFrame, pool: str) -> np.ndarray:
    """Columns (``units["column"]``) of the units whose ``region`` belongs to ``pool`` (a REGION_POOLS name)."""
    if pool not in REGION_POOLS:
        raise ValueError(f"unknown pool {pool!r}: choose from {', '.join(map(repr, REGION_POOLS))}")
    regions = REGION_POOLS[pool]
    inside = np.ones(len(units), bool) if regions is None else units["region"].isin(regions).to_numpy()
    return np.sort(units["column"].to_numpy(np.int64)[inside])


def size_grid(n_units: int, sizes: Sequence[int] = DEFAULT_SIZES) -> list[int]:
    """The grid sizes below ``n_units``, then ``n_units`` itself (the whole pool)."""
    if n_units < 1:
        return []
    return sorted({int(s) for s in sizes if 0 < s < n_units} | {int(n_units)})


def sweep_points(pool_sizes: Mapping[str, int], sizes: Sequence[int] = DEFAULT_SIZES, draws: int = 5) -> list[SweepPoint]:
    """Every ``(pool, size, draw)``; a whole pool has one draw (every draw would be the same units)."""
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    return [SweepPoint(pool, size, draw) for pool, n in pool_sizes.items() for size in size_grid(n, sizes)
            for draw in range(1 if size >= n else draws)]


def draw_columns(point: SweepPoint, columns: np.ndarray, seed: int = 0) -> np.ndarray:
    """The point's units: ``size`` of the pool's ``columns`` without replacement, seeded by (seed, pool, size, draw)."""
    columns = np.sort(np.asarray(columns, dtype=np.int64))
    if point.size > len(columns):
        raise ValueError(f"{point.pool} has {len(columns)} units; cannot draw {point.size}")
    if point.size == len(columns):
        return columns
    rng = np.random.default_rng([seed, zlib.crc32(point.pool.encode()), point.size, point.draw])
    return np.sort(rng.choice(columns, point.size, replace=False))


def patch_cosines(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per item, the mean over patches of the cosine between predicted and target patch vectors."""
    num = np.einsum("...d,...d->...", predicted, target)
    den = np.linalg.norm(predicted, axis=-1) * np.linalg.norm(target, axis=-1)
    cos = num / np.maximum(den, 1e-12)
    return cos.reshape(len(cos), -1).mean(1)


def query(decoder, windows, columns: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(frame_ids, grids)``: the decoder's per-frame outputs with only ``columns`` as input (None: all)."""
    mask = None
    if columns is not None:
        mask = np.zeros(windows.counts.shape[1], np.float32)
        mask[np.asarray(columns, dtype=np.int64)] = 1
    return decoder.predict(windows, neuron_mask=mask, by_frame=True)


def score_grids(frame_ids: np.ndarray, grids: np.ndarray, *, backend, sbert_model, references: Mapping[int, str],
                caption_pool: Sequence[str], targets, candidates: np.ndarray, seed: int = 0,
                batch_size: int = 32) -> pd.DataFrame:
    """Narrate ``grids`` and score each frame: SBERT against its reference and the controls of chapter 04,
    patch cosine against its true grid, and the rank of the true frame among ``candidates`` (pooled grids)."""
    frame_ids = np.asarray(frame_ids, dtype=np.int64)
    sentences = backend.narrate(grids, batch_size=batch_size)
    refs = [references[int(f)] for f in frame_ids]
    scores = scoring.score_narrations(sbert_model, sentences, refs, caption_pool=caption_pool, seed=seed)
    table = pd.DataFrame({"frame": frame_ids, "narration": sentences, "reference": refs})
    table = pd.concat([table, scores], axis=1)
    table["patch_cosine"] = patch_cosines(grids, targets.rows(frame_ids))
    table["rank"] = metrics.ranks_among(grids.mean(1), candidates, frame_ids)
    return table


def scoring_inputs(*, backend, sbert_model, references: Mapping[int, str], targets, batch_size: int = 32) -> dict:
    """:func:`score_grids`' inputs for one stimulus: its references (also the random-caption pool), its
    target grids and their pooled means (the retrieval candidates)."""
    from neurrator.models.objectives import pooled_targets

    return dict(backend=backend, sbert_model=sbert_model, references=references, caption_pool=list(references.values()),
                targets=targets, candidates=pooled_targets(targets, np.arange(targets.shape[0])), batch_size=batch_size)


def point_key(*, decoder_path, windows, captions_path, targets_path, narrator: str, sbert: str) -> dict:
    """:func:`run_point`'s ``key``: hashes of the decoder file, the test windows' centres, the captions file and
    the target store (its sidecar's SHA-256), and the names of the narrator and the SBERT model."""
    return {"decoder": sha256_file(decoder_path)[:16], "windows": digest(windows.centres),
            "references": sha256_file(captions_path)[:16], "targets": read_sidecar(targets_path)["sha256"][:16],
            "narrator": narrator, "sbert": sbert}


#: numeric columns of a point's table (a NaN there is written as "" and must read back as NaN)
NUMERIC_COLUMNS = ("size", "draw", "frame", *scoring.SCORE_COLUMNS, "patch_cosine", "rank")


def point_params(point: SweepPoint, columns: np.ndarray, key: Mapping[str, Any], seed: int = 0) -> dict:
    """The sidecar parameters of a point: the ``key`` of its inputs, the point, the seed and its units' hash."""
    return {**key, "pool": point.pool, "size": point.size, "draw": point.draw, "seed": seed,
            "units": digest(np.asarray(columns, dtype=np.int64))}


def is_done(path: str | Path, params: Mapping[str, Any], made_by: str = MADE_BY) -> bool:
    """Whether ``path`` holds a finished point made with exactly ``params`` (it would be read back)."""
    try:
        check_artifact(path, made_by=made_by, params=params)
        return True
    except ArtifactError:
        return False


def _read_point(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values={c: ["", "nan", "NaN"] for c in NUMERIC_COLUMNS})


def run_point(point: SweepPoint, columns: np.ndarray, *, decoder, windows, path: str | Path, key: Mapping[str, Any],
              seed: int = 0, made_by: str = MADE_BY, **scoring_inputs) -> pd.DataFrame:
    """One sweep point: query ``decoder`` with the drawn ``columns`` on ``windows``, narrate and score
    (:func:`score_grids`), and save the per-frame table at ``path``. ``key`` names everything else the
    result depends on (the decoder file's hash, the windows, the references, the narrator, the SBERT
    model); with the point and its units' hash it is the sidecar's parameters (:func:`point_params`),
    so an unchanged point is read back. ``made_by``: the notebook named in the sidecar (and in the error
    when the file is missing)."""
    params = point_params(point, columns, key, seed)
    if is_done(path, params, made_by):
        return _read_point(path)
    frame_ids, grids = query(decoder, windows, columns)
    table = score_grids(frame_ids, grids, seed=seed, **scoring_inputs)
    table.insert(0, "draw", point.draw)
    table.insert(0, "size", point.size)
    table.insert(0, "pool", point.pool)
    write_artifact(path, lambda tmp: table.to_csv(tmp, index=False), made_by=made_by, params=params)
    return _read_point(path)   # the same values whether computed now or read back


def _run_task(task: tuple, **inputs) -> pd.DataFrame:
    point, columns, path = task
    return run_point(point, columns, path=path, **inputs)


def run_sweep(tasks: Sequence[tuple[SweepPoint, np.ndarray, str | Path]], *, client=None,
              narrator_factories: Mapping[str, Any] | None = None, desc: str = "sweep", **inputs) -> list[pd.DataFrame]:
    """:func:`run_point` for every ``(point, columns, path)`` task, in order, with the same ``inputs``
    (``decoder``, ``windows``, ``key``, ``seed`` and :func:`score_grids`' inputs).

    ``client`` None runs them here, one after the other (the book's default). With a
    ``distributed.Client`` (:func:`neurrator.book.scheduler.client_for`) each point is a task; the
    inputs are sent to each worker once, and ``backend`` and ``sbert_model`` are not shipped but
    built on each worker, once, by ``narrator_factories`` (name -> picklable factory, e.g.
    ``functools.partial(vlm.load_backend, "paper", model_id=...)``).
    """
    from neurrator.book.scheduler import map_grid

    per_worker = {}
    if client is not None:
        missing = {"backend", "sbert_model"} - set(narrator_factories or {})
        if missing:
            raise ValueError(f"on a cluster the narrator is built on each worker: give narrator_factories for {sorted(missing)}")
        per_worker = dict(narrator_factories)
        inputs = {k: v for k, v in inputs.items() if k not in per_worker}
    return map_grid(_run_task, list(tasks), client=client, shared=inputs, per_worker=per_worker, desc=desc)


# ----------------------------------------------------------------------------- analysis
def _log_interpolate(x0: float, x1: float, y0: float, y1: float) -> float:
    """Where the line through ``(log10 x0, y0)`` and ``(log10 x1, y1)`` reaches 0, back on the linear axis."""
    lx0, lx1 = np.log10(x0), np.log10(x1)
    return float(10 ** (lx0 + (0 - y0) / (y1 - y0) * (lx1 - lx0)))


def gap_curve(part: pd.DataFrame, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per size of one pool: the mean gap (matched − random caption) and its bootstrap interval, resampling
    draws within each size and frames (the same resample at every size, so sizes stay paired)."""
    rng = np.random.default_rng(seed)
    gap = part["matched"].to_numpy(np.float64) - part["random_caption"].to_numpy(np.float64)
    part = part.assign(gap=gap)
    frames = np.sort(part["frame"].unique())
    sizes = np.sort(part["size"].unique())
    cubes = [part[part["size"] == s].pivot(index="draw", columns="frame", values="gap")[frames].to_numpy() for s in sizes]
    boot = np.empty((n_boot, len(sizes)))
    for b in range(n_boot):
        f = rng.integers(len(frames), size=len(frames))
        boot[b] = [c[rng.integers(len(c), size=len(c))][:, f].mean() for c in cubes]
    tail = (1 - confidence) / 2
    return pd.DataFrame({"size": sizes, "gap": [c.mean() for c in cubes], "low": np.quantile(boot, tail, axis=0),
                         "high": np.quantile(boot, 1 - tail, axis=0), "draws": [len(c) for c in cubes]})


def floor_crossing(points: pd.DataFrame, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per pool: the population size from which matched SBERT stays reliably above the random-caption floor.

    ``points`` holds one row per (pool, size, draw, frame) with ``matched`` and ``random_caption`` (the
    same narrations scored against a random caption). A size is *above the floor* when the lower end of
    the bootstrap interval of its mean gap (:func:`gap_curve`) is above 0; the pool crosses at the
    smallest size from which every larger size is above too. ``below`` and ``above`` bracket the crossing
    on the grid, and ``crossing`` interpolates, on the log axis, where the interval's lower end reaches 0
    between them. A pool above the floor from its smallest size has ``from_start`` (crossing = that size);
    one that never stays above has ``crosses`` False and nan.
    """
    rows = []
    for pool, part in points.groupby("pool", sort=False):
        curve = gap_curve(part, n_boot, confidence, seed)
        curve.loc[curve["low"].isna(), "low"] = -np.inf           # a size that cannot be judged is not above
        above = (curve["low"] > 0).to_numpy()
        stays = np.flatnonzero([above[i:].all() for i in range(len(above))])
        row = {"pool": pool, "units": int(curve["size"].max()), "crosses": bool(len(stays)), "from_start": False,
               "below": np.nan, "above": np.nan, "crossing": np.nan}
        if len(stays):
            i = stays[0]
            size = curve["size"].to_numpy()
            if i == 0:
                row.update(from_start=True, above=float(size[0]), crossing=float(size[0]))
            else:
                low = curve["low"].to_numpy()
                row.update(below=float(size[i - 1]), above=float(size[i]),
                           crossing=_log_interpolate(size[i - 1], size[i], float(np.fmin(low[i - 1], 0.0)), low[i]))
        last = curve.iloc[-1]
        row.update({"gap at largest": float(last["gap"]), "gap CI low": float(last["low"]), "gap CI high": float(last["high"])})
        rows.append(row)
    columns = ["pool", "units", "crosses", "from_start", "below", "above", "crossing", "gap at largest", "gap CI low",
               "gap CI high"]
    return pd.DataFrame(rows, columns=columns).set_index("pool")


def pairwise_similarity(narrations: Mapping[str, pd.DataFrame], sbert_model, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean SBERT cosine between the sentences two populations give for the same frame, and the same for
    shuffled frames (a derangement: the floor). ``narrations[name]`` has ``draw``, ``frame``, ``narration``;
    draw ``d`` of one population is paired with draw ``d`` of the other (draws present in both); on the
    diagonal, draw ``d`` with draw ``d + 1`` of the same pool (nan with a single draw)."""
    names = list(narrations)
    sentences = pd.concat(narrations.values())["narration"].tolist()
    unique = list(dict.fromkeys(sentences))
    emb = scoring.embed_unique(sbert_model, unique).astype(np.float64)
    index = {s: i for i, s in enumerate(unique)}
    rng = np.random.default_rng(seed)
    same, shuffled = pd.DataFrame(np.nan, names, names), pd.DataFrame(np.nan, names, names)
    for i, a in enumerate(names):
        for b in names[i:]:
            left = narrations[a].set_index(["draw", "frame"])["narration"]
            right = narrations[b]
            if a == b:   # a pool with itself: draw d against draw d + 1 (other units of the same pool)
                draws = np.sort(right["draw"].unique())
                if len(draws) < 2:
                    continue
                right = right.assign(draw=right["draw"].map(dict(zip(draws, np.roll(draws, 1)))))
            right = right.set_index(["draw", "frame"])["narration"]
            common = left.index.intersection(right.index)
            x = emb[[index[s] for s in left.loc[common]]]
            y = emb[[index[s] for s in right.loc[common]]]
            perm = scoring.derangement(len(common), rng)
            same.loc[a, b] = same.loc[b, a] = float((x * y).sum(1).mean())
            shuffled.loc[a, b] = shuffled.loc[b, a] = float((x * y[perm]).sum(1).mean())
    return same, shuffled
