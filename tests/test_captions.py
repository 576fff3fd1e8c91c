
import numpy as np
import pytest

from neurrator.artifacts import ArtifactError, read_sidecar
from neurrator.layout import DataLayout
from neurrator.vlm.captions import oracle_captions, read_captions, write_captions


def test_roundtrip_and_sidecar(tmp_path):
    layout = DataLayout(tmp_path, "demo")
    path = write_captions(layout.captions("movie"), "movie", [0, 1, 2], ["a", "b", "c"], {"backend": "demo"})
    assert read_captions(path) == {0: "a", 1: "b", 2: "c"}
    assert read_sidecar(path)["params"] == {"captioner": {"backend": "demo"}, "stimulus": "movie"}


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="2 captions for 3 frames"):
        write_captions(tmp_path / "x.json", "movie", [0, 1, 2], ["a", "b"], {})
    with pytest.raises(ArtifactError, match="run notebook 02_targets"):
        read_captions(DataLayout(tmp_path, "demo").captions("scenes"))


def test_oracle_reference_is_the_narration_of_the_true_grid(demo_backend, photos):
    grids = demo_backend.compute_targets(photos[:3])
    assert oracle_captions(demo_backend, grids.astype(np.float16), progress=False) == demo_backend.narrate(grids)
