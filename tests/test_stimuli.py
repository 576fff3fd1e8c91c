import numpy as np
import pytest

from neurrator.world.images import PHOTOGRAPHS, packaged_photographs, to_allen_frame


def test_every_packaged_photograph_loads_with_its_source():
    frames, sources = packaged_photographs()
    assert frames.shape == (len(PHOTOGRAPHS), 304, 608) and frames.dtype == np.uint8
    assert sources["name"].is_unique and sources["licence"].str.len().gt(10).all()
    assert len({f.tobytes() for f in frames}) == len(frames)  # all distinct


def test_to_allen_frame_crops_to_the_aspect_ratio():
    tall = np.zeros((100, 50), np.uint8)
    tall[:, :] = 255
    tall[:25] = 0  # the top quarter is cropped away by the centre crop
    frame = to_allen_frame(tall, (10, 20))
    assert frame.shape == (10, 20) and frame.min() == 255
    assert to_allen_frame(np.ones((8, 16), bool), (4, 8)).max() == 255


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown photograph"):
        packaged_photographs(("unicorn",))
