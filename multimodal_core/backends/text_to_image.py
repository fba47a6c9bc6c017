"""Pretrained text-to-image: a few-step (or one-step) diffusion pipeline through diffusers.

The Hub id comes from settings (``MMC_DIFFUSION_MODEL``); the default is LCM Dreamshaper v7, a
latent consistency model that draws in four steps and is MIT-licensed (SD-Turbo draws in one step
but its licence is not an open one). Known ids carry their step count, guidance and licence in
``DIFFUSION_PRESETS``; a local folder with a saved pipeline works too (the tests build a tiny
random Stable Diffusion pipeline there). With no network the load fails at once with one
sentence: when ``HF_HUB_OFFLINE`` is set or the Hub's host does not answer, only the local
cache is consulted. diffusers is imported inside the functions: it takes seconds to import, and
the app starts without it. The hub places the pipeline on its device, in float16 on CUDA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multimodal_core.errors import ModelUnavailableError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiffusionPreset:
    """How a known pipeline is meant to be sampled, and what the tab says about its licence."""

    steps: int
    guidance: float
    licence: str


DIFFUSION_PRESETS: dict[str, DiffusionPreset] = {
    "SimianLuo/LCM_Dreamshaper_v7": DiffusionPreset(
        steps=4,
        guidance=8.0,  # a latent consistency model reads guidance as an embedding, not as CFG
        licence="LCM Dreamshaper v7 (SimianLuo) is released under the MIT licence.",
    ),
    "stabilityai/sd-turbo": DiffusionPreset(
        steps=1,
        guidance=0.0,  # trained without classifier-free guidance
        licence=(
            "SD-Turbo is released by Stability AI under the Stability AI Community License "
            "(free for research and non-commercial use, and for organisations under USD 1 M "
            "annual revenue; not an open-source licence)."
        ),
    ),
}
"""Known pipelines; any other id is sampled with ``GENERIC_PRESET`` and a generic licence note."""

GENERIC_PRESET = DiffusionPreset(steps=4, guidance=0.0, licence="")


def preset_for(model_id: str) -> DiffusionPreset:
    """The sampling settings of ``model_id`` (generic ones for ids this module does not know)."""
    return DIFFUSION_PRESETS.get(model_id, GENERIC_PRESET)


def licence_note(model_id: str) -> str:
    """One sentence about the licence of ``model_id`` for the tab."""
    return preset_for(model_id).licence or (
        f"{model_id} is used under the licence on its Hub page; check it before use."
    )


class DiffusionGenerator:
    """A diffusers text-to-image pipeline behind one ``generate`` call."""

    def __init__(self, pipeline: Any, model_id: str) -> None:
        self.pipeline = pipeline
        self.model_id = model_id
        preset = preset_for(model_id)
        self.steps = preset.steps
        self.guidance = preset.guidance

    def to(
        self, device: torch.device | str, dtype: torch.dtype | None = None
    ) -> DiffusionGenerator:
        """Move every module of the pipeline (the hub calls this once, float16 on CUDA)."""
        self.pipeline.to(device, dtype) if dtype is not None else self.pipeline.to(device)
        return self

    def eval(self) -> DiffusionGenerator:
        return self  # diffusers pipelines keep their modules in eval mode

    @property
    def components(self) -> dict[str, Any]:
        """The modules whose weights the hub's status counts."""
        return {k: v for k, v in self.pipeline.components.items() if isinstance(v, torch.nn.Module)}

    @property
    def device(self) -> torch.device:
        return self.pipeline.device

    @torch.inference_mode()
    def generate(
        self,
        prompt: str,
        n: int = 1,
        seed: int = 0,
        steps: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[np.ndarray]:
        """``n`` pictures (H, W, 3) uint8 for ``prompt``; picture i uses seed ``seed + i``.

        ``progress(step, total)`` is called after every denoising step (the tab's progress bar).
        """
        steps = steps or self.steps
        device = self.pipeline.device
        generators = [torch.Generator(device=device).manual_seed(seed + i) for i in range(n)]

        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            if progress is not None:
                progress(step + 1, steps)
            return kwargs

        out = self.pipeline(
            prompt=[prompt] * n,
            num_inference_steps=steps,
            guidance_scale=self.guidance,
            generator=generators,
            output_type="np",
            callback_on_step_end=on_step_end,
        )
        images = np.asarray(out.images)  # (n, H, W, 3) float in [0, 1]
        return [(np.clip(i, 0.0, 1.0) * 255 + 0.5).astype(np.uint8) for i in images]


def load_diffusion(model_id: str, **pipeline_kwargs: Any) -> DiffusionGenerator:
    """Load the pipeline ``model_id`` (Hub id or folder); fails with a sentence, never hangs."""
    from multimodal_core.backends.loading import hub_reachable

    local = Path(model_id).is_dir()
    local_only = local or not hub_reachable()
    try:
        from diffusers import AutoPipelineForText2Image

        pipeline = AutoPipelineForText2Image.from_pretrained(
            model_id, local_files_only=local_only, **pipeline_kwargs
        )
    except (OSError, ValueError) as error:
        logger.info("cannot load %s: %s", model_id, error)
        where = "from its folder" if local else "from the Hub or the local cache"
        raise ModelUnavailableError(
            f"The pretrained image generator {model_id} could not be loaded {where}; "
            "it needs a connection to the Hugging Face Hub the first time. The built-in GAN "
            "works offline."
        ) from error
    pipeline.set_progress_bar_config(disable=True)
    logger.info("loaded diffusion pipeline %s", model_id)
    return DiffusionGenerator(pipeline, model_id)
