"""Spike windows: the input mask that queries a decoder with a subset of its neurons."""

import numpy as np

from neurrator.data.windows import neuron_mask


def test_the_mask_keeps_exactly_the_columns_and_none_means_every_neuron():
    mask = neuron_mask(6, [4, 1])
    assert mask.dtype == np.float32 and mask.tolist() == [0, 1, 0, 0, 1, 0]
    assert neuron_mask(6, None) is None
    assert neuron_mask(3, np.array([], dtype=int)).tolist() == [0, 0, 0]
