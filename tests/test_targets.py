"""PatchTargetStore: float16 arrays on disk with sidecars, chunked writes, refusing mismatched stores."""

from __future__ import annotations

import time

import numpy as np
import pytest

from neurrator.artifacts import ArtifactError, read_sidecar
from neurrator.vlm.targets import PatchTargetStore, StoredTargets, frames_hash
from neurrator.vlm.base import VisionLanguageBackend, frames_to_rgb


class ProjectionBackend(VisionLanguageBackend):
    """A cheap deterministic backend: a fixed random projection of 4x4-pooled pixels per patch."""

    name = "projection"

    def __init__(self, seed=0, dim=8):
        self.weights = np.random.default_rng(seed).normal(size=(3, dim)).astype(np.float32)
        self.seed, self.calls = seed, 0

    @property
    def grid_shape(self):
        return (16, self.weights.shape[1])

    def target_spec(self):
        return {"backend": "projection", "model_id": f"seed{self.seed}", "layer": 0}

    def compute_targets(self, frames):
        self.calls += 1
        rgb = frames_to_rgb(frames).astype(np.float32) / 255
        n, h, w, _ = rgb.shape
        pooled = rgb[:, : h // 4 * 4, : w // 4 * 4].reshape(n, 4, h // 4, 4, w // 4, 3).mean((2, 4))
        return pooled.reshape(n, 16, 3) @ self.weights

    def narrate(self, grids, batch_size=32, progress=False):
        return [f"grid {g.mean():.3f}" for g in grids]


@pytest.fixture
def frames():
    return np.random.default_rng(1).integers(0, 256, size=(10, 16, 24), dtype=np.uint8)


def test_write_then_read(tmp_path, frames):
    store, backend = PatchTargetStore(tmp_path), ProjectionBackend()
    path = store.write("movie", frames, backend, chunk_size=3, progress=False)
    assert backend.calls == 4  # chunks of 3: 3 + 3 + 3 + 1
    array = store.open("movie", backend_spec=backend.target_spec(), frames=frames)
    assert isinstance(array, StoredTargets) and array.dtype == np.float16 and array.shape == (10, 16, 8)
    np.testing.assert_array_equal(np.asarray(array), np.load(path).astype(np.float32))  # a plain .npy
    np.testing.assert_allclose(array, backend.compute_targets(frames), rtol=1e-3, atol=1e-3)
    meta = read_sidecar(path)["params"]
    assert meta["backend"] == backend.target_spec() and meta["frames_sha256"] == frames_hash(frames)
    assert store.stimuli() == ["movie"] and store.summary()[0]["frames"] == 10


def test_valid_store_is_not_recomputed_but_changed_frames_are(tmp_path, frames):
    store, backend = PatchTargetStore(tmp_path), ProjectionBackend()
    store.write("movie", frames, backend, progress=False)
    calls = backend.calls
    store.write("movie", frames, backend, progress=False)
    assert backend.calls == calls
    changed = frames.copy()
    changed[3, 0, 0] ^= 1
    store.write("movie", changed, backend, progress=False)
    assert backend.calls > calls
    store.open("movie", frames=changed)


def test_mismatched_backend_or_frames_is_refused(tmp_path, frames):
    store = PatchTargetStore(tmp_path)
    store.write("movie", frames, ProjectionBackend(seed=0), progress=False)
    with pytest.raises(ArtifactError, match=r"made by backend 'projection' \(seed0\).*\(seed1\); differs in: model_id.*02_targets"):
        store.open("movie", backend_spec=ProjectionBackend(seed=1).target_spec())
    with pytest.raises(ArtifactError, match="other frames"):
        store.open("movie", frames=frames[::-1].copy())
    with pytest.raises(ArtifactError, match="missing artifact.*run notebook 02_targets"):
        store.open("scenes")
    with pytest.raises(ValueError, match="invalid stimulus"):
        store.path("../x")


def test_interrupted_write_leaves_no_valid_store(tmp_path, frames):
    class Failing(ProjectionBackend):
        def compute_targets(self, batch):
            if self.calls == 2:
                raise RuntimeError("out of memory")
            return super().compute_targets(batch)

    store = PatchTargetStore(tmp_path)
    with pytest.raises(RuntimeError):
        store.write("movie", frames, Failing(), chunk_size=3, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ArtifactError, match="missing"):
        store.open("movie")


def test_a_same_size_corruption_is_refused_and_rebuilt_never_kept(tmp_path, frames):
    store, backend = PatchTargetStore(tmp_path), ProjectionBackend()
    path = store.write("movie", frames, backend, progress=False)
    good = np.asarray(store.open("movie")).copy()
    time.sleep(0.05)                                    # past the file system's timestamp granularity, as a real edit
    with open(path, "r+b") as handle:                   # rows zeroed inside the file: its size is unchanged
        handle.seek(path.stat().st_size - 256)
        handle.write(bytes(256))
    with pytest.raises(ArtifactError, match="does not match its sidecar.*02_targets"):
        store.open("movie")
    calls = backend.calls
    store.write("movie", frames, backend, progress=False)   # chapter 02 re-run: the corrupt store is rebuilt
    assert backend.calls > calls
    np.testing.assert_array_equal(np.asarray(store.open("movie")), good)


def test_rows_keep_request_order_and_check_bounds(tmp_path, frames):
    store, backend = PatchTargetStore(tmp_path), ProjectionBackend()
    store.write("movie", frames, backend, progress=False)
    array = store.open("movie")
    index = [7, 2, 2, 9, 0]
    rows = array.rows(index)
    assert rows.dtype == np.float32 and rows.shape == (5, 16, 8)
    np.testing.assert_array_equal(rows, np.asarray(array)[index])
    np.testing.assert_array_equal(store.batch("movie", index), rows)
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        array.rows([10])


def test_truncated_file_is_refused(tmp_path, frames):
    store = PatchTargetStore(tmp_path)
    path = store.write("movie", frames, ProjectionBackend(), progress=False)
    meta = path.with_name(path.name + ".meta.json")
    import json

    body = json.loads(meta.read_text())
    body["params"]["shape"][0] = 11  # sidecar and file disagree
    meta.write_text(json.dumps(body))
    with pytest.raises(ArtifactError, match="needs"):
        store.open("movie")


def test_demo_store_roundtrip(tmp_path, demo_backend, photos):
    store = PatchTargetStore(tmp_path)
    store.write("photos", photos, demo_backend, progress=False)
    stored = store.batch("photos", range(len(photos)), backend_spec=demo_backend.target_spec(), frames=photos)
    np.testing.assert_allclose(stored, demo_backend.compute_targets(photos), rtol=2e-3, atol=2e-3)
    # float16 storage does not change what the narrator reads
    assert demo_backend.labels(stored) == demo_backend.labels(demo_backend.compute_targets(photos))
