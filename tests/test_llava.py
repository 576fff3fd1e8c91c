"""LlavaBackend on a tiny random LLaVA saved to disk and loaded back through ``from_pretrained``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurrator.vlm.base import PROMPT, processor_fill, square_field_of_view
from neurrator.vlm.llava import LlavaBackend
from tiny_llava import NUM_PATCHES, VISION_HIDDEN, build_tiny_llava

MAX_NEW_TOKENS = 8


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> LlavaBackend:
    path = build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))
    return LlavaBackend(str(path), device="cpu", max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Five different grayscale frames, not of the model's input size."""
    return np.random.default_rng(0).integers(0, 256, size=(5, 40, 48), dtype=np.uint8)


@pytest.fixture(scope="module")
def targets(backend, frames) -> np.ndarray:
    return backend.compute_targets(frames)


def pixel_path(backend: LlavaBackend, frame: np.ndarray) -> tuple[dict, list[int]]:
    """The processor's inputs for one frame and the tokens LLaVA generates from its pixels."""
    image = square_field_of_view(frame[None], backend.field_of_view, processor_fill(backend.processor.image_processor))[0]
    inputs = backend.processor(text=PROMPT, images=image, return_tensors="pt")
    with torch.no_grad():
        output = backend.model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=MAX_NEW_TOKENS)
    return inputs, backend._until_eos(output[0, inputs["input_ids"].shape[1]:].tolist())


def test_grid_shape_matches_config(backend):
    vision = backend.model.config.vision_config
    assert backend.grid_shape == ((vision.image_size // vision.patch_size) ** 2, vision.hidden_size)
    assert backend.grid_shape == (NUM_PATCHES, VISION_HIDDEN)


def test_targets_are_vision_tower_layer_minus_2_without_cls(backend, frames, targets):
    assert targets.dtype == np.float32 and targets.shape == (len(frames), *backend.grid_shape)
    for frame, target in zip(frames, targets):
        inputs, _ = pixel_path(backend, frame)
        with torch.no_grad():
            hidden = backend.model.model.vision_tower(inputs["pixel_values"], output_hidden_states=True).hidden_states
        np.testing.assert_allclose(target, hidden[-2][0, 1:].numpy(), rtol=1e-5, atol=1e-5)


def test_narrating_own_targets_equals_pixel_path(backend, frames, targets):
    narrated = backend.narrate_token_ids(targets)
    for frame, tokens in zip(frames, narrated):
        inputs, pixel_tokens = pixel_path(backend, frame)
        assert torch.equal(backend.prompt_inputs["input_ids"], inputs["input_ids"])
        assert tokens == pixel_tokens
        assert len(tokens) > 0


def test_batched_narration_equals_one_by_one(backend, targets):
    grids = np.concatenate([targets, 3 * targets[:2]])
    one_by_one = [backend.narrate_token_ids(grid[None])[0] for grid in grids]
    assert backend.narrate_token_ids(grids, batch_size=3) == one_by_one
    assert backend.narrate_token_ids(grids, batch_size=len(grids)) == one_by_one


def test_different_patches_give_different_text(backend, targets):
    noise = np.random.default_rng(1).normal(0.0, 3.0, size=targets[:1].shape)
    real, scaled, noisy = backend.narrate_token_ids(np.concatenate([targets[:1], 5 * targets[:1], noise]))
    assert real != scaled and real != noisy
    assert len({tuple(tokens) for tokens in backend.narrate_token_ids(targets)}) > 1


def test_narrate_decodes_generated_tokens(backend, targets):
    sentences = backend.narrate(targets[:2], batch_size=1, progress=True)
    token_ids = backend.narrate_token_ids(targets[:2])
    tokenizer = backend.processor.tokenizer
    assert sentences == [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in token_ids]
    assert all(isinstance(sentence, str) and sentence for sentence in sentences)


def test_wrong_grid_shape_is_refused(backend):
    with pytest.raises(ValueError, match=rf"\(N, {NUM_PATCHES}, {VISION_HIDDEN}\)"):
        backend.narrate(np.zeros((1, NUM_PATCHES + 1, VISION_HIDDEN), dtype=np.float32))


def test_target_spec_is_json_and_names_layer(backend):
    spec = json.loads(json.dumps(backend.target_spec()))
    assert spec["backend"] == "llava" and spec["layer"] == -2
    assert spec["tokens"] == "hidden_states[layer][:, 1:] (CLS dropped)"
    assert spec["preprocessing"]["crop_size"] == {"height": 32, "width": 32}
    assert spec["preprocessing"]["image_mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])


def test_missing_checkpoint_gives_clear_error(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(OSError, match="local") as error:
        LlavaBackend(str(missing), device="cpu")
    assert str(missing) in str(error.value)


def test_the_field_of_view_is_explicit_recorded_and_changes_the_targets(backend, frames, targets, tmp_path_factory):
    assert backend.field_of_view == "pad" and backend.target_spec()["field_of_view"] == "pad"
    cropped = LlavaBackend(backend.model_id, device="cpu", max_new_tokens=2, field_of_view="crop")
    assert cropped.target_spec()["field_of_view"] == "crop"
    assert not np.allclose(cropped.compute_targets(frames), targets)   # a wide frame: the crop drops its sides
    with pytest.raises(ValueError, match="unknown field of view"):
        LlavaBackend(backend.model_id, device="cpu", field_of_view="stretch")
