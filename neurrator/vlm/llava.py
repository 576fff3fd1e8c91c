"""LLaVA-1.5 as a Neurrator backend (the ``paper`` profile).

Targets are the CLIP vision tower's patch tokens at the layer LLaVA reads (``vision_feature_layer``, -2 for
LLaVA-1.5), CLS dropped. Narration replaces the vision tower's output with a (predicted) grid: the grid goes
through LLaVA's own multimodal projector and into ``generate`` as pre-computed image features
(``mm_encoder_outputs``), after a prompt tokenised exactly as the processor does for a real image.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from .base import (PROMPT, VisionLanguageBackend, check_field_of_view, check_grids, load_frozen, processor_fill,
                   resolve_device, resolve_dtype, square_field_of_view)

DEFAULT_MODEL_ID = "llava-hf/llava-1.5-7b-hf"
#: frames per vision-tower forward pass in :meth:`LlavaBackend.compute_targets`
TARGET_CHUNK = 16
#: image-processor settings recorded in :meth:`LlavaBackend.target_spec`
PREPROCESSING_KEYS = (
    "image_processor_type", "do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size",
    "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "do_pad",
)


class LlavaBackend(VisionLanguageBackend):
    """A frozen LLaVA-1.5 checkpoint (hub id + revision, or a local directory) as a narrator."""

    name = "llava"

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL_ID,
        revision: str | None = None,
        device: str = "auto",
        dtype: torch.dtype | str | None = None,
        max_new_tokens: int = 60,
        prompt: str = PROMPT,
        field_of_view: str = "pad",
    ):
        from transformers import LlavaForConditionalGeneration

        self.field_of_view = check_field_of_view(field_of_view)
        self.model_id = str(model_id)
        self.revision = revision
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_new_tokens = max_new_tokens
        self.prompt = prompt
        self.model, self.processor, self.commit_hash = load_frozen(
            LlavaForConditionalGeneration, self.model_id, revision, self.dtype, self.device, "LLaVA")
        config = self.model.config
        if not isinstance(config.vision_feature_layer, int) or config.vision_feature_select_strategy != "default":
            raise ValueError(
                f"{self.model_id!r} reads vision layer(s) {config.vision_feature_layer} with strategy "
                f"{config.vision_feature_select_strategy!r}; this backend supports one layer with the CLS token "
                "dropped ('default'), as LLaVA-1.5"
            )
        self.layer = config.vision_feature_layer
        self.prompt_inputs = self._tokenize_prompt()

    @property
    def grid_shape(self) -> tuple[int, int]:
        vision = self.model.config.vision_config
        return ((vision.image_size // vision.patch_size) ** 2, vision.hidden_size)

    def target_spec(self) -> dict:
        image_processor = self.processor.image_processor
        settings = json.loads(image_processor.to_json_string())
        return {
            "backend": self.name,
            "model_id": self.model_id,
            "revision": self.commit_hash or self.revision,
            "layer": self.layer,
            "tokens": "hidden_states[layer][:, 1:] (CLS dropped)",
            "grid_shape": list(self.grid_shape),
            "image_processor": type(image_processor).__name__,
            "field_of_view": self.field_of_view,
            "preprocessing": {key: settings[key] for key in PREPROCESSING_KEYS if key in settings},
        }

    @torch.no_grad()
    def compute_targets(self, frames: np.ndarray) -> np.ndarray:
        rgb = square_field_of_view(frames, self.field_of_view, processor_fill(self.processor.image_processor))
        vision_tower = self.model.model.vision_tower
        grids = []
        for start in range(0, len(rgb), TARGET_CHUNK):
            images = list(rgb[start:start + TARGET_CHUNK])
            pixel_values = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
            outputs = vision_tower(pixel_values.to(self.device, self.dtype), output_hidden_states=True)
            grids.append(outputs.hidden_states[self.layer][:, 1:].float().cpu().numpy())
        if not grids:
            return np.zeros((0, *self.grid_shape), dtype=np.float32)
        return np.concatenate(grids)

    def narrate(self, grids: np.ndarray, batch_size: int = 32, progress: bool = False) -> list[str]:
        token_ids = self.narrate_token_ids(grids, batch_size=batch_size, progress=progress)
        return [text.strip() for text in self.processor.batch_decode(token_ids, skip_special_tokens=True)]

    @torch.no_grad()
    def narrate_token_ids(self, grids: np.ndarray, batch_size: int = 32, progress: bool = False) -> list[list[int]]:
        """The generated token ids (prompt excluded) for each grid, greedy."""
        grids = check_grids(grids, self.grid_shape)
        starts = range(0, len(grids), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="narrating", unit="batch")
        token_ids: list[list[int]] = []
        for start in starts:
            token_ids.extend(self._generate(grids[start:start + batch_size]))
        return token_ids

    def _generate(self, grids: np.ndarray) -> list[list[int]]:
        """Greedy generation with ``grids`` in place of the vision tower's output."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        patches = torch.from_numpy(grids).to(self.device, self.dtype)
        image_features = self.model.model.multi_modal_projector(patches)
        input_ids = self.prompt_inputs["input_ids"].repeat(len(grids), 1)
        attention_mask = self.prompt_inputs["attention_mask"].repeat(len(grids), 1)
        generated = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            # one (image tokens, text hidden) tensor per image, as get_image_features returns for pixels
            mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=list(image_features))},
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.max_new_tokens,
        )
        return [self._until_eos(row) for row in generated[:, input_ids.shape[1]:].tolist()]

    def _until_eos(self, token_ids: list[int]) -> list[int]:
        """Tokens before the first end-of-sequence token (a batch pads the sequences that stopped early)."""
        eos = self.model.generation_config.eos_token_id
        stop_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        end = next((i for i, token in enumerate(token_ids) if token in stop_ids), len(token_ids))
        return token_ids[:end]

    def _tokenize_prompt(self) -> dict[str, torch.Tensor]:
        """The prompt with ``<image>`` expanded to the image tokens, exactly as the processor does for pixels.

        A blank image goes through the processor and its pixel values are dropped: the expansion depends only
        on the processed image size, which the processor fixes.
        """
        size = self.model.config.vision_config.image_size
        blank = np.zeros((size, size, 3), dtype=np.uint8)
        inputs = self.processor(text=self.prompt, images=blank, return_tensors="pt")
        n_image_tokens = int((inputs["input_ids"] == self.model.config.image_token_id).sum())
        if n_image_tokens != self.grid_shape[0]:
            raise ValueError(
                f"the prompt must hold one image placeholder expanding to {self.grid_shape[0]} image tokens, "
                f"got {n_image_tokens} (prompt {self.prompt!r})"
            )
        return {key: inputs[key].to(self.device) for key in ("input_ids", "attention_mask")}
