"""Zero-shot sound-source localization: CLAP tags the sound, CLIPSeg finds that tag in the picture.

CLAP (``ClapModel``, Hub id from ``MMC_CLAP_MODEL``, 48 kHz input) scores the recording against
a list of sound descriptions; CLIPSeg (``CLIPSegForImageSegmentation``, ``MMC_CLIPSEG_MODEL``)
segments the picture for the visual prompt of the best tag. The result is a map in [0, 1] plus
the tag and its probability. CLAP is a shared hub model (``multimodal_core.backends.shared``): the
voice-to-face tab uses the same copy.

Local folders with the same files work too (the tests build tiny random models there). With no
network a load fails at once with one sentence: when ``HF_HUB_OFFLINE`` is set or the Hub's host
does not answer within two seconds only the local cache is consulted. transformers is imported
inside the functions (it takes seconds to import; the app starts without it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core import hub
from multimodal_core.backends.loading import load_pretrained
from multimodal_core.settings import get_settings

logger = logging.getLogger(__name__)

CLAP_SAMPLE_RATE = 48_000  # what CLAP's feature extractor expects
CLIPSEG_NAME = "clipseg"


@dataclass(frozen=True)
class SoundTag:
    """One sound description CLAP can choose, and what to look for in the picture if it wins."""

    name: str  # short label shown to people
    audio_prompt: str  # what CLAP compares the recording with
    visual_prompt: str  # what CLIPSeg looks for


TAGS: tuple[SoundTag, ...] = (
    SoundTag("piano", "the sound of a piano", "a piano"),
    SoundTag("guitar", "the sound of a guitar", "a guitar"),
    SoundTag("violin", "the sound of a violin", "a violin"),
    SoundTag("trumpet", "the sound of a trumpet", "a trumpet"),
    SoundTag("saxophone", "the sound of a saxophone", "a saxophone"),
    SoundTag("flute", "the sound of a flute", "a flute"),
    SoundTag("drum", "the sound of drums", "a drum"),
    SoundTag("accordion", "the sound of an accordion", "an accordion"),
    SoundTag("banjo", "the sound of a banjo", "a banjo"),
    SoundTag("bell", "the sound of a bell ringing", "a bell"),
    SoundTag("bird", "the sound of a bird singing", "a bird"),
    SoundTag("telephone", "the sound of a telephone ringing", "a telephone"),
    SoundTag("helicopter", "the sound of a helicopter", "a helicopter"),
    SoundTag("sea", "the sound of ocean waves", "the sea"),
    SoundTag("applause", "the sound of applause", "a crowd"),
    SoundTag("man speaking", "a man speaking", "a man"),
    SoundTag("woman speaking", "a woman speaking", "a woman"),
    SoundTag("child speaking", "a child speaking", "a child"),
    SoundTag("dog", "the sound of a dog barking", "a dog"),
    SoundTag("cat", "the sound of a cat meowing", "a cat"),
    SoundTag("car", "the sound of a car engine", "a car"),
    SoundTag("train", "the sound of a train", "a train"),
    SoundTag("water", "the sound of running water", "water"),
    SoundTag("wind", "the sound of wind", "trees"),
)
"""The world's sound sources first, then a few everyday sounds for real recordings."""


@dataclass(frozen=True)
class ZeroShotResult:
    """A map (H, W) in [0, 1] over the picture, the best tag with its probability, all tags."""

    heat: np.ndarray
    tag: str
    probability: float
    visual_prompt: str
    tags: list[tuple[str, float]]


