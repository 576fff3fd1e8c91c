"""The two built-in profiles: ``demo`` (offline, CPU, the simulated world) and ``paper`` (the paper's models and
schedules on a GPU runner, reading a real Allen cache)."""

from __future__ import annotations

from neurrator.models.sae import SAEConfig
from neurrator.models.training import EncoderConfig, TrainConfig
from neurrator.profiles.registry import Profile, register


def _demo_backend(profile, layout, field_of_view=None, device=None):
    from neurrator.vlm.demo import DemoBackend

    return DemoBackend(cache_dir=layout.models)


def _demo_scene_backend(profile, layout, backend):
    from neurrator.data.corpus import probe_corpus, probe_signature
    from neurrator.vlm.scene_words import SceneNarrator, ensure_probes

    return SceneNarrator(backend, ensure_probes(layout.scene_probes, backend, probe_corpus, probe_signature()))


def _llava_backend(profile, layout, field_of_view=None, device=None):
    from neurrator.vlm.llava import LlavaBackend

    options = {k: v for k, v in (("field_of_view", field_of_view), ("device", device)) if v is not None}
    return LlavaBackend(profile.narrator_id, **options)


def _sentence_model(profile, memoized=False, device=None):
    from neurrator.evaluation import sbert

    load = sbert.load_memoized if memoized else sbert.load_sbert
    return load(profile.name, device=device, **({"model_id": profile.sbert_id} if profile.sbert_id else {}))


def _demo_concept_embedder(profile, device=None):
    return _sentence_model(profile, memoized=True, device=device)


def _clip(profile, device=None):
    from neurrator.evaluation.concepts import ClipEmbedder

    return ClipEmbedder(profile.clip_id, device=device)


#: ``paper``: the paper's encoder and schedule. ``demo``: the same architecture, narrower (d_model 128, 64 conv
#: channels), batch 16 at lr 2e-3, a cosine schedule over 15 epochs of 1024 sampled windows (960 steps), early
#: stopping after 3 epochs that gain less than 0.003 validation cosine. Chosen on a learning curve
#: (``benchmarks/learning_curve.py`` on chapter 03's session, results/learning_curve.json) as the cheapest recipe
#: (windows seen) whose best validation cosine on the sparse-random split lies within 0.03 of its plateau: 0.77
#: against 0.80 (1,280 steps at batch 64 and lr 1e-3, 5.7x the time), held-out patch cosine 0.72 against 0.75;
#: the previous preset (6 x 1024 windows at batch 64) reached 0.50 and 0.49. How long the rate stays high
#: matters more than the windows seen: at the same 20,480 windows, batch 16 (1,280 steps) reaches 0.80, batch 32
#: 0.75, batch 64 0.66. The contiguous-middle model stops 0.07 below its plateau (0.78 vs 0.85) with the same
#: held-out cosine (0.37); chapter 05's pan-session encoder 0.02 below (0.72 vs 0.74, which a longer run then
#: loses to overfitting).
DEMO_ENCODER = (EncoderConfig(d_model=128, conv_channels=64),
                TrainConfig(lr=2e-3, batch_size=16, max_epochs=15, patience=3, min_delta=0.003, windows_per_epoch=1024,
                            val_windows=256))

#: The pan-session encoder's input layer grows with the units (1699 demo units, ~8x a single session's). The
#: learning curve (``benchmarks/learning_curve.py``, split "pan_session sparse_random") measures the demo preset
#: against a run of twice its length on this pseudo-mouse, so ``demo`` overrides nothing; ``paper`` keeps the
#: paper's schedule.
#:
#: Chapter 08's MLP-Patches baseline: its output layer (hidden 768 x 49 x 1280 on demo, 48 M weights) makes each
#: AdamW step cost about as much as a batch-64 forward and backward pass, whatever the batch; so on ``demo`` it
#: sees the preset's windows (epochs x windows per epoch) in batches of 64, a quarter of the encoder's steps.
#: ``paper`` trains it exactly as the encoder.
#:
#: CEBRA on demo: batch 256 scores as batch 512 on the demo's frame identification in a third of the time (the
#: conditional sampler's nearest-label search costs windows x batch per step).
#:
#: SAE: the demo's dictionary trains in about a minute on a CPU; the paper's (LLaVA's 1024-d CLIP tokens) is
#: sized for a GPU runner.
DEMO = register(Profile(
    name="demo", description="offline on a CPU: the simulated Allen world, EfficientNet-Lite0 + SmolLM2 narrator",
    simulated=True, offline=True,
    encoder=DEMO_ENCODER[0], training=DEMO_ENCODER[1],
    pan_session={}, mlp={"batch_size": 64},
    sae=SAEConfig(n_features=2048, k=32, aux_k=256, dead_after=50_000, lr=4e-4, batch_size=1024, epochs=4),
    cebra={"dimensions": [8, 32], "iterations": 300, "batch_size": 256},
    make_backend=_demo_backend, make_sentence_model=_sentence_model, make_concept_embedder=_demo_concept_embedder,
    make_scene_backend=_demo_scene_backend,
))

PAPER = register(Profile(
    name="paper", description="the paper's setup on a GPU runner: LLaVA-1.5, BLIP-2, SBERT and CLIP on a real Allen cache",
    simulated=False, offline=False,
    encoder=EncoderConfig(), training=TrainConfig(),
    sae=SAEConfig(n_features=8192, k=32, aux_k=512, dead_after=1_000_000, lr=2e-4, batch_size=4096, epochs=10),
    cebra={"dimensions": [128, 256, 512], "iterations": 10000, "batch_size": 512},
    narrator_id="llava-hf/llava-1.5-7b-hf", captioner_id="Salesforce/blip2-opt-2.7b",
    sbert_id="sentence-transformers/all-MiniLM-L6-v2", clip_id="openai/clip-vit-large-patch14-336",
    make_backend=_llava_backend, make_sentence_model=_sentence_model, make_concept_embedder=_clip,
    make_image_text_model=_clip,
))
