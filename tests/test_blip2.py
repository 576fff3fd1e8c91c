"""Blip2Captioner on a tiny random BLIP-2 saved to disk and loaded back through from_pretrained."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurrator.vlm.blip2 import Blip2Captioner
from tiny_models import build_tiny_blip2

NUM_QUERY_TOKENS = 4
IMAGE_SIZE = 32
#: wide random weights so the tiny model says varied, non-empty things (a 0.02 init mostly repeats BOS)
INIT_STD = 1.0
MAX_NEW_TOKENS = 5


@pytest.fixture(scope="module")
def tiny_blip2_dir(tmp_path_factory):
    """A tiny random Blip2ForConditionalGeneration + Blip2Processor, saved with save_pretrained."""
    return build_tiny_blip2(tmp_path_factory.mktemp("tiny_blip2"), image_size=IMAGE_SIZE,
                            num_query_tokens=NUM_QUERY_TOKENS, init_std=INIT_STD)


@pytest.fixture(scope="module")
def captioner(tiny_blip2_dir):
    return Blip2Captioner(str(tiny_blip2_dir), device="cpu", max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, size=(5, 40, 48, 3), dtype=np.uint8)


def test_one_string_caption_per_frame(captioner, frames):
    captions = captioner.caption(frames, batch_size=2, progress=True)
    assert len(captions) == len(frames)
    assert all(isinstance(text, str) and text == text.strip() for text in captions)
    assert any(captions), "the tiny model should say something for at least one frame"
    assert all(len(text.split()) <= MAX_NEW_TOKENS for text in captions)


def test_deterministic(captioner, frames):
    assert captioner.caption(frames) == captioner.caption(frames)


def test_batched_equals_one_by_one(captioner, frames):
    batched = captioner.caption(frames, batch_size=len(frames))
    one_by_one = [captioner.caption(frame[None])[0] for frame in frames]
    assert batched == one_by_one


def test_grayscale_matches_repeated_rgb(captioner, frames):
    gray = frames[..., 0]
    captions = captioner.caption(gray)
    assert len(captions) == len(gray)
    assert captions == captioner.caption(np.repeat(gray[..., None], 3, axis=-1))


def test_float_frames_rejected(captioner, frames):
    with pytest.raises(TypeError, match="uint8"):
        captioner.caption(frames.astype(np.float32))


def test_prompt_is_not_part_of_the_caption(tiny_blip2_dir, frames):
    prompt = "Describe this scene in one sentence."
    prompted = Blip2Captioner(str(tiny_blip2_dir), device="cpu", max_new_tokens=2, prompt=prompt)
    captions = prompted.caption(frames[:2])
    assert len(captions) == 2
    assert all(len(text.split()) <= 2 for text in captions)  # the prompt alone has 6 words
    assert prompted.spec()["prompt"] == prompt


def test_missing_model_gives_clear_error(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(OSError, match="local path") as excinfo:
        Blip2Captioner(str(missing), device="cpu")
    assert str(missing) in str(excinfo.value)
    assert "offline" in str(excinfo.value)


def test_spec_is_json_serialisable(captioner, tiny_blip2_dir):
    spec = json.loads(json.dumps(captioner.spec()))
    assert spec["backend"] == "blip2"
    assert spec["model_id"] == str(tiny_blip2_dir)
    assert spec["max_new_tokens"] == MAX_NEW_TOKENS
    assert spec["prompt"] is None
    assert spec["dtype"] == "float32"
    assert spec["image_processor"]["size"] == {"height": IMAGE_SIZE, "width": IMAGE_SIZE}


def test_captions_see_the_field_of_view_of_the_targets(captioner, tiny_blip2_dir):
    from neurrator.vlm.captions import reference_captions

    assert captioner.field_of_view == "pad" and captioner.spec()["field_of_view"] == "pad"

    class Backend:  # stands in for a paper backend: only its field of view matters here
        field_of_view = "crop"

    frames = np.random.default_rng(1).integers(0, 256, size=(2, 16, 32), dtype=np.uint8)
    _, spec = reference_captions("paper", frames, None, Backend(), blip2_model_id=str(tiny_blip2_dir))
    assert spec["field_of_view"] == "crop"
