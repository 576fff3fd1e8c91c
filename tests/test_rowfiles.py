"""Rows read from disk on demand, streamed .npz writing, and the chunked metrics and predictions built on them."""

import numpy as np
import pytest

from neurrator.artifacts import ArtifactError
from neurrator.evaluation.metrics import mean_patch_cosine, patch_means
from neurrator.models.predictions import read_predictions, write_predictions
from neurrator.rowfiles import NpzWriter, RowFile, chunk_rows, iter_chunks, select


def grids(n=23, patches=5, dim=7, seed=0):
    return np.random.default_rng(seed).normal(size=(n, patches, dim)).astype(np.float32)


def test_npz_written_in_chunks_is_an_ordinary_npz_and_reads_rows_lazily(tmp_path):
    data = grids()
    path = tmp_path / "x.npz"
    with NpzWriter(path) as archive:
        archive.add("ids", np.arange(23) * 3)
        archive.add_rows("outputs", data.shape, np.float16, (data[i:i + 4] for i in range(0, 23, 4)))
    with np.load(path) as loaded:
        assert loaded["ids"].tolist() == list(range(0, 69, 3))
        assert np.array_equal(loaded["outputs"], data.astype(np.float16))
    rows = RowFile.npz(path, "outputs")
    assert rows.shape == data.shape and rows.dtype == np.float16
    assert np.array_equal(rows.rows([22, 0, 0]), data[[22, 0, 0]].astype(np.float16).astype(np.float32))
    assert np.array_equal(rows[3:6], rows.rows([3, 4, 5]))
    with pytest.raises(IndexError, match=r"\[0, 23\)"):
        rows.rows([23])


def test_npz_writer_refuses_chunks_that_do_not_fill_the_header(tmp_path):
    with NpzWriter(tmp_path / "short.npz") as archive, pytest.raises(ValueError, match="3 rows were written, the header says 4"):
        archive.add_rows("a", (4, 2), np.float32, [np.zeros((3, 2))])
    with NpzWriter(tmp_path / "wide.npz") as archive, pytest.raises(ValueError, match="does not fit rows"):
        archive.add_rows("a", (4, 2), np.float32, [np.zeros((4, 3))])


def test_row_file_of_a_npy_matches_np_load(tmp_path):
    data = grids(dim=3)
    np.save(tmp_path / "a.npy", data)
    rows = RowFile.npy(tmp_path / "a.npy")
    assert np.array_equal(np.asarray(rows), data) and rows.offset == 128


def test_chunk_sizes_follow_the_memory_budget():
    assert chunk_rows((576, 1024), 256 * 2**20) == 113            # 2.25 MB per float32 paper grid
    assert chunk_rows((576, 1024), 256 * 2**20, multiple=32) == 96
    assert chunk_rows((576, 1024), 1, multiple=8) == 8            # never fewer than one batch
    blocks = list(iter_chunks(grids(), chunk=10))
    assert [len(b) for b in blocks] == [10, 10, 3]


def test_chunked_metrics_equal_the_dense_computation():
    p, t = grids(seed=1), grids(seed=2)
    dense = np.mean((p * t).sum(-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(t, axis=-1)))
    for chunk in (1, 4, None):
        assert mean_patch_cosine(p, t, chunk=chunk) == pytest.approx(dense, rel=1e-6)
    order = np.random.default_rng(3).permutation(23)
    assert mean_patch_cosine(p, select(t, order)) == pytest.approx(mean_patch_cosine(p, t[order]), rel=1e-6)
    assert np.allclose(patch_means(select(t, order), chunk=5), t[order].mean(1), atol=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        mean_patch_cosine(p, select(t, order[:5]))


def test_predictions_stream_to_disk_and_read_back(tmp_path):
    data, ids = grids(), np.arange(100, 123)
    path = write_predictions(tmp_path / "p.npz", ids, (data[i:i + 6] for i in range(0, 23, 6)), made_by="03_train", out_shape=data.shape[1:],
                             params={"regime": "r"})
    predicted = read_predictions(path, params={"regime": "r"}, made_by="03_train")
    assert predicted.frame_ids.tolist() == ids.tolist() and predicted.classes is None
    assert np.allclose(np.asarray(predicted.outputs), data, atol=2e-3)   # grids are stored as float16
    logits = write_predictions(tmp_path / "c.npz", ids[:3], data[:3, 0], made_by="03_train", classes=[4, 5, 6, 7, 8, 9, 10])
    classifier = read_predictions(logits, made_by="03_train")
    assert classifier.outputs.dtype == np.float32 and classifier.classes.tolist() == list(range(4, 11))
    assert np.array_equal(np.asarray(classifier.outputs), data[:3, 0])
    with pytest.raises(ValueError, match="out_shape"):
        write_predictions(tmp_path / "q.npz", ids, iter([data]), made_by="03_train")
    with pytest.raises(ArtifactError, match="03_train"):
        read_predictions(tmp_path / "missing.npz", made_by="03_train")
