"""A tiny, randomly initialised LLaVA-1.5 (CLIP vision tower + Llama) with its processor, built offline."""

from __future__ import annotations

from pathlib import Path

from tiny_models import tiny_word_tokenizer

IMAGE_SIZE = 32
PATCH_SIZE = 8
VISION_HIDDEN = 32
#: patch tokens per image, CLS excluded
NUM_PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2


def build_tiny_llava(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny ``LlavaForConditionalGeneration`` and its ``LlavaProcessor`` (configured as the
    llava-hf LLaVA-1.5 checkpoints) under ``path``; return ``path``."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    path = Path(path)
    tokenizer = tiny_word_tokenizer(extra_special_tokens=("<image>",), padding_side="left")
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
    )
    vision_config = CLIPVisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_size=VISION_HIDDEN, intermediate_size=64,
        num_hidden_layers=3, num_attention_heads=2, projection_dim=VISION_HIDDEN,
    )
    text_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision_config, text_config=text_config,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
