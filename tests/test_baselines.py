"""Chapter 08's baselines (``neurrator.models.baselines``, the ``mlp_patches`` objective) and exclusion-zone ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurrator.data.windows import SpikeWindows
from neurrator.evaluation import metrics
from neurrator.models import baselines
from neurrator.models.training import ArrayTargets, EncoderConfig, SpikeDecoder, TrainConfig

N_FRAMES, REPEATS, BINS_PER_FRAME, UNITS = 24, 6, 4, 16


def _world(seed: int = 0):
    """Counts whose rates are a fixed smooth random function of the frame; targets a linear map of them
    (so a linear read-out of the time-averaged window can recover them). Windows of repeats 0-3 train,
    of repeat 5 test (every frame is seen in training)."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    # smooth in time, as a movie's responses are: a window spans about five frames
    drive = gaussian_filter1d(rng.normal(size=(N_FRAMES, UNITS)), sigma=2.0, axis=0, mode="wrap")
    rates = 3.0 * np.exp(drive / drive.std())
    frame = np.tile(np.repeat(np.arange(N_FRAMES), BINS_PER_FRAME), REPEATS)
    repeat = np.repeat(np.arange(REPEATS), N_FRAMES * BINS_PER_FRAME)
    counts = rng.poisson(rates[frame]).astype(np.uint8)
    mapping = rng.normal(size=(UNITS, 3 * 8))
    grids = ((rates - rates.mean(0)) @ mapping).reshape(N_FRAMES, 3, 8).astype(np.float32)
    mean, std = counts.mean(0).astype(np.float32), counts.std(0).astype(np.float32) + 1e-3
    edge = (np.arange(len(frame)) % (N_FRAMES * BINS_PER_FRAME) >= 10) & \
           (np.arange(len(frame)) % (N_FRAMES * BINS_PER_FRAME) < N_FRAMES * BINS_PER_FRAME - 10)
    centres = lambda keep: np.flatnonzero(keep & edge)
    train = SpikeWindows(counts, frame, centres(repeat < 4), mean, std)
    val = SpikeWindows(counts, frame, centres(repeat == 4), mean, std)
    test = SpikeWindows(counts, frame, centres(repeat == 5), mean, std)
    return train, val, test, ArrayTargets(grids)


@pytest.fixture(scope="module")
def world():
    return _world()


def test_window_rates_are_the_time_average_of_the_z_scored_window(world):
    train = world[0]
    rates, frames = baselines.window_rates(train, chunk=7)
    x, f = train.batch(np.arange(len(train)))
    np.testing.assert_allclose(rates, x.mean(1).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(frames, f)


def test_ridge_recovers_a_linear_map_of_the_rates(world):
    train, _, test, targets = world
    ridge = baselines.RidgePatches(alphas=[0.1, 10, 1e6]).fit(train, targets)
    ids, grids = ridge.predict(test)
    assert grids.shape == (len(ids), 3, 8)
    assert ridge.alpha_ < 1e6                                       # CV did not pick the penalty that flattens it
    truth = targets.rows(ids)
    assert metrics.mean_patch_cosine(grids, truth) > 0.8
    assert metrics.mean_patch_cosine(grids, truth[np.roll(np.arange(len(ids)), 5)]) < 0.3
    assert ridge.n_params_ == (UNITS + 1) * ridge.params()["components"]


def test_pca_knn_identifies_frames_of_a_held_out_repeat(world):
    train, _, test, targets = world
    knn = baselines.PCAKNN(n_components=8, k=5).fit(train, targets)
    true, decoded = knn.predict_frames(test)
    assert np.mean(true == decoded) > 0.6                           # chance 1/24
    ids, grids = knn.predict(test)                                  # KNN regression: a mean of training grids
    frame_means = knn.window_frames_
    assert set(np.unique(frame_means)) <= set(range(N_FRAMES))
    ranks = metrics.ranks_among(metrics.patch_means(grids), metrics.patch_means(targets.rows(np.arange(N_FRAMES))), ids)
    assert np.median(ranks) <= 2


def test_knn_grid_is_the_target_when_every_neighbour_is_that_frame():
    train, _, _, targets = _world()
    knn = baselines.PCAKNN(n_components=4, k=3).fit(train, targets)
    one = np.flatnonzero(train.frames[train.centres] == 7)
    copy = SpikeWindows(train.counts, train.frames, train.centres[one], train.mean, train.std)
    knn.neighbours_.kneighbors = lambda z: (None, np.tile(one[:3], (len(z), 1)))   # force frame 7's windows
    ids, grids = knn.predict(copy)
    np.testing.assert_allclose(grids[0], targets.rows([7])[0], rtol=1e-5)


def test_cebra_knn_is_deterministic_and_leaves_the_global_rng_alone(world):
    train, _, test, targets = world
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = baselines.CebraKNN(output_dimension=4, max_iterations=15, batch_size=64, hidden_units=16, k=3).fit(train, targets)
    assert torch.rand(1) == before                                  # the caller's torch RNG stream is untouched
    second = baselines.CebraKNN(output_dimension=4, max_iterations=15, batch_size=64, hidden_units=16, k=3).fit(train, targets)
    x, _ = baselines.window_rates(test)
    np.testing.assert_allclose(first.embed(x), second.embed(x), atol=1e-5)
    assert first.embed(x).shape == (len(test), 4) and first.n_params_ > 0
    ids, grids = first.predict(test)
    assert grids.shape == (len(ids), 3, 8)


def test_an_unfitted_baseline_says_how_to_fit_it(world):
    with pytest.raises(RuntimeError, match="call fit"):
        baselines.RidgePatches().predict(world[2])


def test_mlp_patches_trains_with_the_encoder_loop_and_reloads(world, tmp_path):
    train, val, test, targets = world
    mlp = SpikeDecoder("mlp_patches", EncoderConfig(d_model=16, dropout=0.0),
                       TrainConfig(lr=3e-3, batch_size=32, max_epochs=3, windows_per_epoch=256, val_windows=64, seed=0))
    mlp.fit(train, val, targets)
    ids, grids = mlp.predict(test, by_frame=True)
    assert grids.shape == (len(np.unique(test.frames[test.centres])), 3, 8)
    assert mlp.history_["val_loss"].iloc[-1] < mlp.history_["val_loss"].iloc[0]
    mlp.save(tmp_path / "mlp.pt", made_by="03_train")
    again = SpikeDecoder.load(tmp_path / "mlp.pt", made_by="03_train")
    np.testing.assert_allclose(again.predict(test, by_frame=True)[1], grids, atol=1e-6)
    mask = np.ones(UNITS, np.float32)
    mask[3] = 0
    x = test.batch(np.arange(4))[0]
    y = x.clone()
    y[..., 3] += 5.0                                                # a masked unit has no influence
    model = again.model_.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(x, torch.from_numpy(mask)), model(y, torch.from_numpy(mask)), atol=1e-6)


