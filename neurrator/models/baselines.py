"""The field's baselines beside the Neurrator encoder (chapter 08), behind one small estimator interface.

Every baseline is fitted on the same :class:`~neurrator.data.windows.SpikeWindows` as the encoder it is
compared with (same split, frames, repeats and z-scoring: the training windows of the persisted split)
and predicts **patch grids** of the target space, so one narrator, one set of metrics and one table
serve them all:

- :class:`RidgePatches`: ridge regression (scikit-learn) from each window's time-average to its frame's
  target grid, in the basis of the training frames' grids (sklearn PCA with every component: lossless
  for the training targets, and far fewer outputs than the grid's 49 x 1280; :class:`FrameBasis`); the penalty is chosen by
  frame-grouped cross-validation on the training windows only.
- :class:`PCAKNN`: PCA of the time-averaged windows, then the ``k`` nearest training windows.
- :class:`CebraKNN`: a CEBRA embedding (the ``cebra`` package) of the time-averaged windows, trained with
  the frame's target (its pooled grid, in a few principal components) as the continuous auxiliary
  variable, then the ``k`` nearest training windows in that embedding.

The KNN baselines decode a window to the training frames of its neighbours: :meth:`predict_frames` gives
the majority frame (frame identification, Table A3) and :meth:`predict` the mean of the neighbours' target
grids (a KNN regression to patches), which is what the narrator reads.

Why the time-average: a window is 20 bins x N units; flattened it has 20 N features (4,400 for a demo
session) for about ten thousand training windows, and the time-averaged rates carry what a linear read-out
or a nearest-neighbour search can use (chapter 04 section 5 reads out rates the same way). CEBRA's offset
models read neighbouring *rows* as consecutive time; our rows are windows from different repeats and
frames, so CEBRA gets one row per window and the ``offset1-model`` (receptive field one row).

The MLP baseline ("MLP-Patches") is a training objective of :class:`~neurrator.models.training.SpikeDecoder`
(``"mlp_patches"``), so it trains with exactly the encoder's loss, schedule and augmentation.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurrator.data.windows import SpikeWindows
from neurrator.models.objectives import TargetRows


def window_rates(windows: SpikeWindows, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Each window's z-scored counts averaged over its bins, ``(len(windows), neurons)`` float32, and its frame."""
    rates, frames = [], []
    for start in range(0, len(windows), chunk):
        x, f = windows.batch(np.arange(start, min(start + chunk, len(windows))))
        rates.append(x.mean(1).numpy())
        frames.append(f)
    n = windows.counts.shape[1]
    return (np.concatenate(rates) if rates else np.zeros((0, n), np.float32),
            np.concatenate(frames) if frames else np.zeros(0, np.int64))


def _plain(windows: SpikeWindows) -> SpikeWindows:
    """The same windows without augmentation: a baseline is fitted on each training window once."""
    return SpikeWindows(windows.counts, windows.frames, windows.centres, windows.mean, windows.std, windows.window)


