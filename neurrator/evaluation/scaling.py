"""Narration fidelity against population size: one trained encoder queried with subsets of its neurons.

A point of the sweep is ``(pool, size, draw)``: ``size`` units drawn at random (seeded by the point)
from the pool's columns, every other input zeroed by the encoder's neuron mask. Each point is one
call of :func:`run_point`, which predicts, narrates and scores the held-out frames and writes one
per-frame table (``DataLayout.sweep_point``) with a sidecar; a finished point whose inputs and
settings are unchanged is read back instead of recomputed, so a sweep resumes where it stopped and
its points can be spread over workers.

:func:`floor_crossing` finds, per pool, the size from which matched SBERT stays above the
random-caption floor, with a bootstrap interval over draws and blocks of frames (:func:`gap_curve`);
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
from neurrator.evaluation import inference, metrics, scoring

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
    from neurrator.data.windows import neuron_mask

    return decoder.predict(windows, neuron_mask=neuron_mask(windows.counts.shape[1], columns), by_frame=True)


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
    from neurrator.rowfiles import pooled_targets

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
    ``distributed.Client`` (:func:`neurrator.scheduler.client_for`) each point is a task; the
    inputs are sent to each worker once, and ``backend`` and ``sbert_model`` are not shipped but
    built on each worker, once, by ``narrator_factories`` (name -> picklable factory, e.g.
    ``functools.partial(vlm.load_backend, "paper", model_id=...)``).
    """
    from neurrator.scheduler import map_grid

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


def _gap_bootstrap(part: pd.DataFrame, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, "inference.Blocks"]:
    """Sizes, mean gap per size, ``(n_boot, sizes)`` bootstrap means, draws per size and the frame blocks: draws
    are resampled within each size, blocks of consecutive frames (three autocorrelation lengths of the pool's
    per-frame gap) across all sizes at once (the same blocks at every size, so that sizes stay paired)."""
    rng = np.random.default_rng(seed)
    part = part.assign(gap=part["matched"].to_numpy(np.float64) - part["random_caption"].to_numpy(np.float64))
    frames = np.sort(part["frame"].unique())
    sizes = np.sort(part["size"].unique())
    cubes = [part[part["size"] == s].pivot(index="draw", columns="frame", values="gap")[frames].to_numpy() for s in sizes]
    per_frame = part.groupby("frame")["gap"].mean().reindex(frames).to_numpy()
    blocks = inference.frame_blocks(frames, per_frame)
    _, codes = np.unique(blocks.labels, return_inverse=True)
    members = [np.flatnonzero(codes == b) for b in range(codes.max() + 1)]
    boot = np.empty((n_boot, len(sizes)))
    for b in range(n_boot):
        f = np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))])
        boot[b] = [c[rng.integers(len(c), size=len(c))][:, f].mean() for c in cubes]
    return sizes, np.array([c.mean() for c in cubes]), boot, [len(c) for c in cubes], blocks


