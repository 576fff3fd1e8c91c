"""square_field_of_view: how a wide Allen frame becomes the square image a vision tower sees."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator.vlm.base import FIELDS_OF_VIEW, square_field_of_view


@pytest.fixture
def wide():
    """Two 4 x 8 frames whose left, middle and right quarters differ."""
    frame = np.repeat(np.array([10, 50, 90, 130, 170, 210, 240, 250], np.uint8)[None], 4, axis=0)
    return np.stack([frame, frame[::-1]])


def test_pad_keeps_the_whole_frame_and_fills_the_rest(wide):
    out = square_field_of_view(wide, "pad", fill=(1, 2, 3))
    assert out.shape == (2, 8, 8, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, 2:6, :, 0], wide)                        # every column is there
    assert (out[:, :2] == (1, 2, 3)).all() and (out[:, 6:] == (1, 2, 3)).all()


def test_crop_keeps_the_middle_half(wide):
    out = square_field_of_view(wide, "crop")
    assert out.shape == (2, 4, 4, 3)
    assert np.array_equal(out[..., 0], wide[:, :, 2:6])


def test_squeeze_keeps_the_whole_frame_distorted(wide):
    out = square_field_of_view(wide, "squeeze")
    assert out.shape == (2, 4, 4, 3)
    assert out[0, 0, 0, 0] < 60 and out[0, 0, -1, 0] > 200                 # both ends survive, squeezed


def test_every_choice_is_named_and_bad_ones_are_refused(wide):
    assert FIELDS_OF_VIEW == ("pad", "crop", "squeeze")
    with pytest.raises(ValueError, match="pad, crop, squeeze"):
        square_field_of_view(wide, "fit")
    with pytest.raises(TypeError, match="uint8"):
        square_field_of_view(wide.astype(float), "pad")
