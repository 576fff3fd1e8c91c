"""Chapter 08's baselines side by side: fit time and peak memory of each, on chapter 03's sparse-random split.

Each method is fitted on the training windows of chapter 03's sparse-random split of its session (the demo
data directory must hold chapters 01-03) in a fresh process (``measure.run_isolated``), so each peak RSS is
its own: Ridge -> patches, MLP-Patches (one pass of the demo schedule), CEBRA + KNN at each dimension of
the demo sweep (at batch 256, the chapter's, and 512), PCA + KNN; the encoder's own training time is read from its saved history. A second
comparison times ``baselines.FrameBasis`` (Gram-matrix eigendecomposition) against
``sklearn.decomposition.PCA(svd_solver="full")`` on the same 810 training grids (the ratio is the reason
FrameBasis exists).

Usage: .venv/bin/python benchmarks/baselines.py [--data-dir DIR] [--cebra-iterations 300]
"""

from __future__ import annotations

import argparse

from measure import run_isolated, save

SETUP = """
import time, numpy as np, torch
torch.set_num_threads(2)
from neurrator.layout import DataLayout
from neurrator.vlm.targets import PatchTargetStore
from neurrator.data.binning import BinnedStimulus
from neurrator.data import splits
from neurrator.data.windows import SpikeWindows
from neurrator.models import baselines
from neurrator import profiles
from neurrator.models.training import SpikeDecoder
layout = DataLayout.resolve({data_dir!r}, "demo")
(session,) = layout.trained_sessions()
targets = PatchTargetStore(layout.targets).open("natural_movie_one")
binned = BinnedStimulus.of_session(layout, session, "natural_movie_one")
split = splits.read_split(layout.split(session, "natural_movie_one", "sparse_random"), made_by="03_train")
encoder = SpikeDecoder.load(layout.decoder(session, "natural_movie_one", "sparse_random"), made_by="03_train")
_, config = profiles.get("demo").encoder_preset()
part = lambda p, augment=False: SpikeWindows(binned.counts, binned.frame, split.centres[p], *encoder.zscore_,
                                             jitter=config.jitter if augment else 0,
                                             neuron_dropout=config.neuron_dropout if augment else 0.0)
train, val = part(splits.TRAIN, True), part(splits.VAL)
"""

METHODS = {
    "Ridge": "model = baselines.RidgePatches().fit(train, targets); seconds, params = model.fit_seconds_, model.n_params_",
    "MLP-Patches": """
import tempfile
encoder_config, train_config = profiles.get("demo").encoder_preset()
model = SpikeDecoder("mlp_patches", encoder_config, train_config, checkpoint_dir=tempfile.mkdtemp())
t0 = time.perf_counter(); model.fit(train, val, targets); seconds = time.perf_counter() - t0
params = sum(p.numel() for p in model.model_.parameters())""",
    "PCA + KNN": "model = baselines.PCAKNN().fit(train, targets); seconds, params = model.fit_seconds_, model.n_params_",
}
CEBRA = ("model = baselines.CebraKNN(output_dimension={d}, max_iterations={iterations}, batch_size={batch})"
         ".fit(train, targets); "
         "seconds, params = model.fit_seconds_, model.n_params_")
BASIS = """
from sklearn.decomposition import PCA
frames = np.unique(train.frames[train.centres])
grids = targets.rows(frames).reshape(len(frames), -1)
t0 = time.perf_counter(); basis = baselines.FrameBasis().fit(grids); seconds = time.perf_counter() - t0
params = basis.n_components_
if {method!r} == "sklearn PCA (full SVD)":
    t0 = time.perf_counter(); pca = PCA(svd_solver="full").fit(grids); seconds = time.perf_counter() - t0
    params = int((pca.explained_variance_ > 1e-6 * pca.explained_variance_[0]).sum())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cebra-iterations", type=int, default=300)
    parser.add_argument("--cebra-dimensions", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--cebra-batch-sizes", type=int, nargs="+", default=[256, 512],
                        help="the chapter's demo batch (256) beside CEBRA's usual 512")
    args = parser.parse_args()
    setup = SETUP.format(data_dir=args.data_dir)
    methods = dict(METHODS)
    for d in args.cebra_dimensions:
        for batch in args.cebra_batch_sizes:
            methods[f"CEBRA-{d} + KNN (batch {batch})"] = CEBRA.format(d=d, iterations=args.cebra_iterations, batch=batch)
    rows = {}
    for name, code in methods.items():
        rows[name] = run_isolated(setup + code + "\n_result = {'fit_s': round(seconds, 2), 'parameters': int(params)}\n")
        print(f"{name:20s} fit {rows[name]['fit_s']:8.1f} s  peak RSS {rows[name]['peak_rss_mb']:8.0f} MB  "
              f"parameters {rows[name]['parameters']:,}")
    encoder = run_isolated(setup + "_result = {'fit_s': round(float(encoder.history_['seconds'].sum()), 2), "
                                   "'parameters': sum(p.numel() for p in encoder.model_.parameters())}\n")
    rows["Neurrator encoder (chapter 03, from its history)"] = {k: v for k, v in encoder.items() if k != "peak_rss_mb"}
    basis = {m: run_isolated(setup + BASIS.format(method=m) + "\n_result = {'fit_s': round(seconds, 2), 'components': int(params)}\n")
             for m in ("FrameBasis (Gram eigh)", "sklearn PCA (full SVD)")}
    ratio = basis["sklearn PCA (full SVD)"]["fit_s"] / basis["FrameBasis (Gram eigh)"]["fit_s"]
    print(f"basis of the training grids: FrameBasis {basis['FrameBasis (Gram eigh)']['fit_s']:.2f} s, sklearn PCA "
          f"{basis['sklearn PCA (full SVD)']['fit_s']:.2f} s: {ratio:.1f}x")
    path = save("baselines", {"methods": rows, "grid basis": basis, "PCA / FrameBasis time": round(ratio, 1),
                              "cebra_iterations": args.cebra_iterations})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
