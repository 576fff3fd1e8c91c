"""The linear ceiling: how much of the target grid a ridge regression reads out of a population's trial-averaged
response to each frame, cross-validated two ways. With folds of frames drawn at random, every test frame has its
neighbours in training (interpolation: near-duplicate frames give near-duplicate responses and targets); with
contiguous blocks of frames, the test content is new (extrapolation). The gap between the two says how much of a
decoder's held-out score is interpolation. The same code runs on simulated and on real sessions: the responses are
:func:`~neurrator.data.binning.frame_rates` of a binned stimulus.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.evaluation.scaling import patch_cosines

#: the two ways of cutting the frames into folds
SCHEMES = ("random folds", "contiguous blocks")
ALPHAS = tuple(np.logspace(-2, 5, 15))


def fold_labels(n_frames: int, scheme: str, n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """The fold of each frame: ``"random folds"`` (a seeded shuffle cut into ``n_folds``) or ``"contiguous blocks"``
    (``n_folds`` runs of consecutive frames)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {SCHEMES}")
    if not 2 <= n_folds <= n_frames:
        raise ValueError(f"n_folds must lie in [2, {n_frames}] for {n_frames} frames, got {n_folds}")
    blocks = np.arange(n_frames) * n_folds // n_frames
    if scheme == "contiguous blocks":
        return blocks
    return blocks[np.random.default_rng(seed).permutation(n_frames)]


