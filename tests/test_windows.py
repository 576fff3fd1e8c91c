"""Spike windows: the input mask that queries a decoder with a subset of its neurons."""

import numpy as np

from neurrator.data.windows import neuron_mask


def test_the_mask_keeps_exactly_the_columns_and_none_means_every_neuron():
    mask = neuron_mask(6, [4, 1])
    assert mask.dtype == np.float32 and mask.tolist() == [0, 1, 0, 0, 1, 0]
    assert neuron_mask(6, None) is None
    assert neuron_mask(3, np.array([], dtype=int)).tolist() == [0, 0, 0]


def test_windows_rebuilt_from_a_saved_split_are_the_training_runs_windows(tmp_path):
    from neurrator.data import splits
    from neurrator.data.windows import from_split, regime_windows
    from test_training import synthetic_movie

    binned, _ = synthetic_movie()
    data = regime_windows(binned, "sparse_random", seed=3, jitter=2, neuron_dropout=0.1)
    path = splits.save_split(data.split, tmp_path / "split.npz", made_by="03_train")
    again = from_split(binned, splits.read_split(path, made_by="03_train"), (data.train.mean, data.train.std), seed=3)
    assert again.regime == "sparse_random" and min(len(data.train), len(data.val), len(data.test)) >= 5
    for part in ("train", "val", "test"):
        a, b = getattr(data, part), getattr(again, part)
        assert np.array_equal(a.centres, b.centres) and np.array_equal(a.batch(np.arange(5))[0], b.batch(np.arange(5))[0])
    plain = from_split(binned, data.split, (data.train.mean, data.train.std), jitter=0, neuron_dropout=0.0)
    assert not np.array_equal(plain.train.batch(np.arange(5))[0], data.train.batch(np.arange(5))[0])   # augmentation off
    assert np.array_equal(plain.test.batch(np.arange(5))[0], data.test.batch(np.arange(5))[0])