def gap_curve(part: pd.DataFrame, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per size of one pool: the mean gap (matched − random caption) and its bootstrap interval over draws and
    blocks of frames (:func:`_gap_bootstrap`); the block length and the number of blocks are in ``attrs``."""
    sizes, gaps, boot, draws, blocks = _gap_bootstrap(part, n_boot, seed)
    tail = (1 - confidence) / 2
    curve = pd.DataFrame({"size": sizes, "gap": gaps, "low": np.quantile(boot, tail, axis=0),
                          "high": np.quantile(boot, 1 - tail, axis=0), "draws": draws})
    curve.attrs.update(block_frames=blocks.length, blocks=blocks.n)
    return curve


def crossing_of(sizes: np.ndarray, gaps: np.ndarray) -> float:
    """Where a gap curve crosses 0 for good: the smallest size from which the gap is above 0 at every larger size,
    interpolated on the log axis between it and the size before; the smallest size if above from the start, inf
    if the curve never stays above."""
    above = np.asarray(gaps) > 0
    stays = np.flatnonzero(np.logical_and.accumulate(above[::-1])[::-1])
    if not len(stays):
        return float("inf")
    i = stays[0]
    if i == 0:
        return float(sizes[0])
    return _log_interpolate(sizes[i - 1], sizes[i], float(gaps[i - 1]), float(gaps[i]))


def floor_crossing(points: pd.DataFrame, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per pool: the population size from which matched SBERT stays above the random-caption floor, with a
    bootstrap interval over draws and blocks of frames.

    ``points`` holds one row per (pool, size, draw, frame) with ``matched`` and ``random_caption`` (the
    same narrations scored against a random caption). ``crossing`` is :func:`crossing_of` the mean gap curve;
    ``crossing CI low`` / ``high`` are the percentiles of the same crossing over bootstrap resamples of draws
    and frame blocks (:func:`gap_curve`), inf where too many resamples never stay above. A pool
    ``crosses`` when the mean curve crosses and the interval's upper end lies on the grid, i.e. it crosses
    in nearly every resample; ``from_start`` when it is above from the smallest size. ``below`` and
    ``above`` bracket the crossing on the grid. ``block (frames)`` and ``blocks (n_eff)`` say how the
    frames were resampled."""
    rows, tail = [], (1 - confidence) / 2
    for pool, part in points.groupby("pool", sort=False):
        sizes, gaps, boot, _, blocks = _gap_bootstrap(part, n_boot, seed)
        point = crossing_of(sizes, gaps)
        resampled = np.array([crossing_of(sizes, g) for g in boot])
        low, high = (float(np.quantile(resampled, q, method="inverted_cdf")) for q in (tail, 1 - tail))
        crosses = bool(np.isfinite(point) and np.isfinite(high))
        row = {"pool": pool, "units": int(sizes.max()), "crosses": crosses, "from_start": crosses and point == sizes[0],
               "below": np.nan, "above": np.nan, "crossing": point if crosses else np.nan,
               "crossing CI low": low, "crossing CI high": high}
        if crosses and not row["from_start"]:
            i = int(np.searchsorted(sizes, point))
            row.update(below=float(sizes[i - 1]), above=float(sizes[i]))
        elif row["from_start"]:
            row.update(above=float(sizes[0]))
        tail_boot = boot[:, -1]
        row.update({"gap at largest": float(gaps[-1]), "gap CI low": float(np.quantile(tail_boot, tail)),
                    "gap CI high": float(np.quantile(tail_boot, 1 - tail)), "block (frames)": blocks.length,
                    "blocks (n_eff)": blocks.n})
        rows.append(row)
    columns = ["pool", "units", "crosses", "from_start", "below", "above", "crossing", "crossing CI low",
               "crossing CI high", "gap at largest", "gap CI low", "gap CI high", "block (frames)", "blocks (n_eff)"]
    return pd.DataFrame(rows, columns=columns).set_index("pool")


def pairwise_similarity(narrations: Mapping[str, pd.DataFrame], sbert_model, seed: int = 0, intervals: bool = False,
                        confidence: float = 0.95, n_resamples: int = 2000):
    """Mean SBERT cosine between the sentences two populations give for the same frame, and the same for
    shuffled frames (a derangement: the floor). ``narrations[name]`` has ``draw``, ``frame``, ``narration``;
    draw ``d`` of one population is paired with draw ``d`` of the other (draws present in both); on the
    diagonal, draw ``d`` with draw ``d + 1`` of the same pool (nan with a single draw).

    Returns ``(same, shuffled)``, two symmetric name × name tables. With ``intervals``, also a third: one row
    per computed pair (``a``, ``b``, upper triangle and diagonal) with the same-frame mean, its ``confidence``
    percentile interval (``CI low``, ``CI high``) from a bootstrap over blocks of consecutive movie frames
    (:func:`~neurrator.evaluation.inference.frame_blocks`, measured on the pair's per-item similarity; the
    draws of a frame stay in its block), the block length ``block (frames)``, the number of blocks
    ``blocks (n_eff)`` and the number of ``frames``."""
    names = list(narrations)
    sentences = pd.concat(narrations.values())["narration"].tolist()
    unique = list(dict.fromkeys(sentences))
    emb = scoring.embed_unique(sbert_model, unique).astype(np.float64)
    index = {s: i for i, s in enumerate(unique)}
    rng = np.random.default_rng(seed)
    same, shuffled = pd.DataFrame(np.nan, names, names), pd.DataFrame(np.nan, names, names)
    rows = []
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
            similarity = (x * y).sum(1)
            same.loc[a, b] = same.loc[b, a] = float(similarity.mean())
            shuffled.loc[a, b] = shuffled.loc[b, a] = float((x * y[perm]).sum(1).mean())
            if intervals and len(common):
                frames = common.get_level_values("frame").to_numpy()
                blocks = inference.frame_blocks(frames, similarity)
                low, high = inference.block_bootstrap_ci(similarity, blocks, confidence=confidence,
                                                         n_resamples=n_resamples, seed=seed)
                rows.append({"a": a, "b": b, "same frames": same.loc[a, b], "CI low": low, "CI high": high,
                             "block (frames)": blocks.length, "blocks (n_eff)": blocks.n,
                             "frames": int(len(np.unique(frames)))})
    if not intervals:
        return same, shuffled
    columns = ["a", "b", "same frames", "CI low", "CI high", "block (frames)", "blocks (n_eff)", "frames"]
    return same, shuffled, pd.DataFrame(rows, columns=columns)
