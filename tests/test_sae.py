"""The TopK sparse autoencoder: its recipe, recovery of a planted dictionary, persistence, and a
cross-check against ``overcomplete.sae.TopKSAE`` where overcomplete imports (it needs torchvision and
matplotlib < 3.9, so in the project's environment those two tests skip; ``benchmarks/sae_throughput.py``
describes a side environment where they run)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from neurrator.artifacts import ArtifactError
from neurrator.models.sae import SAEConfig, SparseAutoencoder, TopKSAE, auxk_loss, reconstruction_r2, topk_codes


def planted_tokens(n: int, d: int = 32, atoms: int = 48, active: int = 3, seed: int = 0, draw: int = 0):
    """Sums of ``active`` of ``atoms`` unit vectors (the world ``seed``) with positive weights (``draw``), plus an offset."""
    rng = np.random.default_rng(seed)
    dictionary = rng.normal(size=(atoms, d))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    offset = rng.normal(size=d)
    rng = np.random.default_rng([seed, draw])
    codes = np.zeros((n, atoms))
    for row in codes:
        row[rng.choice(atoms, active, replace=False)] = rng.uniform(0.5, 2.0, active)
    return (codes @ dictionary + offset).astype(np.float32), dictionary


def overcomplete_sae():
    try:
        return importlib.import_module("overcomplete.sae")
    except Exception as err:  # ImportError, or torchvision's own errors on CPU builds
        pytest.skip(f"overcomplete does not import here ({type(err).__name__}: {err}); "
                    "it needs torchvision (the paper extra, a GPU runner)")


SMALL = SAEConfig(n_features=96, k=3, aux_k=16, dead_after=4096, lr=2e-3, batch_size=256, epochs=30)


@pytest.fixture(scope="module")
def fitted():
    tokens, dictionary = planted_tokens(6000)
    return SparseAutoencoder(SMALL, seed=0, progress=False).fit(tokens), tokens, dictionary


def test_topk_keeps_exactly_k_largest_nonnegative():
    pre = torch.relu(torch.randn(50, 40))
    z = topk_codes(pre, 5)
    assert ((z > 0).sum(1) <= 5).all() and ((z != 0).sum(1) == (pre > 0).sum(1).clamp(max=5)).all()
    kept = torch.topk(pre, 5, dim=1).values
    assert torch.equal(torch.sort(z, dim=1, descending=True).values[:, :5], kept)


def test_initialisation_is_tied_unit_norm_and_centred():
    model = TopKSAE(8, 20, 2)
    mean = torch.arange(8.0)
    model.initialise(mean, torch.Generator().manual_seed(1))
    assert torch.allclose(model.W_dec.norm(dim=1), torch.ones(20))
    assert torch.equal(model.W_enc, model.W_dec) and torch.equal(model.b_pre, mean)
    # the mean token is encoded as nothing and reconstructed exactly
    assert torch.equal(model.encode(mean[None]), torch.zeros(1, 20))
    assert torch.allclose(model(mean[None])[2], mean[None])


def test_parallel_gradient_is_removed():
    model = TopKSAE(6, 10, 2)
    model.initialise(torch.zeros(6), torch.Generator().manual_seed(0))
    model.W_dec.grad = torch.randn(10, 6)
    model.remove_parallel_gradient()
    assert torch.allclose((model.W_dec.grad * model.W_dec).sum(1), torch.zeros(10), atol=1e-6)


def test_auxk_loss_uses_only_dead_latents():
    torch.manual_seed(0)
    x, x_hat = torch.randn(16, 6), torch.randn(16, 6)
    pre, W_dec = torch.relu(torch.randn(16, 10)), torch.randn(10, 6)
    nobody = torch.zeros(10, dtype=torch.bool)
    assert auxk_loss(x, x_hat, pre, nobody, W_dec, 4).item() == 0.0
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[2, 7]] = True
    # latents that are alive cannot change the AuxK loss
    pre_alive_changed = pre.clone()
    pre_alive_changed[:, [0, 1, 3]] += 5
    assert auxk_loss(x, x_hat, pre, dead, W_dec, 4) == auxk_loss(x, x_hat, pre_alive_changed, dead, W_dec, 4)
    assert auxk_loss(x, x_hat, pre, dead, W_dec, 4).item() > 0


def test_recovers_the_planted_dictionary(fitted):
    sae, tokens, dictionary = fitted
    held_out, _ = planted_tokens(1000, draw=1)  # same dictionary and offset, new draws
    quality = sae.quality(held_out)
    assert quality["r2"] > 0.9, quality
    assert quality["mean_active"] <= SMALL.k
    cosine = dictionary @ (sae.dictionary / np.linalg.norm(sae.dictionary, axis=1, keepdims=True)).T
    recovered = (cosine.max(1) > 0.9).mean()
    assert recovered > 0.8, f"only {recovered:.0%} of planted atoms have a learned atom within cosine 0.9"
    assert np.allclose(np.linalg.norm(sae.dictionary, axis=1), 1, atol=1e-5)
    assert set(sae.history_.columns) >= {"nmse", "auxk", "dead_fraction", "tokens_per_s"}
    assert sae.history_["nmse"].iloc[-1] < sae.history_["nmse"].iloc[0]


def test_same_seed_same_weights_other_seed_other_weights():
    tokens, _ = planted_tokens(1500, seed=3)
    config = SAEConfig(n_features=64, k=3, aux_k=8, dead_after=512, lr=2e-3, batch_size=256, epochs=3)
    a = SparseAutoencoder(config, seed=5, progress=False).fit(tokens)
    b = SparseAutoencoder(config, seed=5, progress=False).fit(tokens)
    c = SparseAutoencoder(config, seed=6, progress=False).fit(tokens)
    assert np.array_equal(a.dictionary, b.dictionary)
    assert not np.array_equal(a.dictionary, c.dictionary)


def test_reconstruction_is_in_the_tokens_units(fitted):
    sae, tokens, _ = fitted
    assert reconstruction_r2(tokens, sae.reconstruct(tokens)) == pytest.approx(sae.quality(tokens)["r2"])
    assert abs(sae.reconstruct(tokens).mean() - tokens.mean()) < 0.05 * np.abs(tokens).mean()


def test_save_load_round_trip_and_clear_errors(fitted, tmp_path):
    sae, tokens, _ = fitted
    path = sae.save(tmp_path / "sae.pt", params={"profile": "demo"})
    back = SparseAutoencoder.load(path, params={**vars(SMALL), "seed": 0, "profile": "demo"})
    assert np.array_equal(back.transform(tokens[:100]), sae.transform(tokens[:100]))
    with pytest.raises(ArtifactError, match="other parameters"):
        SparseAutoencoder.load(path, params={**vars(SMALL), "seed": 1, "profile": "demo"})
    with pytest.raises(ArtifactError, match="07_sae_concepts"):
        SparseAutoencoder.load(tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="dimension 5"):
        sae.transform(np.zeros((3, 5), np.float32))
    with pytest.raises(RuntimeError, match="not fitted"):
        SparseAutoencoder(SMALL).transform(tokens)
    with pytest.raises(ValueError, match="NaN"):
        SparseAutoencoder(SMALL).fit(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="k must be"):
        SAEConfig(n_features=8, k=9)


def test_fit_or_load_reads_back_a_matching_sae_and_uses_a_given_one_as_it_is(fitted, tmp_path):
    from neurrator.models.sae import fit_or_load

    sae, tokens, _ = fitted
    tiny = SAEConfig(n_features=16, k=2, aux_k=4, dead_after=256, lr=1e-3, batch_size=128, epochs=1)
    first, trained = fit_or_load(tokens[:300], tmp_path / "a.pt", tiny, progress=False)
    again, trained_again = fit_or_load(tokens[:300], tmp_path / "a.pt", tiny, progress=False)
    assert trained and not trained_again and np.array_equal(again.dictionary, first.dictionary)
    given = sae.save(tmp_path / "given.pt")
    used, trained = fit_or_load(tokens[:300], tmp_path / "b.pt", tiny, given=given)
    assert not trained and used.config == SMALL and not (tmp_path / "b.pt").exists()   # its own config, nothing fitted
    with pytest.raises(ValueError, match="reads 32-d tokens"):
        fit_or_load(tokens[:300, :8], tmp_path / "b.pt", tiny, given=given)


def test_same_codes_as_overcomplete_topk_sae_for_the_same_weights(fitted):
    oc = overcomplete_sae()
    sae, tokens, _ = fitted
    ours = sae.model_
    theirs = oc.TopKSAE(ours.d_input, ours.n_features, top_k=ours.k)
    linear = theirs.encoder.final_block[0]
    with torch.no_grad():  # overcomplete has no pre-encoder bias: fold b_pre into the encoder bias
        linear.weight.copy_(ours.W_enc)
        linear.bias.copy_(ours.b_enc - ours.W_enc @ ours.b_pre)
        theirs.dictionary._weights.copy_(ours.W_dec)
    theirs.eval()
    x = torch.as_tensor(tokens[:500]) * sae.scale_
    _, z_theirs, x_hat_theirs = theirs(x)
    _, z_ours, x_hat_ours = ours(x)
    assert torch.allclose(z_theirs, z_ours, atol=1e-5)
    assert torch.allclose(x_hat_theirs + ours.b_pre, x_hat_ours, atol=1e-4)


def test_reconstructs_as_well_as_overcomplete_trained_on_the_same_data(fitted):
    oc = overcomplete_sae()
    sae, tokens, _ = fitted
    torch.manual_seed(0)
    x = torch.as_tensor(tokens) * sae.scale_
    theirs = oc.TopKSAE(x.shape[1], SMALL.n_features, top_k=SMALL.k)
    loader = torch.utils.data.DataLoader(x, batch_size=SMALL.batch_size, shuffle=True)
    auxk = importlib.import_module("overcomplete.sae.losses").top_k_auxiliary_loss
    oc.train_sae(theirs, loader, auxk, torch.optim.Adam(theirs.parameters(), lr=SMALL.lr),
                 nb_epochs=SMALL.epochs, monitoring=0)
    theirs.eval()
    held_out, _ = planted_tokens(1000, draw=1)
    with torch.no_grad():
        r2_theirs = reconstruction_r2(held_out, theirs(torch.as_tensor(held_out) * sae.scale_)[2] / sae.scale_)
    r2_ours = sae.quality(held_out)["r2"]
    assert r2_ours >= r2_theirs - 0.05, (r2_ours, r2_theirs)
