"""Neurrator: decode spike trains from mouse visual cortex into one-sentence narrations.

Subpackages follow the pipeline: ``world`` (the simulated demo world, written as an Allen cache),
``data`` (sessions, binning, splits, windows), ``vlm`` (target and caption models, the target store),
``models`` (spike encoders, objectives, training, the sparse autoencoder), ``evaluation`` (metrics,
scoring, narration, headline results) and ``book`` (running the notebooks). Importing the package
changes no global state.
"""

__version__ = "0.1.0"
