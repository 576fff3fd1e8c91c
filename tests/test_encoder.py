import pytest
import torch

from neurrator.models.encoder import NeurratorEncoder, patch_loss
from neurrator.book.repro import seed_everything


def tiny(n_neurons=12, seed=0):
    seed_everything(seed)
    return NeurratorEncoder(n_neurons, n_patches=5, patch_dim=16, d_model=32, conv_channels=8, heads=4).eval()


def test_shapes_and_seeded_init():
    a, b = tiny(), tiny()
    x = torch.randn(3, 20, 12)
    out = a(x)
    assert out.shape == (3, 5, 16)
    assert torch.equal(out, b(x))
    with pytest.raises(ValueError, match="built for 12 neurons"):
        a(torch.randn(3, 20, 11))


def test_masked_neurons_have_no_influence_and_others_do():
    model = tiny()
    x = torch.randn(2, 20, 12)
    mask = torch.ones(12)
    mask[4:] = 0
    changed = x.clone()
    changed[..., 4:] = torch.randn(2, 20, 8) * 10          # anything at all in the left-out neurons
    assert torch.allclose(model(x, mask), model(changed, mask), atol=1e-6)
    kept_changed = x.clone()
    kept_changed[..., :4] += 1.0
    assert not torch.allclose(model(x, mask), model(kept_changed, mask))
    per_item = torch.stack([mask, torch.ones(12)])          # a different subset per item
    assert torch.allclose(model(x, per_item)[0], model(x, mask)[0], atol=1e-6)


def test_patch_loss_known_values():
    t = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    assert patch_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)
    assert patch_loss(-t, t).item() == pytest.approx(0.5 * (4 * 5 / 4) + 0.5 * 2)   # mse 5, cosine -1
    scaled = 2 * t
    assert patch_loss(scaled, t).item() == pytest.approx(0.5 * 5 / 4)               # cosine 1, mse (1+4)/4


def test_paper_shapes_build():
    model = NeurratorEncoder(n_neurons=64, n_patches=576, patch_dim=1024)
    assert model(torch.randn(1, 20, 64)).shape == (1, 576, 1024)


def test_an_all_zero_mask_gives_the_inputless_output_and_a_subset_mask_matches_zeroed_inputs():
    torch.manual_seed(0)
    model = NeurratorEncoder(12, 4, 6, d_model=16, conv_channels=8, heads=2).eval()
    x = torch.randn(3, 20, 12)
    with torch.no_grad():
        assert torch.allclose(model(x, torch.zeros(12)), model(torch.zeros_like(x)), atol=1e-6)
        mask = torch.tensor([1.0] * 5 + [0.0] * 7)
        zeroed = x.clone()
        zeroed[..., 5:] = 0
        assert torch.allclose(model(x, mask), model(zeroed), atol=1e-5)
