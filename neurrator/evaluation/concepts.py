"""Concept axes: how strongly a sentence speaks of a text concept ("a car or vehicle", "bright lighting").

One function, :func:`concept_scores`, and one loader, :func:`load_text_embedder`, whose embedder the
profile picks: ``demo``, SBERT (the packaged all-MiniLM-L6-v2, the book's sentence model); ``paper``,
the CLIP text tower of the CLIP whose image tower LLaVA-1.5 sees with (``openai/clip-vit-large-patch14-336``),
through transformers' ``CLIPTextModelWithProjection`` (the same OpenAI weights that open_clip loads,
without open_clip's torchvision dependency). A sentence's score on a concept is the cosine between
their embeddings; both sides are embedded by the same model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from neurrator.evaluation.scoring import embed_unique

#: LLaVA-1.5's vision tower; its text tower embeds concepts on the paper profile
CLIP_ID = "openai/clip-vit-large-patch14-336"
#: the concepts of the paper's Fig. 7 and Appendix A.7, plus "high contrast" (the demo world's PV code)
CONCEPTS = ("darkness or shadows", "a car or vehicle", "bright lighting", "a person walking", "an indoor room",
            "an outdoor street scene", "high contrast")


class ClipTextEmbedder:
    """CLIP's text tower with the ``encode`` interface of a SentenceTransformer (unit-norm rows)."""

    def __init__(self, model_id: str = CLIP_ID, device: str | None = None):
        import torch
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        self.model_id = str(model_id)
        self.device = torch.device(device or "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
        self.model = CLIPTextModelWithProjection.from_pretrained(self.model_id).eval().to(self.device)
        self.max_length = int(self.model.config.max_position_embeddings)

    def encode(self, sentences: Sequence[str], batch_size: int = 64, normalize_embeddings: bool = True, **_) -> np.ndarray:
        import torch

        rows = []
        for start in range(0, len(sentences), batch_size):
            batch = [str(s) for s in sentences[start:start + batch_size]]
            tokens = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                emb = self.model(**{k: v.to(self.device) for k, v in tokens.items()}).text_embeds.float()
            if normalize_embeddings:
                emb = torch.nn.functional.normalize(emb, dim=-1)
            rows.append(emb.cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self.model.config.projection_dim), np.float32)


def load_text_embedder(profile: str = "demo", model_id: str | None = None, device: str | None = None):
    """The profile's concept embedder: ``demo`` SBERT (memoized); ``paper`` :class:`ClipTextEmbedder`
    (``model_id``: hub id or a local folder saved with ``save_pretrained``; default :data:`CLIP_ID`)."""
    from neurrator.config import check_profile
    from neurrator.evaluation import sbert

    if check_profile(profile) == "demo":
        if model_id is not None:
            raise ValueError("the demo profile embeds concepts with its packaged SBERT; model_id is for profile 'paper'")
        return sbert.load_memoized("demo", device=device)
    return ClipTextEmbedder(model_id or CLIP_ID, device=device)


def concept_scores(embedder, sentences: Sequence[str], concepts: Sequence[str] = CONCEPTS) -> pd.DataFrame:
    """(sentences × concepts) cosine between each sentence and each concept text, in one embedding space."""
    concepts = list(concepts)
    if not concepts:
        raise ValueError("give at least one concept")
    emb = embed_unique(embedder, list(sentences)).astype(np.float64)
    axes = embed_unique(embedder, concepts).astype(np.float64)
    return pd.DataFrame(emb @ axes.T if len(emb) else np.zeros((0, len(concepts))), columns=concepts)