def frame_means(values: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``values`` averaged per frame: ``(unique frames, mean rows)``."""
    ids, inverse = np.unique(frames, return_inverse=True)
    sums = np.zeros((len(ids), *values.shape[1:]), np.float64)
    np.add.at(sums, inverse, values)
    return ids, (sums / np.bincount(inverse)[:, None]).astype(np.float32)


class Baseline:
    """``fit(train, targets)``, ``predict(windows) -> (frame ids, grids)`` (averaged over each frame's
    windows, as the encoder's ``predict_by_frame``), ``n_params_`` and ``fit_seconds_``."""

    name = "baseline"

    def fit(self, train: SpikeWindows, targets: TargetRows) -> "Baseline":
        started = time.perf_counter()
        x, frames = window_rates(_plain(train))
        if len(x) == 0:
            raise ValueError(f"{self.name}: no training windows")
        self.out_shape_ = tuple(targets.shape[1:])
        self._fit(x, frames, targets)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _fit(self, x: np.ndarray, frames: np.ndarray, targets: TargetRows) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "fit_seconds_"):
            raise RuntimeError(f"{self.name} is not fitted: call fit(train_windows, targets) first")

    def predict(self, windows: SpikeWindows) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def predict_pooled(self, windows: SpikeWindows) -> tuple[np.ndarray, np.ndarray]:
        """``(frame ids, patch-averaged predicted grids)``: what retrieval ranks (``metrics.patch_means`` of
        :meth:`predict`, which a baseline may compute without the full grids)."""
        from neurrator.rowfiles import patch_means

        ids, grids = self.predict(windows)
        return ids, patch_means(grids)

    def params(self) -> dict[str, Any]:
        return {}


class FrameBasis:
    """An orthonormal basis of a few hundred flattened grids (rows), from their Gram matrix.

    The same components as an exact PCA with every component (``sklearn.decomposition.PCA(svd_solver="full")``,
    tested), but for n grids of dimension d >> n it costs one n x n Gram product and its eigendecomposition
    instead of an SVD of the n x d matrix: ~10x faster on the demo's 810 x 62,720 training grids
    (``benchmarks/baselines.py``). Directions with eigenvalue below ``rtol`` x the largest are dropped
    (repeated frames make the grids rank-deficient)."""

    def __init__(self, rtol: float = 1e-6):
        self.rtol = rtol

    def fit(self, grids: np.ndarray) -> "FrameBasis":
        grids = np.asarray(grids, np.float32)
        self.mean_ = grids.mean(0)
        centred = grids - self.mean_
        values, vectors = np.linalg.eigh((centred @ centred.T).astype(np.float64))
        keep = values > self.rtol * values.max() if values.max() > 0 else np.zeros(len(values), bool)
        values, vectors = values[keep][::-1], vectors[:, keep][:, ::-1]
        self.components_ = ((vectors / np.sqrt(values)).T.astype(np.float32) @ centred)   # (k, d), orthonormal rows
        self.n_components_ = len(values)
        return self

    def transform(self, grids: np.ndarray) -> np.ndarray:
        return (np.asarray(grids, np.float32) - self.mean_) @ self.components_.T

    def inverse_transform(self, coords: np.ndarray) -> np.ndarray:
        return np.asarray(coords, np.float32) @ self.components_ + self.mean_


class RidgePatches(Baseline):
    """Ridge from the time-averaged window to the frame's grid (see the module docstring)."""

    name = "Ridge"

    def __init__(self, alphas: np.ndarray | list[float] = tuple(np.logspace(0, 5, 6)), folds: int = 5, seed: int = 0):
        self.alphas, self.folds, self.seed = [float(a) for a in alphas], folds, seed

    def _fit(self, x, frames, targets):
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV, GroupKFold

        train_frames = np.unique(frames)
        grids = targets.rows(train_frames).reshape(len(train_frames), -1).astype(np.float32)
        self.basis_ = FrameBasis().fit(grids)                        # every component: the training grids exactly
        coords = self.basis_.transform(grids)[np.searchsorted(train_frames, frames)]
        folds = min(self.folds, len(train_frames))
        search = GridSearchCV(Ridge(), {"alpha": self.alphas}, cv=GroupKFold(folds), scoring="neg_mean_squared_error")
        search.fit(x, coords, groups=frames)                        # held-out folds are frames never trained on
        self.alpha_, self.model_ = float(search.best_params_["alpha"]), search.best_estimator_
        self.cv_ = {float(a): -float(s) for a, s in zip(search.cv_results_["param_alpha"], search.cv_results_["mean_test_score"])}
        self.n_params_ = int(self.model_.coef_.size + self.model_.intercept_.size)

    def predict(self, windows):
        self._check_fitted()
        x, frames = window_rates(windows)
        ids, x = frame_means(x, frames)                            # linear: averaging inputs = averaging outputs
        grids = self.basis_.inverse_transform(self.model_.predict(x)).astype(np.float32)
        return ids, grids.reshape(len(ids), *self.out_shape_)

    def params(self):
        return {"alpha": self.alpha_, "components": int(self.basis_.n_components_)}


class _KNNBaseline(Baseline):
    """An embedding of the time-averaged windows, then the ``k`` nearest training windows (cosine)."""

    def __init__(self, k: int = 10):
        self.k = k

    def _embed_fit(self, x, frames, targets) -> np.ndarray:
        raise NotImplementedError

    def embed(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, x, frames, targets):
        from sklearn.neighbors import NearestNeighbors

        self.train_frames_ = np.unique(frames)
        z = self._embed_fit(x, frames, targets)
        self.neighbours_ = NearestNeighbors(n_neighbors=min(self.k, len(z)), metric="cosine").fit(z)
        self.window_frames_ = frames
        self._targets = targets

    def neighbour_frames(self, windows: SpikeWindows) -> tuple[np.ndarray, np.ndarray]:
        """Each window's true frame and the training frames of its ``k`` nearest training windows."""
        self._check_fitted()
        x, frames = window_rates(windows)
        _, index = self.neighbours_.kneighbors(self.embed(x))
        return frames, self.window_frames_[index]                # (windows,), (windows, k) training frames

    def predict_frames(self, windows: SpikeWindows) -> tuple[np.ndarray, np.ndarray]:
        """Each window's true frame and its decoded training frame (the neighbours' majority; ties: the nearest)."""
        frames, voted = self.neighbour_frames(windows)
        decoded = np.empty(len(frames), np.int64)
        for i, row in enumerate(voted):
            values, counts = np.unique(row, return_counts=True)
            best = values[counts == counts.max()]
            decoded[i] = next(f for f in row if f in best)
        return frames, decoded

    def _neighbour_weights(self, windows: SpikeWindows) -> tuple[np.ndarray, np.ndarray]:
        """Each test frame's weight on each training frame: the share of its windows' neighbours that are that frame."""
        frames, voted = self.neighbour_frames(windows)
        ids, inverse = np.unique(frames, return_inverse=True)
        weights = np.zeros((len(ids), len(self.train_frames_)), np.float64)
        np.add.at(weights, (np.repeat(inverse, voted.shape[1]), np.searchsorted(self.train_frames_, voted.ravel())), 1.0)
        return ids, weights / weights.sum(1, keepdims=True)

    def predict_pooled(self, windows):
        """The neighbours' mean pooled target (a mean of grids, pooled, is the mean of the pooled grids)."""
        from neurrator.models.objectives import pooled_targets

        if not hasattr(self, "pooled_train_"):
            self.pooled_train_ = pooled_targets(self._targets, self.train_frames_).astype(np.float64)
        ids, weights = self._neighbour_weights(windows)
        return ids, (weights @ self.pooled_train_).astype(np.float32)

    def predict(self, windows):
        """Each frame's grid: the mean of its windows' neighbours' target grids (KNN regression to patches)."""
        ids, weights = self._neighbour_weights(windows)
        grids = np.zeros((len(ids), int(np.prod(self.out_shape_))), np.float64)
        for start in range(0, len(self.train_frames_), 128):           # the training grids, a block at a time
            block = self.train_frames_[start:start + 128]
            grids += weights[:, start:start + 128] @ self._targets.rows(block).reshape(len(block), -1)
        return ids, grids.astype(np.float32).reshape(len(ids), *self.out_shape_)


class PCAKNN(_KNNBaseline):
    """PCA of the time-averaged windows (``n_components``), then KNN."""

    name = "PCA + KNN"

    def __init__(self, n_components: int = 64, k: int = 10, seed: int = 0):
        super().__init__(k)
        self.n_components, self.seed = n_components, seed

    def _embed_fit(self, x, frames, targets):
        from sklearn.decomposition import PCA

        self.pca_ = PCA(n_components=min(self.n_components, *x.shape), random_state=self.seed).fit(x)
        self.n_params_ = int(self.pca_.components_.size + self.pca_.mean_.size)
        return self.pca_.transform(x)

    def embed(self, x):
        return self.pca_.transform(x)

    def params(self):
        return {"components": int(self.pca_.n_components_), "k": self.k}


@contextmanager
def _seeded_cebra_samplers(seed: int):
    """CEBRA 0.6 seeds each batch sampler from the operating system (``HasGenerator`` calls
    ``torch.Generator.seed()``), so two fits differ; within this block the samplers are seeded from ``seed``
    instead (in creation order), and the class is restored afterwards."""
    from cebra.distributions import base

    original, made = base.HasGenerator.__init__, []

    def seeded(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._seed = seed + len(made)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(self._seed)
        made.append(self)

    base.HasGenerator.__init__ = seeded
    try:
        yield
    finally:
        base.HasGenerator.__init__ = original


class CebraKNN(_KNNBaseline):
    """CEBRA (``cebra.CEBRA``, offset1-model) with the frame's target as continuous auxiliary variable, then KNN.

    ``label_components``: the pooled target grid of each window's frame, in this many principal components of
    the training frames (scaled to unit SD on the first), is CEBRA's auxiliary variable; ``conditional="delta_normal"``
    pairs each window with one whose label lies near its own plus Gaussian noise of SD ``delta``: windows of
    similar-looking frames, whatever their order in time."""

    name = "CEBRA + KNN"

    def __init__(self, output_dimension: int = 32, max_iterations: int = 500, batch_size: int = 512,
                 hidden_units: int = 128, learning_rate: float = 3e-3, label_components: int = 16, delta: float = 0.1,
                 k: int = 10, seed: int = 0, device: str = "cpu"):
        super().__init__(k)
        self.output_dimension, self.max_iterations, self.batch_size = output_dimension, max_iterations, batch_size
        self.hidden_units, self.learning_rate, self.label_components = hidden_units, learning_rate, label_components
        self.delta = delta
        self.seed, self.device = seed, device

    def _embed_fit(self, x, frames, targets):
        import cebra
        from sklearn.decomposition import PCA

        from neurrator.models.objectives import pooled_targets

        pooled = pooled_targets(targets, self.train_frames_)
        labels = PCA(n_components=min(self.label_components, *pooled.shape), random_state=self.seed).fit_transform(pooled)
        labels = (labels / labels[:, :1].std()).astype(np.float32)[np.searchsorted(self.train_frames_, frames)]
        self.model_ = cebra.CEBRA(model_architecture="offset1-model", output_dimension=self.output_dimension,
                                  max_iterations=self.max_iterations, batch_size=min(self.batch_size, len(x)),
                                  num_hidden_units=self.hidden_units, learning_rate=self.learning_rate,
                                  conditional="delta_normal", delta=self.delta, distance="cosine", temperature=1.0,
                                  device=self.device, verbose=False)
        with torch.random.fork_rng(devices=[]), _seeded_cebra_samplers(self.seed):
            torch.manual_seed(self.seed)                          # the network's initial weights
            state = np.random.get_state()
            np.random.seed(self.seed)
            try:
                self.model_.fit(x, labels)
            finally:
                np.random.set_state(state)
        self.n_params_ = int(sum(p.numel() for p in self.model_.solver_.model.parameters()))
        return self.embed(x)

    def embed(self, x):
        with torch.random.fork_rng(devices=[]):
            return self.model_.transform(x)

    def params(self):
        return {"output dimension": self.output_dimension, "iterations": self.max_iterations, "k": self.k}


@dataclass(frozen=True)
class BaselineRecipe:
    """Chapter 08's settings of the fitted baselines: Ridge's penalties, PCA's components, the KNN decoders' ``k``,
    CEBRA's embedding dimensions (the largest for the narrated comparison, each for frame identification),
    iterations and batch size, the seed and CEBRA's device."""

    ridge_alphas: tuple = tuple(np.logspace(0, 5, 6))
    pca_components: int = 64
    knn_k: int = 10
    cebra_dimensions: tuple = (8, 32)
    cebra_iterations: int = 300
    cebra_batch_size: int = 256
    seed: int = 0
    device: str = "cpu"

    @classmethod
    def from_preset(cls, cebra: dict, **settings: Any) -> "BaselineRecipe":
        """A recipe from a profile's CEBRA preset (``dimensions``, ``iterations``, ``batch_size``) and the rest."""
        return cls(cebra_dimensions=tuple(cebra["dimensions"]), cebra_iterations=int(cebra["iterations"]),
                   cebra_batch_size=int(cebra["batch_size"]), **settings)

    def ridge(self) -> RidgePatches:
        return RidgePatches(alphas=list(self.ridge_alphas), seed=self.seed)

    def pca_knn(self) -> PCAKNN:
        return PCAKNN(n_components=self.pca_components, k=self.knn_k, seed=self.seed)

    def cebra_knn(self, dimension: int | None = None) -> CebraKNN:
        """CEBRA + KNN with ``dimension`` output dimensions (default: the largest of the recipe's)."""
        return CebraKNN(output_dimension=dimension or max(self.cebra_dimensions), max_iterations=self.cebra_iterations,
                        batch_size=self.cebra_batch_size, k=self.knn_k, seed=self.seed, device=self.device)

    def frame_id_models(self) -> dict[str, Baseline]:
        """Table A3's estimators, unfitted: Ridge, PCA + KNN and CEBRA + KNN at each dimension."""
        return {"Ridge": self.ridge(), "PCA + KNN": self.pca_knn(),
                **{f"CEBRA-{d} + KNN": self.cebra_knn(d) for d in self.cebra_dimensions}}