class ClapTagger(hub.ModelWrapper):
    """CLAP and its processor: probabilities of sound descriptions for a recording."""

    def __init__(self, model: Any, processor: Any, model_id: str) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> ClapTagger:
        self._text_cache.clear()  # the cached embeddings are on the old device
        return super().to(device, dtype)

    @torch.inference_mode()
    def text_embeddings(self, prompts: tuple[str, ...]) -> torch.Tensor:
        """Unit text embeddings (P, E), cached per prompt list (the labels rarely change)."""
        if prompts not in self._text_cache:
            param = next(self.model.parameters())
            inputs = self.processor(text=list(prompts), return_tensors="pt", padding=True)
            inputs = {k: v.to(param.device) for k, v in inputs.items()}
            out = self.model.get_text_features(**inputs)
            features = getattr(out, "pooler_output", out)
            self._text_cache[prompts] = F.normalize(features.float(), dim=-1)
        return self._text_cache[prompts]

    @torch.inference_mode()
    def audio_embedding(self, samples: np.ndarray) -> torch.Tensor:
        """Unit audio embedding (E,) of mono float32 samples at 48 kHz."""
        param = next(self.model.parameters())
        inputs = self.processor(
            audio=[np.asarray(samples, dtype=np.float32)],
            sampling_rate=CLAP_SAMPLE_RATE,
            return_tensors="pt",
        )
        features = inputs["input_features"].to(param.device, param.dtype)
        extra = {"is_longer": inputs["is_longer"].to(param.device)} if "is_longer" in inputs else {}
        out = self.model.get_audio_features(input_features=features, **extra)
        return F.normalize(getattr(out, "pooler_output", out).float(), dim=-1)[0]

    @torch.inference_mode()
    def tag(self, samples: np.ndarray, prompts: tuple[str, ...]) -> np.ndarray:
        """Probabilities (P,) of each prompt for a 48 kHz recording (CLAP's learned scale)."""
        text = self.text_embeddings(prompts)
        sound = self.audio_embedding(samples)
        scale = (
            self.model.logit_scale_a.exp().float() if hasattr(self.model, "logit_scale_a") else 1.0
        )
        logits = scale * (text @ sound.to(text.device))  # (P,)
        return torch.softmax(logits, dim=0).cpu().numpy()


class ClipSegmenter(hub.ModelWrapper):
    """CLIPSeg and its processor: where a text prompt is in a picture."""

    def __init__(self, model: Any, processor: Any, model_id: str) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id

    @torch.inference_mode()
    def segment(self, image: np.ndarray, prompt: str) -> np.ndarray:
        """A map (H, W) in [0, 1] (CLIPSeg's sigmoid) of ``prompt`` in an RGB picture in [0, 1]."""
        pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
        inputs = self.processor(text=[prompt], images=[pixels], return_tensors="pt", padding=True)
        param = next(self.model.parameters())
        inputs = {
            k: v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device)
            for k, v in inputs.items()
        }
        logits = self.model(**inputs).logits  # (h, w) or (1, h, w)
        logits = logits.reshape(1, 1, *logits.shape[-2:]).float()
        height, width = image.shape[:2]
        up = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return torch.sigmoid(up)[0, 0].cpu().numpy()


def load_clap(model_id: str | None = None) -> ClapTagger:
    """CLAP from ``model_id`` (default: the ``clap_model`` setting), on the CPU."""
    model_id = model_id or get_settings().clap_model
    model, processor, _ = load_pretrained(
        "CLAP", model_id, "MMC_CLAP_MODEL", {"clap": "ClapModel"}, "ClapProcessor"
    )
    return ClapTagger(model, processor, model_id)


def load_clipseg(model_id: str | None = None) -> ClipSegmenter:
    """CLIPSeg from ``model_id`` (default: the ``clipseg_model`` setting), on the CPU."""
    model_id = model_id or get_settings().clipseg_model
    model, processor, _ = load_pretrained(
        "CLIPSeg",
        model_id,
        "MMC_CLIPSEG_MODEL",
        {"clipseg": "CLIPSegForImageSegmentation"},
        "CLIPSegProcessor",
    )
    return ClipSegmenter(model, processor, model_id)


def _load_clipseg_from_settings() -> ClipSegmenter:
    return load_clipseg()


CLIPSEG_SPEC = hub.ModelSpec(
    name=CLIPSEG_NAME,
    task="localization",
    loader=_load_clipseg_from_settings,
    approx_mb=600.0,
    title="pretrained CLIPSeg segmenter",
    half_on_cuda=True,
    pretrained=True,
    source="clipseg_model",
)


def localize_zero_shot(
    tagger: ClapTagger,
    segmenter: ClipSegmenter,
    image: np.ndarray,
    samples_48k: np.ndarray,
    tags: tuple[SoundTag, ...] = TAGS,
) -> ZeroShotResult:
    """Tag the sound with CLAP, then segment the best tag's visual prompt with CLIPSeg."""
    probabilities = tagger.tag(samples_48k, tuple(t.audio_prompt for t in tags))
    order = np.argsort(-probabilities)
    best = tags[int(order[0])]
    heat = segmenter.segment(image, best.visual_prompt)
    ranked = [(tags[int(i)].name, float(probabilities[i])) for i in order]
    return ZeroShotResult(
        heat, best.name, float(probabilities[order[0]]), best.visual_prompt, ranked
    )
