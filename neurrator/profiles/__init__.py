"""The profile registry: everything that differs between ``demo`` and ``paper`` in one place.

A :class:`Profile` names its backend, sentence model, concept embedder, model ids and every preset (encoder,
pan-session, MLP baseline, SAE, CEBRA). Notebooks ask for one by name and never branch on it::

    setup = profiles.get(profile, llava_model_id=llava_model_id)
    backend = setup.backend(layout)
    encoder_config, train_config = setup.encoder_preset(seed=seed, **train_options)

A new profile is registered with :func:`register` (CEBRA's ``cebra.registry`` is the model).
"""

from neurrator.profiles.registry import Profile, get, names, register
from neurrator.profiles import builtin  # noqa: F401  (registers demo and paper)

__all__ = ["Profile", "get", "names", "register"]
