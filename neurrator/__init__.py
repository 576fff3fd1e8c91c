"""Neurrator: decode spike trains from mouse visual cortex into one-sentence narrations.

One module per concern; notebooks import from here and hold no copied helpers.
"""

__version__ = "0.1.0"
