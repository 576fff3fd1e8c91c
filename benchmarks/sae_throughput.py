"""SAE training throughput (tokens/s) and reconstruction: neurrator's TopK SAE against overcomplete's ``TopKSAE``.

Same synthetic tokens at the demo target space's width (1280-d: sums of 24 of 2048 planted unit atoms,
with positive weights), same dictionary size, k, batch, epochs and Adam learning rate, torch threads fixed;
each scenario in a fresh process (``measure.run_isolated``):
- neurrator: ``SparseAutoencoder.fit`` (tied init, b_pre at the mean, unit-norm atoms with the parallel
  gradient removed, normalised MSE + AuxK over dead latents);
- overcomplete: ``TopKSAE`` + ``train_sae`` with its ``top_k_auxiliary_loss`` (AuxK over the top half of
  all unchosen latents, so it pays an extra top-k and decode every step), ``monitoring=0``.
Reported: tokens/s over all epochs, held-out reconstruction R², and the ratio neurrator / overcomplete.

overcomplete 0.3.0 imports torchvision and ``matplotlib.cm.get_cmap`` (removed in matplotlib 3.9) in its
package ``__init__``, so it does not import in the project's environment. Its scenario runs where it
does, e.g. a side environment:
    python3.11 -m venv /tmp/oc && /tmp/oc/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        overcomplete==0.3.0 "matplotlib<3.9" pandas==2.3.3 tqdm
    PYTHONPATH=. /tmp/oc/bin/python benchmarks/sae_throughput.py
Where it does not import, only neurrator's scenario runs and the reason is recorded.

Usage: .venv/bin/python benchmarks/sae_throughput.py [--tokens 16384] [--epochs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib
import sys

from measure import run_isolated, save

DATA = """
import time, numpy as np, torch
torch.set_num_threads({threads})
rng = np.random.default_rng(0)
atoms = rng.normal(size=(2048, 1280)); atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
def draw(n):
    codes = np.zeros((n, 2048), np.float32)
    for row in codes:
        row[rng.choice(2048, 24, replace=False)] = rng.uniform(0.5, 2.0, 24)
    return (codes @ atoms).astype(np.float32)
tokens, held_out = draw({tokens}), draw(2048)
from neurrator.models.sae import reconstruction_r2
"""

NEURRATOR = DATA + """
from neurrator.models.sae import SAEConfig, SparseAutoencoder
config = SAEConfig(n_features={features}, k={k}, aux_k=512, dead_after={tokens}, lr=4e-4, batch_size={batch},
                   epochs={epochs})
start = time.perf_counter()
sae = SparseAutoencoder(config, seed=0, progress=False).fit(tokens)
seconds = time.perf_counter() - start
_result = {{"tokens_per_s": {tokens} * {epochs} / seconds, "r2": sae.quality(held_out)["r2"]}}
"""

OVERCOMPLETE = DATA + """
from overcomplete.sae import TopKSAE, train_sae
from overcomplete.sae.losses import top_k_auxiliary_loss
torch.manual_seed(0)
scale = float(np.sqrt(1280 / np.square(tokens).sum(1).mean()))
model = TopKSAE(1280, {features}, top_k={k})
loader = torch.utils.data.DataLoader(torch.as_tensor(tokens) * scale, batch_size={batch}, shuffle=True)
start = time.perf_counter()
train_sae(model, loader, top_k_auxiliary_loss, torch.optim.Adam(model.parameters(), lr=4e-4),
          nb_epochs={epochs}, monitoring=0)
seconds = time.perf_counter() - start
model.eval()
with torch.no_grad():
    recon = model(torch.as_tensor(held_out) * scale)[2] / scale
_result = {{"tokens_per_s": {tokens} * {epochs} / seconds, "r2": reconstruction_r2(held_out, recon)}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--features", type=int, default=4096)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    fmt = vars(args)
    results = {"neurrator": run_isolated(NEURRATOR.format(**fmt))}
    try:
        importlib.import_module("overcomplete.sae")
        results["overcomplete"] = run_isolated(OVERCOMPLETE.format(**fmt))
        results["ratio_tokens_per_s"] = results["neurrator"]["tokens_per_s"] / results["overcomplete"]["tokens_per_s"]
    except Exception as err:  # ImportError, or torchvision / matplotlib errors inside its __init__
        results["overcomplete"] = f"not importable here: {type(err).__name__}: {err}"
    import torch
    payload = {"params": fmt, "python": sys.executable, "torch": torch.__version__, **results}
    for name, value in results.items():
        print(f"{name:>20}: {value}")
    print("wrote", save("sae_throughput", payload))


if __name__ == "__main__":
    main()
