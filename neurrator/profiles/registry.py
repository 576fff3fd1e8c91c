"""The :class:`Profile` record and the name -> profile registry."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from neurrator.config import with_overrides

_REGISTRY: dict[str, "Profile"] = {}

#: the notebook parameters that name a model, and the :class:`Profile` field each one sets
MODEL_PARAMETERS = {"llava_model_id": "narrator_id", "blip2_model_id": "captioner_id",
                    "sbert_model_id": "sbert_id", "clip_model_id": "clip_id"}


@dataclass(frozen=True)
class Profile:
    """One profile: its models (ids and factories), its presets, and whether its world is simulated.

    ``simulated``: the Allen cache is the simulated demo world, whose ground truth (planted codes, cell types,
    content descriptions) the chapters may check against. ``offline``: every model ships with the install, so
    model ids are not parameters (a given one is refused rather than ignored).
    """

    name: str
    description: str
    simulated: bool
    offline: bool
    encoder: Any                      # EncoderConfig
    training: Any                     # TrainConfig
    sae: Any                          # SAEConfig
    pan_session: Mapping[str, Any] = field(default_factory=dict)   # overrides of the preset, every session's units
    mlp: Mapping[str, Any] = field(default_factory=dict)           # overrides of the preset, 08's MLP baseline
    cebra: Mapping[str, Any] = field(default_factory=dict)         # 08's CEBRA-KNN: dimensions, iterations, batch size
    narrator_id: str | None = None
    captioner_id: str | None = None
    sbert_id: str | None = None
    clip_id: str | None = None
    make_backend: Callable[..., Any] | None = None
    make_sentence_model: Callable[..., Any] | None = None
    make_concept_embedder: Callable[..., Any] | None = None
    make_image_text_model: Callable[..., Any] | None = None
    make_scene_backend: Callable[..., Any] | None = None

    # models -------------------------------------------------------------------------------------------------
    def with_models(self, **ids: str | None) -> "Profile":
        """This profile with the model ids given as notebook parameters (``llava_model_id``, ``sbert_model_id``,
        ``clip_model_id``, ``blip2_model_id``). On an offline profile an id other than the paper's default is an
        error: its models are packaged, and silently ignoring the id would be wrong."""
        unknown = set(ids) - set(MODEL_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown model parameter(s) {sorted(unknown)}; choose from {sorted(MODEL_PARAMETERS)}")
        if self.offline:
            reference = get("paper")
            moved = sorted(k for k, v in ids.items() if v is not None and v != getattr(reference, MODEL_PARAMETERS[k]))
            if moved:
                raise ValueError(f"profile {self.name!r} uses its packaged models; {', '.join(moved)} "
                                 f"is for profile 'paper' (run with -p profile paper, or leave it at its default)")
            return self
        return replace(self, **{MODEL_PARAMETERS[k]: v for k, v in ids.items() if v is not None})

    def backend(self, layout, *, field_of_view: str | None = None, device: str | None = None):
        """The frozen vision-language backend (``layout`` gives the demo's model cache). ``field_of_view`` and
        ``device`` reach a backend that has them (the paper's LLaVA); the demo's reads whole frames on the CPU."""
        return self.make_backend(self, layout, field_of_view=field_of_view, device=device)

    def scene_backend(self, layout, backend):
        """The narrator with layout and attribute words beside ``backend``'s object-only one (the ``demo`` profile's
        ablation; None where the narrator reads them itself, as the paper's LLaVA does)."""
        return self.make_scene_backend(self, layout, backend) if self.make_scene_backend else None

    def sentence_model(self, memoized: bool = False, device: str | None = None):
        """The sentence model that scores narrations (``memoized``: each distinct sentence embedded once)."""
        return self.make_sentence_model(self, memoized=memoized, device=device)

    def concept_embedder(self, device: str | None = None):
        """The embedder that puts sentences and concept texts in one space (chapter 06's concept axes)."""
        return self.make_concept_embedder(self, device=device)

    def image_text_model(self, device: str | None = None):
        """An image-text model scoring frames against concept texts (paper: CLIP), or None where there is none."""
        return self.make_image_text_model(self, device=device) if self.make_image_text_model else None

    def narrator_name(self, backend) -> str:
        """What made the narrations, for provenance: the model id (paper) or the backend's name (demo)."""
        return self.narrator_id or backend.name

    @property
    def sbert_name(self) -> str:
        return self.sbert_id or self.name

    # presets ------------------------------------------------------------------------------------------------
    def encoder_preset(self, **overrides: Any):
        """``(EncoderConfig, TrainConfig)``: the profile's encoder and schedule with ``overrides`` applied."""
        return with_overrides((self.encoder, self.training), overrides, what="training option")

    def pan_session_preset(self, **overrides: Any):
        """The encoder preset for every session's units (the profile's pan-session overrides, then yours)."""
        return self.encoder_preset(**{**self.pan_session, **overrides})

    def mlp_preset(self, **overrides: Any):
        """The preset for chapter 08's MLP-Patches baseline."""
        return self.encoder_preset(**{**self.mlp, **overrides})

    def sae_preset(self, **overrides: Any):
        """The profile's :class:`~neurrator.models.sae.SAEConfig` with ``overrides``."""
        (config,) = with_overrides((self.sae,), overrides, what="SAE option")
        return config

    def cebra_preset(self, **overrides: Any) -> dict[str, Any]:
        """CEBRA-KNN's settings (``dimensions``, ``iterations``, ``batch_size``); a None override keeps the preset."""
        unknown = set(overrides) - set(self.cebra)
        if unknown:
            raise ValueError(f"unknown CEBRA option(s) {sorted(unknown)}; choose from {sorted(self.cebra)}")
        return {k: (v if overrides.get(k) in (None, [], 0) else overrides[k]) for k, v in self.cebra.items()}


def register(profile: Profile) -> Profile:
    """Add ``profile`` to the registry (a name is registered once)."""
    if profile.name in _REGISTRY:
        raise ValueError(f"profile {profile.name!r} is already registered")
    _REGISTRY[profile.name] = profile
    return profile


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str, **model_ids: str | None) -> Profile:
    """The registered profile ``name``, with the model ids given as notebook parameters (see :meth:`Profile.with_models`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown profile {name!r}: use one of {', '.join(_REGISTRY)} (e.g. `neurrator run -p profile demo`)")
    return _REGISTRY[name].with_models(**model_ids)


__all__ = ["MODEL_PARAMETERS", "Profile", "get", "names", "register"]
