"""The profile registry: one place names each profile's models and presets; notebooks never branch on a profile."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from neurrator import profiles
from neurrator.config import PROFILES
from neurrator.models.sae import SAEConfig
from neurrator.models.training import EncoderConfig, TrainConfig

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_every_known_profile_is_registered_with_its_presets():
    assert profiles.names() == PROFILES
    demo, paper = profiles.get("demo"), profiles.get("paper")
    assert paper.encoder_preset() == (EncoderConfig(), TrainConfig())
    encoder, train = demo.encoder_preset(max_epochs=3, d_model=64)
    assert (encoder.d_model, encoder.conv_channels, train.max_epochs, train.batch_size) == (64, 64, 3, 16)
    assert demo.mlp_preset()[1].batch_size == 64 and paper.mlp_preset()[1].batch_size == paper.training.batch_size
    assert isinstance(demo.sae_preset(), SAEConfig) and demo.sae_preset(k=8).k == 8
    assert demo.cebra_preset(iterations=None)["iterations"] == demo.cebra["iterations"]
    assert demo.cebra_preset(iterations=50)["iterations"] == 50
    assert demo.simulated and not paper.simulated


@pytest.mark.parametrize("call, match", [
    (lambda: profiles.get("demo").encoder_preset(learning_rate=1), "unknown training option"),
    (lambda: profiles.get("demo").sae_preset(width=3), "unknown SAE option"),
    (lambda: profiles.get("demo").cebra_preset(epochs=3), "unknown CEBRA option"),
    (lambda: profiles.get("gpu"), "unknown profile 'gpu'"),
    (lambda: profiles.get("demo", llava_model_id="my/llava"), "llava_model_id is for profile 'paper'"),
    (lambda: profiles.get("paper", vicuna_id="x"), "unknown model parameter"),
])
def test_bad_requests_are_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_model_ids_reach_the_paper_profile_and_defaults_pass_on_demo():
    paper = profiles.get("paper", llava_model_id="/models/llava", sbert_model_id=None)
    assert paper.narrator_id == "/models/llava" and paper.sbert_id == profiles.get("paper").sbert_id
    default = profiles.get("paper").narrator_id
    assert profiles.get("demo", llava_model_id=default) is profiles.get("demo")   # a notebook's default is not a choice
    assert paper.narrator_name(object()) == "/models/llava"
    with pytest.raises(ValueError, match="already registered"):
        profiles.register(profiles.get("demo"))


def test_a_profile_pickles_for_sweep_workers():
    assert pickle.loads(pickle.dumps(profiles.get("paper", clip_model_id="x/clip"))).clip_id == "x/clip"


def test_no_notebook_branches_on_the_profile_name():
    found = [f"{path.name}:{number}" for path in sorted(NOTEBOOKS.glob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"profile\s*[!=]=|[!=]=\s*profile\b|\[profile\]", line)]
    assert found == [], "ask neurrator.profiles instead of branching on the profile's name"
