"""The models that several tabs use, declared once so that they share one resident copy.

Each is a hub spec with ``task="shared"``; a task that uses one calls :func:`register` when
imported (registering the same spec again changes nothing). The loaders import their backends,
and so transformers or diffusers, only when the model is first needed.
"""

from __future__ import annotations

from typing import Any

from multimodal_core import hub
from multimodal_core.settings import get_settings

SHARED = "shared"
"""The ``task`` of every model that more than one tab uses."""


def _load_sentence_encoder() -> Any:
    from multimodal_core.backends.sentence_encoder import load_sentence_encoder

    return load_sentence_encoder()


def _load_clap() -> Any:
    from multimodal_core.backends.localization import load_clap

    return load_clap()


def _load_diffusion() -> Any:
    from multimodal_core.backends.text_to_image import load_diffusion

    return load_diffusion(get_settings().diffusion_model)


SENTENCE_ENCODER = hub.ModelSpec(
    name="sentence_encoder",
    task=SHARED,
    loader=_load_sentence_encoder,
    approx_mb=87.0,
    title="sentence encoder (all-MiniLM-L6-v2)",
    half_on_cuda=True,
)
"""Built-in VQA maps unknown words with it; the built-in text-to-image GAN is conditioned on it."""

CLAP = hub.ModelSpec(
    name="clap",
    task=SHARED,
    loader=_load_clap,
    approx_mb=740.0,
    title="pretrained CLAP audio tagger",
    half_on_cuda=True,
    pretrained=True,
    source="clap_model",
)
"""Zero-shot localization tags sounds with it; pretrained voice-to-face reads traits with it."""

DIFFUSION = hub.ModelSpec(
    name="diffusion",
    task=SHARED,
    loader=_load_diffusion,
    approx_mb=2600.0,
    title="pretrained diffusion image generator",
    half_on_cuda=True,
    pretrained=True,
    source="diffusion_model",
)
"""Pretrained text to image draws with it; pretrained voice-to-face draws its portrait."""

SPECS: tuple[hub.ModelSpec, ...] = (SENTENCE_ENCODER, CLAP, DIFFUSION)


def register() -> None:
    """Declare every shared model in the default hub."""
    for spec in SPECS:
        hub.register(spec)
