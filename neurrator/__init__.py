"""Neurrator: decode spike trains from mouse visual cortex into one-sentence narrations.

One module per concern; notebooks import from here and hold no copied helpers.
"""

import warnings

__version__ = "0.1.0"

# tqdm.auto warns inside kernels without ipywidgets; the book shows text progress bars instead.
warnings.filterwarnings("ignore", message="IProgress not found")
