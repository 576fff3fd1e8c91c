
import numpy as np
import pytest
import pandas as pd

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


def test_content_reference_from_a_caption_file(tmp_path):
    from neurrator.vlm.captions import content_captions

    path = tmp_path / "scenes.csv"
    pd.DataFrame({"frame": [2, 0, 1], "caption": ["a dog", "a car", "a room"]}).to_csv(path, index=False)
    for profile in ("demo", "paper"):   # a person's file wins in both profiles
        captions, spec = content_captions(profile, "scenes", 3, caption_file=path)
        assert captions == ["a car", "a room", "a dog"] and spec["file"] == "scenes.csv"
    assert content_captions("paper", "scenes", 3) is None            # paper: absent by default
    assert content_captions("demo", "scenes", 3) is None             # demo without a world folder
    with pytest.raises(ValueError, match="each of 'scenes'.s 4 frames"):
        content_captions("paper", "scenes", 4, caption_file=path)
    with pytest.raises(FileNotFoundError, match="'frame' and 'caption'"):
        content_captions("paper", "scenes", 3, caption_file=tmp_path / "absent.csv")
    pd.DataFrame({"frame": [0], "text": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="lacks column"):
        content_captions("paper", "scenes", 1, caption_file=tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="unknown reference"):
        DataLayout(tmp_path, "demo").captions("scenes", "blip")
    assert DataLayout(tmp_path, "demo").captions("scenes", "content") != DataLayout(tmp_path, "demo").captions("scenes")


def test_content_reference_of_the_simulated_world(small_world):
    from neurrator.vlm.captions import content_captions
    from neurrator.world.stimuli import STIMULUS_FOLDER

    cache_dir, config = small_world
    captions, spec = content_captions("demo", "natural_scenes", config.n_scenes, world_stimuli=cache_dir / STIMULUS_FOLDER)
    assert len(captions) == config.n_scenes and all(len(c.split()) >= 3 for c in captions)
    assert spec["source"].startswith("simulated world")
    with pytest.raises(ValueError, match="do not describe"):
        content_captions("demo", "natural_scenes", config.n_scenes + 1, world_stimuli=cache_dir / STIMULUS_FOLDER)
    with pytest.raises(Exception, match="neurrator simulate"):
        content_captions("demo", "natural_scenes", 3, world_stimuli=cache_dir / "absent")
