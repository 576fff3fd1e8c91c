import numpy as np
import pytest

from neurrator.artifacts import ArtifactError
from neurrator.evaluation.narration import COLUMNS, narrate_batch, read_narrations, write_narrations
from neurrator.layout import DataLayout


class FakeBackend:
    """Narrates a grid by the sign of its mean, and records the batch sizes it was called with."""

    def __init__(self):
        self.calls = []

    def narrate(self, grids, batch_size=32, progress=False):
        self.calls.append((len(grids), batch_size))
        return ["A bright scene." if g.mean() > 0 else "A dark scene." for g in grids]


def test_narrate_batch_pairs_frames_with_references_and_round_trips(tmp_path):
    backend = FakeBackend()
    grids = np.stack([np.ones((4, 3)), -np.ones((4, 3)), np.ones((4, 3))])
    refs = {5: "A bright room.", 9: "A dark night.", 11: "Sunlight."}
    table = narrate_batch(backend, [5, 9, 11], grids, references=refs, stimulus="movie", regime="front_only",
                          session_id=7, batch_size=2)
    assert list(table.columns) == list(COLUMNS)
    assert table["narration"].tolist() == ["A bright scene.", "A dark scene.", "A bright scene."]
    assert table["reference"].tolist() == ["A bright room.", "A dark night.", "Sunlight."]
    assert backend.calls == [(3, 2)]                            # one call: the backend batches
    path = write_narrations(DataLayout(tmp_path, "demo").narrations(), table, params={"profile": "demo"})
    assert path == tmp_path / "demo" / "narrations" / "heldout.csv"
    assert read_narrations(path).equals(table)


def test_bad_input_is_named(tmp_path):
    with pytest.raises(KeyError, match="02_targets"):
        narrate_batch(FakeBackend(), [1, 2], np.zeros((2, 4, 3)), references={1: "x"}, stimulus="m", regime="r", session_id=1)
    with pytest.raises(ValueError, match="2 grids for 3 frame ids"):
        narrate_batch(FakeBackend(), [1, 2, 3], np.zeros((2, 4, 3)), references={}, stimulus="m", regime="r", session_id=1)
    with pytest.raises(ArtifactError, match="04_narrate_heldout"):
        read_narrations(tmp_path / "missing.csv")
    import pandas as pd
    with pytest.raises(ValueError, match="missing"):
        write_narrations(tmp_path / "x.csv", pd.DataFrame({"frame": [1]}))


def test_long_inputs_reach_the_backend_in_blocks_of_whole_batches(tmp_path):
    backend = FakeBackend()
    n, grid = 10, np.ones((4, 3))
    grids = np.stack([grid * (-1) ** i for i in range(n)])
    budget = 3 * grid.size * 4                                    # three float32 grids: rounded to one batch of 2
    table = narrate_batch(backend, list(range(n)), grids, references={i: "x" for i in range(n)}, stimulus="m",
                          regime="r", session_id=1, batch_size=2, budget_bytes=budget)
    assert backend.calls == [(2, 2)] * 5
    assert table["narration"].tolist() == ["A bright scene.", "A dark scene."] * 5
