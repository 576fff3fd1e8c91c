"""Reference captions of stimulus frames from BLIP-2 (frozen, greedy, deterministic).

The ``paper`` profile scores narrations decoded from neural data against these captions.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from tqdm import tqdm

from .base import check_field_of_view, load_frozen, processor_fill, resolve_device, resolve_dtype, square_field_of_view

DEFAULT_MODEL_ID = "Salesforce/blip2-opt-2.7b"


class Blip2Captioner:
    """One caption per frame from a frozen BLIP-2 model (greedy decoding, no sampling)."""

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL_ID,
        revision: str | None = None,
        device: str = "auto",
        dtype: torch.dtype | str | None = None,
        max_new_tokens: int = 30,
        prompt: str | None = None,
        field_of_view: str = "pad",
    ):
        from transformers import Blip2ForConditionalGeneration

        self.field_of_view = check_field_of_view(field_of_view)
        self.model_id = str(model_id)
        self.revision = revision
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_new_tokens = int(max_new_tokens)
        self.prompt = prompt
        self.model, self.processor, self.commit_hash = load_frozen(
            Blip2ForConditionalGeneration, self.model_id, revision, self.dtype, self.device, "BLIP-2")
        self._prompt_ids = self._build_prompt_ids()

    def _build_prompt_ids(self) -> torch.Tensor:
        """``(1, L)`` ids that precede the caption: the image placeholders, then BOS or the tokenised prompt.

        Without a prompt this is exactly what ``Blip2ForConditionalGeneration.generate`` builds itself; with
        one it is what ``Blip2Processor`` builds (image placeholders ahead of the text, BOS included).
        """
        config = self.model.config
        if config.image_token_index is None:
            raise ValueError(
                f"BLIP-2 model {self.model_id!r} has no image_token_index in its config; "
                "re-save it with a recent transformers release"
            )
        image_ids = [config.image_token_index] * config.num_query_tokens
        if self.prompt is None:
            text_ids = [config.text_config.bos_token_id]
        else:
            text_ids = self.processor.tokenizer(self.prompt).input_ids
        return torch.tensor([image_ids + text_ids], dtype=torch.long)

    @torch.no_grad()
    def _generate_new_ids(self, rgb: np.ndarray) -> torch.Tensor:
        """Greedy generation for one batch of RGB frames; returns only the newly generated token ids."""
        pixel_values = self.processor.image_processor(images=list(rgb), return_tensors="pt").pixel_values
        input_ids = self._prompt_ids.expand(len(rgb), -1).to(self.device)
        output_ids = self.model.generate(
            pixel_values=pixel_values.to(self.device, self.dtype),
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.max_new_tokens,
        )
        # transformers 5.x returns prompt + new tokens for decoder-only language models (OPT); older
        # releases returned only the new ones. Strip the prompt only when it is there.
        prompt_len = input_ids.shape[1]
        if output_ids.shape[1] >= prompt_len and torch.equal(output_ids[:, :prompt_len], input_ids):
            output_ids = output_ids[:, prompt_len:]
        return output_ids

    def caption(self, frames: np.ndarray, batch_size: int = 16, progress: bool = False) -> list[str]:
        """One caption per uint8 frame ``(N, H, W)`` or ``(N, H, W, 3)``, in order."""
        rgb = square_field_of_view(frames, self.field_of_view, processor_fill(self.processor.image_processor))
        starts = range(0, len(rgb), batch_size)
        captions: list[str] = []
        for start in tqdm(starts, desc="BLIP-2 captions", unit="batch", disable=not progress):
            new_ids = self._generate_new_ids(rgb[start : start + batch_size])
            texts = self.processor.tokenizer.batch_decode(new_ids, skip_special_tokens=True)
            captions.extend(text.strip() for text in texts)
        return captions

    def spec(self) -> dict:
        """JSON-able description of how captions are made, for the caption store's sidecar."""
        image_processor = self.processor.image_processor
        return {
            "backend": "blip2",
            "model_id": self.model_id,
            "revision": self.revision,
            "commit_hash": self.commit_hash,
            "dtype": str(self.dtype).removeprefix("torch."),
            "decoding": "greedy",
            "max_new_tokens": self.max_new_tokens,
            "prompt": self.prompt,
            "field_of_view": self.field_of_view,
            "image_processor": {
                "class": type(image_processor).__name__,
                **json.loads(image_processor.to_json_string()),
            },
        }