def test_exclusion_zone_removes_the_true_frames_neighbours():
    candidates = np.eye(10)
    candidates[4] = candidates[5] * 0.9 + candidates[4] * 0.1       # frame 4 looks like its neighbour 5
    predicted = candidates[[5]]                                     # a prediction of frame 4 that looks like 5
    assert metrics.ranks_among(predicted, candidates, [4])[0] == 2
    assert metrics.ranks_among(predicted, candidates, [4], exclude_within=1)[0] == 1
    np.testing.assert_array_equal(metrics.candidates_left(10, np.array([0, 5, 9]), 2), [8, 6, 8])
    with pytest.raises(ValueError, match="exclude_within"):
        metrics.ranks_among(predicted, candidates, [4], exclude_within=-1)


def test_frame_basis_spans_the_grids_as_an_exact_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    grids = (rng.normal(size=(12, 5)) @ rng.normal(size=(5, 300))).astype(np.float32)   # rank 5
    basis = baselines.FrameBasis().fit(grids)
    assert basis.n_components_ == 5
    np.testing.assert_allclose(basis.components_ @ basis.components_.T, np.eye(5), atol=1e-4)
    np.testing.assert_allclose(basis.inverse_transform(basis.transform(grids)), grids, atol=1e-3)
    pca = PCA(n_components=5, svd_solver="full").fit(grids)
    np.testing.assert_allclose(np.abs(basis.components_ @ pca.components_.T), np.eye(5), atol=1e-3)   # same axes, up to sign


def test_pooled_prediction_is_the_patch_mean_of_the_predicted_grids(world):
    train, _, test, targets = world
    for model in (baselines.PCAKNN(n_components=4, k=3), baselines.RidgePatches(alphas=[1.0, 10.0], folds=2)):
        model.fit(train, targets)
        ids, grids = model.predict(test)
        pooled_ids, pooled = model.predict_pooled(test)
        np.testing.assert_array_equal(pooled_ids, ids)
        np.testing.assert_allclose(pooled, metrics.patch_means(grids), rtol=1e-4, atol=1e-5)


def test_neighbour_frames_of_a_training_window_start_with_its_own_frame(world):
    train, _, _, targets = world
    knn = baselines.PCAKNN(n_components=4, k=3).fit(train, targets)
    frames, neighbours = knn.neighbour_frames(train)
    assert neighbours.shape == (len(train), 3)
    assert np.mean(neighbours[:, 0] == frames) > 0.9      # nearest training window: (almost always) itself
