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


class ClipEmbedder:
    """A CLIP with the ``encode`` interface of a SentenceTransformer (unit-norm rows), and
    :meth:`encode_images` in the same space where the checkpoint has an image tower.

    A full CLIP checkpoint (``model_type`` "clip", e.g. :data:`CLIP_ID`) loads as ``CLIPModel`` and its
    texts are embedded by ``get_text_features`` (the model's own text projection); a text-only checkpoint
    loads as ``CLIPTextModelWithProjection`` (texts only)."""

    def __init__(self, model_id: str = CLIP_ID, device: str | None = None):
        import torch
        from transformers import AutoConfig, AutoTokenizer, CLIPModel, CLIPTextModelWithProjection

        self.model_id = str(model_id)
        self.device = torch.device(device or "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
        self.has_images = AutoConfig.from_pretrained(self.model_id).model_type == "clip"
        model_class = CLIPModel if self.has_images else CLIPTextModelWithProjection
        self.model = model_class.from_pretrained(self.model_id).eval().to(self.device)
        text_config = self.model.config.text_config if self.has_images else self.model.config
        self.max_length = int(text_config.max_position_embeddings)
        if self.has_images:
            from transformers import AutoImageProcessor

            self.image_processor = AutoImageProcessor.from_pretrained(self.model_id)

    @staticmethod
    def _pooled(out):
        return out if hasattr(out, "float") else out.pooler_output   # transformers 5: the projected output

    def _batched(self, items: Sequence, batch_size: int, embed, normalize: bool) -> np.ndarray:
        import torch

        rows = []
        for start in range(0, len(items), batch_size):
            with torch.inference_mode():
                emb = embed(items[start:start + batch_size]).float()
            rows.append((torch.nn.functional.normalize(emb, dim=-1) if normalize else emb).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self.model.config.projection_dim), np.float32)

    def encode(self, sentences: Sequence[str], batch_size: int = 64, normalize_embeddings: bool = True, **_) -> np.ndarray:
        def embed(batch):
            tokens = self.tokenizer([str(s) for s in batch], padding=True, truncation=True, max_length=self.max_length,
                                    return_tensors="pt")
            tokens = {k: v.to(self.device) for k, v in tokens.items()}
            return self._pooled(self.model.get_text_features(**tokens)) if self.has_images else self.model(**tokens).text_embeds

        return self._batched(list(sentences), batch_size, embed, normalize_embeddings)

    def encode_images(self, frames: np.ndarray, batch_size: int = 32, normalize_embeddings: bool = True) -> np.ndarray:
        """uint8 frames ``(N, H, W)`` (grayscale, repeated to RGB) or ``(N, H, W, 3)`` -> image embeddings."""
        from neurrator.vlm.base import frames_to_rgb

        if not self.has_images:
            raise ValueError(f"{self.model_id} is a text-only CLIP checkpoint: image-text scores need a full CLIP "
                             f"(both towers, e.g. {CLIP_ID})")

        def embed(batch):
            pixels = self.image_processor(images=list(frames_to_rgb(np.asarray(batch))), return_tensors="pt")["pixel_values"]
            return self._pooled(self.model.get_image_features(pixel_values=pixels.to(self.device)))

        return self._batched(np.asarray(frames), batch_size, embed, normalize_embeddings)


def load_text_embedder(profile: str = "demo", model_id: str | None = None, device: str | None = None):
    """The profile's concept embedder: ``demo`` SBERT (memoized); ``paper`` :class:`ClipEmbedder`
    (``model_id``: hub id or a local folder saved with ``save_pretrained``; default :data:`CLIP_ID`)."""
    from neurrator.config import check_profile
    from neurrator.evaluation import sbert

    if check_profile(profile) == "demo":
        if model_id is not None:
            raise ValueError("the demo profile embeds concepts with its packaged SBERT; model_id is for profile 'paper'")
        return sbert.load_memoized("demo", device=device)
    return ClipEmbedder(model_id or CLIP_ID, device=device)


def concept_scores(embedder, sentences: Sequence[str], concepts: Sequence[str] = CONCEPTS) -> pd.DataFrame:
    """(sentences × concepts) cosine between each sentence and each concept text, in one embedding space."""
    concepts = list(concepts)
    if not concepts:
        raise ValueError("give at least one concept")
    emb = embed_unique(embedder, list(sentences)).astype(np.float64)
    axes = embed_unique(embedder, concepts).astype(np.float64)
    return pd.DataFrame(emb @ axes.T if len(emb) else np.zeros((0, len(concepts))), columns=concepts)
