"""The notebook parameters that several chapters share, declared once: each chapter that takes one declares it
with this name and this default (``tests/test_parameters.py`` reads every parameters cell), so ``-p name value``
means the same thing in every chapter of a chain."""

from __future__ import annotations

from neurrator import profiles

_PAPER = profiles.get("paper")

#: name -> default
SHARED: dict[str, object] = {
    "profile": "demo",
    "data_dir": None,
    "cache_dir": None,
    "seed": 0,
    "device": "auto",
    "retrain": False,
    "session_id": None,
    "stimulus": "natural_movie_one",
    "second_stimulus": "natural_movie_three",
    "second_stimulus_regimes": ["sparse_random", "contiguous_middle"],
    "scenes": "natural_scenes",
    "split_fractions": [0.7, 0.15, 0.15],
    "train_options": {},
    "narration_batch_size": 32,
    "llava_model_id": _PAPER.narrator_id,
    "blip2_model_id": _PAPER.captioner_id,
    "sbert_model_id": _PAPER.sbert_id,
    "clip_model_id": _PAPER.clip_id,
}

#: old names a chapter must not declare (a user's ``-p`` of the old name would reach some chapters only)
RENAMED = {"movie": "stimulus", "second_movie": "second_stimulus", "second_movie_regimes": "second_stimulus_regimes"}
