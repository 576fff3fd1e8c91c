import subprocess
import sys

import numpy as np
import pytest
import torch

from neurrator.book.repro import seed_everything, torch_generator


def _draws(seed):
    rng = seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5))
    return rng.normal(size=3), np.random.rand(3), torch.rand(3).numpy(), model(torch.ones(2, 8)).detach().numpy()


def test_same_seed_same_draws_other_seed_differs():
    a, b, c = _draws(3), _draws(3), _draws(4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[0], c[0])
    assert torch.are_deterministic_algorithms_enabled()


def test_generator_is_independent_of_global_state():
    g1, g2 = torch_generator(5), torch_generator(5)
    torch.rand(10)  # global draws do not disturb the dedicated generators
    assert torch.equal(torch.randperm(20, generator=g1), torch.randperm(20, generator=g2))


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


def test_importing_the_package_changes_no_warning_filter():
    # third-party libraries first (torch and numpy add filters of their own), then every module of ours
    code = ("import warnings, pkgutil, importlib, numpy, pandas, scipy.stats, torch, tqdm, yaml, nbformat, matplotlib\n"
            "before = list(warnings.filters)\n"
            "import neurrator\n"
            "for m in pkgutil.walk_packages(neurrator.__path__, 'neurrator.'):\n"
            "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
            "assert warnings.filters == before, [f for f in warnings.filters if f not in before]\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_setup_chapters_reproducibility_check_can_fail():
    from neurrator.book.repro import small_regression_losses

    a, b, c = small_regression_losses(0, 20), small_regression_losses(0, 20), small_regression_losses(1, 20)
    assert np.array_equal(a, b) and not np.array_equal(a, c) and a[-1] < a[0]
