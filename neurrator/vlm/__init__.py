"""Frozen vision–language backends behind one interface (:class:`VisionLanguageBackend`).

``load_backend("demo")`` gives the offline EfficientNet-Lite0 + SmolLM2 backend,
``load_backend("paper")`` LLaVA-1.5 (``llava-hf/llava-1.5-7b-hf`` unless ``model_id`` says otherwise).
"""

from __future__ import annotations

from neurrator.vlm.base import PROMPT, VisionLanguageBackend, check_grids, frames_to_rgb

__all__ = ["PROMPT", "VisionLanguageBackend", "check_grids", "frames_to_rgb", "load_backend"]


def load_backend(profile: str = "demo", model_id: str | None = None, **kwargs) -> VisionLanguageBackend:
    """The backend of a profile; ``model_id`` (paper only) and other keywords go to its constructor."""
    from neurrator.config import check_profile

    if check_profile(profile) == "demo":
        from neurrator.vlm.demo import DemoBackend

        return DemoBackend(**kwargs)
    from neurrator.vlm.llava import DEFAULT_MODEL_ID, LlavaBackend

    return LlavaBackend(model_id or DEFAULT_MODEL_ID, **kwargs)
