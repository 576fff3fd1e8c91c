import numpy as np
import pytest

from neurrator.evaluation.metrics import knn_purity, linear_cka, mean_patch_cosine, ranks_among, retrieval_ranks, retrieval_summary


def test_mean_patch_cosine_known_values():
    t = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    assert mean_patch_cosine(t, t) == pytest.approx(1.0)
    assert mean_patch_cosine(-t, t) == pytest.approx(-1.0)
    assert mean_patch_cosine(np.array([[[0.0, 1.0], [0.0, 5.0]]]), t) == pytest.approx(0.5)   # (0 + 1) / 2
    with pytest.raises(ValueError, match="differ in shape"):
        mean_patch_cosine(t, t[:, :1])


def test_cka_is_invariant_to_rotation_and_scale_and_low_for_unrelated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(x, 3 * x @ q) == pytest.approx(1.0)
    assert linear_cka(x, rng.normal(size=(200, 10))) < 0.15


def test_retrieval_ranks_and_summary():
    target = np.eye(4)[:, None, :]                        # 4 items, 1 patch, orthogonal
    predicted = target.copy()
    predicted[3] = target[0]                              # item 3 looks like item 0: its true target ties at best
    ranks = retrieval_ranks(predicted, target)
    assert list(ranks) == [1, 1, 1, 2]
    summary = retrieval_summary(predicted, target)
    assert summary == {"R@1": 0.75, "R@10": 1.0, "median_rank": 1.0, "chance_median_rank": 2.5, "items": 4}


def test_ranks_among_a_larger_candidate_set():
    candidates = np.eye(6)                                 # 6 frames; two items, predicted near frames 4 and 1
    predicted = np.array([[0, 0, 0, 0.2, 1, 0], [0, 0.5, 0.1, 0, 0, 1]])
    assert list(ranks_among(predicted, candidates, [4, 1])) == [1, 2]
    assert list(ranks_among(predicted, candidates, [3, 0])) == [2, 4]
    with pytest.raises(ValueError, match="2 true indices for 1"):
        ranks_among(predicted[:1], candidates, [1, 2])


def test_knn_purity():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], float)
    assert knn_purity(x, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert knn_purity(x, np.array([0, 1, 0, 1]), k=1) == 0.0
    with pytest.raises(ValueError, match="more than"):
        knn_purity(x, np.zeros(4), k=4)