def _checked(rates, grids, n: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    rates, grids = np.asarray(rates, np.float64), np.asarray(grids, np.float32)
    if not (len(rates) == len(grids) == n):
        raise ValueError(f"{len(rates)} rate rows, {len(grids)} grids and {n} frame labels must agree")
    if np.isnan(rates).any():
        raise ValueError("rates hold NaN (a frame never shown in the averaged repeats): leave it out")
    return rates, grids.reshape(len(grids), -1), grids.shape[1:]


def _evaluate(rates: Mapping[str, np.ndarray], flat: np.ndarray, shape: tuple, parts: Sequence[tuple[np.ndarray, np.ndarray]],
              alphas: Sequence[float]) -> dict[str, dict]:
    """Score each population of ``rates`` (name -> frames x units) on every (train, test) pair of ``parts``: ridge
    fitted on the train frames (inputs z-scored on them, grids regressed in the basis of the training grids, alpha
    chosen by efficient leave-one-out), tested on the test frames. The basis is computed once per pair and shared by
    the populations; the sums are accumulated, so no prediction is kept."""
    from sklearn.linear_model import RidgeCV

    from neurrator.models.baselines import FrameBasis

    sums = {name: {"sse": 0.0, "sst": 0.0, "cos": 0.0, "mean cos": 0.0, "n": 0} for name in rates}
    for train, test in parts:
        basis = FrameBasis().fit(flat[train])
        coords, truth = basis.transform(flat[train]), flat[test]
        mean_grid = np.broadcast_to(basis.mean_, truth.shape)
        sst = float(((truth - mean_grid) ** 2).sum(dtype=np.float64))
        mean_cos = float(patch_cosines(mean_grid.reshape(-1, *shape), truth.reshape(-1, *shape)).sum())
        for name, x in rates.items():
            mean, std = x[train].mean(0), x[train].std(0)
            std[std == 0] = 1.0
            model = RidgeCV(alphas=list(alphas)).fit((x[train] - mean) / std, coords)
            predicted = basis.inverse_transform(model.predict((x[test] - mean) / std))
            total = sums[name]
            total["sse"] += float(((truth - predicted) ** 2).sum(dtype=np.float64))
            total["sst"] += sst
            total["cos"] += float(patch_cosines(predicted.reshape(-1, *shape), truth.reshape(-1, *shape)).sum())
            total["mean cos"] += mean_cos
            total["n"] += int(len(truth))
    return {name: {"r2": 1.0 - t["sse"] / t["sst"], "patch cosine": t["cos"] / t["n"],
                   "mean-grid cosine": t["mean cos"] / t["n"], "test frames": t["n"], "units": int(rates[name].shape[1])}
            for name, t in sums.items()}


def _fold_parts(folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(folds != fold, folds == fold) for fold in np.unique(folds)]


def ceiling(rates: np.ndarray, grids: np.ndarray, folds: np.ndarray, alphas: Sequence[float] = ALPHAS) -> dict:
    """Ridge from ``rates`` (frames x units) to ``grids`` (frames x patches x dims), each frame predicted by the model
    fitted on the other folds (``folds``: the fold of each frame, :func:`fold_labels`). Returns ``r2`` (over every
    test value, against the training-mean grid), the mean ``patch cosine`` of the predictions with the true grids, and
    the same cosine for the training-mean grid (``mean-grid cosine``: what any decoder gets for free)."""
    folds = np.asarray(folds)
    rates, flat, shape = _checked(rates, grids, len(folds))
    return _evaluate({"": rates}, flat, shape, _fold_parts(folds), alphas)[""]


def split_ceiling(rates: np.ndarray, grids: np.ndarray, held_out: np.ndarray, alphas: Sequence[float] = ALPHAS) -> dict:
    """:func:`ceiling` for one split: fitted on the frames not ``held_out`` (a boolean mask), tested on those that are
    (as an encoder of that held-out regime is)."""
    held_out = _held_out(held_out, len(rates))
    rates, flat, shape = _checked(rates, grids, len(held_out))
    return _evaluate({"": rates}, flat, shape, [(~held_out, held_out)], alphas)[""]


def _held_out(mask, n: int) -> np.ndarray:
    mask = np.asarray(mask, bool)
    if mask.shape != (n,) or not mask.any() or mask.all():
        raise ValueError(f"a split must hold out some, not all, of the {n} frames")
    return mask


def ceiling_table(rates: np.ndarray, grids: np.ndarray, pools: Mapping[str, np.ndarray], *,
                  held_out: Mapping[str, np.ndarray] | None = None, n_folds: int = 10, seed: int = 0) -> pd.DataFrame:
    """:func:`ceiling` for each pool of units (``pools``: name -> columns of ``rates``) under each of :data:`SCHEMES`,
    and :func:`split_ceiling` under each split of ``held_out`` (name -> mask of held-out frames). Rounded to 3 places."""
    parts = {scheme: _fold_parts(fold_labels(len(rates), scheme, n_folds, seed)) for scheme in SCHEMES}
    parts.update({name: [(~m, m)] for name, m in ((n, _held_out(mask, len(rates))) for n, mask in (held_out or {}).items())})
    rates, flat, shape = _checked(rates, grids, len(rates))
    by_pool = {pool: rates[:, np.asarray(columns)] for pool, columns in pools.items()}
    scored = {split: _evaluate(by_pool, flat, shape, part, ALPHAS) for split, part in parts.items()}
    rows = [{"pool": pool, "split": split, **scored[split][pool]} for pool in pools for split in parts]
    return pd.DataFrame(rows).set_index(["pool", "split"]).round(3)


#: the region pools whose ceilings the book compares (their codes differ), and the whole session
POOLS = ("LGd", "VISp", "higher visual", "hippocampus", "all")


def session_ceiling(layout, session_id: int, stimulus: str = "natural_movie_one", pools: Sequence[str] = POOLS,
                    regimes: Sequence[str] = (), n_folds: int = 10, seed: int = 0) -> pd.DataFrame:
    """:func:`ceiling_table` of one processed session: every repeat's :func:`~neurrator.data.binning.frame_rates`
    (chapter 01's binning), the targets of chapter 02, the region pools of its units (pools without units are left
    out) and the held-out split of each of ``regimes`` (chapter 03's, for this session)."""
    from neurrator.data import allen, splits
    from neurrator.data.binning import BinnedStimulus, frame_rates
    from neurrator.evaluation.scaling import pool_columns
    from neurrator.vlm.targets import PatchTargetStore

    binned = BinnedStimulus.of_session(layout, session_id, stimulus)
    rates = frame_rates(binned)
    grids = PatchTargetStore(layout.targets).open(stimulus).rows(np.arange(len(rates)))
    regions = allen.read_recording(layout.recording(session_id)).units["region"]
    units = pd.DataFrame({"region": regions.reindex(binned.unit_ids).to_numpy(), "column": np.arange(len(binned.unit_ids))})
    columns = {pool: pool_columns(units, pool) for pool in pools}
    held_out = {regime: splits.read_split(layout.split(session_id, stimulus, regime), made_by="03_train").held_out
                for regime in regimes}
    return ceiling_table(rates, grids, {p: c for p, c in columns.items() if len(c)}, held_out=held_out,
                         n_folds=n_folds, seed=seed)


def ceiling_texts(table: pd.DataFrame, pool: str = "all") -> dict[str, str]:
    """Words for the book about ``pool``'s row of :func:`ceiling_table`: R² and patch cosine between training frames
    (random folds) and in new blocks, with the training-mean grid's cosine."""
    row = table.loc[pool]

    def two(x: float) -> str:   # rounded as the book's tables round (numpy, half to even), so text and table agree
        return f"{np.round(x, 2):.2f}"

    def words(split: str) -> str:
        return f"R² {two(row.loc[split, 'r2'])} (patch cosine {two(row.loc[split, 'patch cosine'])})"

    return {"ceiling_random": words("random folds"), "ceiling_blocks": words("contiguous blocks"),
            "ceiling_mean_grid": two(row.loc["contiguous blocks", "mean-grid cosine"]),
            "ceiling_units": str(int(row["units"].iloc[0]))}


def ceiling_record(table: pd.DataFrame) -> dict:
    """:func:`ceiling_table` as a headline record (:func:`~neurrator.evaluation.results.record`): R² and cosines may
    move with another processor's rounding in the grid basis; frames and units are fixed by the data."""
    from neurrator.evaluation import results

    return results.table_record(table, {"r2": results.COSINE, "patch cosine": results.COSINE,
                                        "mean-grid cosine": results.COSINE, "test frames": results.EXACT,
                                        "units": results.EXACT})


def ceiling_wide(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`ceiling_table` with one row per pool and a column per measure and split ("R² random folds", "patch
    cosine random folds", ...), R² first, then the units."""
    measures = {"r2": "R²", "patch cosine": "patch cosine", "mean-grid cosine": "mean-grid cosine"}
    splits = list(pd.unique(table.index.get_level_values("split")))
    pools = list(pd.unique(table.index.get_level_values("pool")))
    wide = pd.DataFrame({f"{words} {split.replace('_', ' ')}": table[measure].xs(split, level="split")
                         for measure, words in measures.items() for split in splits})
    wide["units"] = table["units"].groupby(level="pool").first()
    return wide.loc[pools].rename_axis("pool")
