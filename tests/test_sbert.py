import numpy as np
import pytest

from neurrator.evaluation.sbert import embed_sentences, load_sbert


def test_packaged_sbert_loads_offline_and_ranks_meaning():
    model = load_sbert("demo")
    emb = embed_sentences(model, ["A cat is lying on a sofa.", "A kitten sleeps on a couch.", "A red bus drives down the road."])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.3


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile"):
        load_sbert("full")


def test_paper_loads_a_local_folder_and_demo_refuses_a_model_id(tmp_path):
    from tiny_models import build_tiny_sbert

    model = load_sbert("paper", model_id=build_tiny_sbert(tmp_path))
    assert embed_sentences(model, ["a dog", "a car"]).shape == (2, 32)
    with pytest.raises(ValueError, match="model_id is for profile 'paper'"):
        load_sbert("demo", model_id=str(tmp_path))
