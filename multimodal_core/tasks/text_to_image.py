"""Text to image: draw pictures from a sentence, with the built-in GAN or a diffusion model.

The built-in model is the text-conditional GAN trained on the synthetic world
(``checkpoints/text_to_image``), conditioned on the shared MiniLM sentence encoder; the
pretrained choice is a few-step diffusion pipeline (Hub id from settings). All are declared in
the shared hub here and loaded on first use. Drawing goes through
:func:`multimodal_core.models.text_gan.sample_images`, the function the evaluation and the
bench use too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from multimodal_core import hub
from multimodal_core.backends import shared
from multimodal_core.batching import MicroBatcher
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.text_gan import TextGAN, noise, sample_images
from multimodal_core.models.vqa import VOCAB_NAME, QuestionVocabulary
from multimodal_core.settings import get_settings
from multimodal_core.synonyms import SynonymMapper, WordMapping

logger = logging.getLogger(__name__)

BUILTIN = "text_to_image"
DIFFUSION = shared.DIFFUSION.name
CHOICES = ModelChoices(
    (
        ModelChoice("builtin", "Built-in: text-conditional GAN (synthetic world, offline)",
                    (BUILTIN,)),
        ModelChoice("diffusion", "Pretrained: few-step diffusion (downloads from the Hub)",
                    (DIFFUSION,), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "diffusion"},
)  # fmt: skip
MAX_IMAGES = 8
MAX_SEED = 2**31 - 1
INTERPOLATION_STEPS = 8
EXAMPLE_PROMPTS: tuple[str, ...] = (
    "a dog on a blue background",
    "a red apple on a white background",
    "an elephant on the grass",
    "a puppy on a green background",
    "a guitar on a pink background",
)
"""Prompts in the world's words (the built-in GAN knows nothing else); "puppy" is a synonym."""
EARLY_MINUTES = 60.0  # a checkpoint trained for less is called an early one in the tab


@dataclass(frozen=True)
class PromptWords:
    """Which words of a prompt the built-in GAN knows from its training captions, as typed:
    ``used`` (known, or read as a known noun: ``mappings``) and ``ignored`` (neither, so they do
    not steer the picture)."""

    used: list[str]
    ignored: list[str]
    mappings: list[WordMapping]

    def to_dict(self) -> dict:
        return {
            "words_used": self.used,
            "words_ignored": self.ignored,
            "word_mappings": [m.to_dict() for m in self.mappings],
        }


@dataclass(frozen=True)
class GenerationResult:
    """What the tab, the API and the CLI show: pictures (H, W, 3) uint8 and their seeds.

    ``words`` is what the built-in GAN understood of the prompt; None for the diffusion model
    (it reads any English) or a GAN checkpoint without its caption vocabulary.
    """

    model: str
    prompt: str
    images: list[np.ndarray]
    seeds: list[int]
    note: str = ""
    details: dict = field(default_factory=dict)
    words: PromptWords | None = None

    def to_dict(self) -> dict:
        """JSON-ready, without the pictures."""
        height, width = self.images[0].shape[:2] if self.images else (0, 0)
        words = (
            self.words.to_dict()
            if self.words
            else {"words_used": None, "words_ignored": None, "word_mappings": None}
        )
        return {
            "model": self.model,
            "prompt": self.prompt,
            "seeds": self.seeds,
            "size": [width, height],
            "note": self.note,
            **words,
            **self.details,
        }


class BuiltinGAN(hub.ModelWrapper):
    """The trained generator, what its training recorded (minutes, validation figures), and the
    words of its training captions (``vocab.json``; nouns: the objects and backgrounds)."""

    def __init__(
        self, model: TextGAN, record: dict, vocab: QuestionVocabulary | None = None
    ) -> None:
        self.model = model
        self.record = record
        self.vocab = vocab
        self._mapper: SynonymMapper | None = None

    def prompt_words(self, prompt: str) -> PromptWords | None:
        """What the GAN knows of ``prompt``: unknown words are read as the closest known noun by
        the sentence encoder (the GAN's own text encoder), or ignored. InputError when no word
        names an object or a background: the GAN would draw colours and blobs for it.

        None without a caption vocabulary (a checkpoint trained before it was saved)."""
        if self.vocab is None:
            return None
        tokens = self.vocab.tokenize(prompt)
        if not tokens:
            raise InputError(
                "The built-in model reads English only; please describe the picture in "
                "English, for example “a dog on a blue background”."
            )
        changes: list[WordMapping] = []
        if self.vocab.unknown(prompt):
            if self._mapper is None:
                self._mapper = SynonymMapper(self.vocab, lambda texts: _embed(texts))
            changes = self._mapper.map(prompt)[1]
        mapped = {w for c in changes if c.replacement for w in c.phrase.split()}
        used = [t for t in dict.fromkeys(tokens) if t in self.vocab or t in mapped]
        if not mapped and not any(t in self.vocab.nouns for t in tokens):
            shown = prompt if len(prompt) <= 40 else prompt[:40] + "…"
            raise InputError(
                f"The built-in model knows no word of “{shown}” that names an object or a "
                "background, so it could only draw blobs; it draws the studio's world, for "
                "example “a dog on a blue background”."
            )
        ignored = [t for t in dict.fromkeys(tokens) if t not in used]
        return PromptWords(used, ignored, changes)

    @property
    def note(self) -> str:
        """A plain sentence when the checkpoint is an early one, else empty."""
        minutes = float(self.record.get("minutes", 0.0))
        if minutes >= EARLY_MINUTES:
            return ""
        figures = ""
        if "object_acc" in self.record and "color_acc" in self.record:
            figures = (
                f" On validation captions the world classifier finds the requested background "
                f"in {self.record['color_acc']:.0%} and the requested object in "
                f"{self.record['object_acc']:.0%} of its pictures."
            )
        return (
            f"This is an early checkpoint of the built-in GAN, trained for only {minutes:.0f} "
            f"minutes (its full training takes hours): expect colours and blobs rather than "
            f"recognisable objects.{figures}"
        )


def _load_builtin() -> BuiltinGAN:
    folder = get_settings().checkpoints_dir / "text_to_image"
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(
            "The built-in text-to-image model is missing from the checkpoints folder "
            "(MMC_CHECKPOINTS_DIR); "
            "train it with python -m multimodal_core.train.text_to_image."
        )
    record_file = folder / "training.json"
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    # channels-last makes the transposed convolutions about a fifth faster on a CPU (measured)
    model = TextGAN.from_pretrained(folder).to(memory_format=torch.channels_last)
    vocab = QuestionVocabulary.from_pretrained(folder) if (folder / VOCAB_NAME).is_file() else None
    return BuiltinGAN(model, record, vocab)


def _checkpoint_mb() -> float:
    path = get_settings().checkpoints_dir / "text_to_image" / "model.safetensors"
    return path.stat().st_size * 2 / 2**20 if path.is_file() else 8.0  # fp16 on disk


hub.register(
    hub.ModelSpec(
        name=BUILTIN,
        task="text_to_image",
        loader=_load_builtin,
        approx_mb=_checkpoint_mb(),
        title="built-in text-to-image GAN",
    )
)
shared.register()


def check_prompt(prompt: str | None) -> str:
    """The prompt, trimmed; InputError with one sentence when it is empty or far too long."""
    text = " ".join((prompt or "").split())
    if not any(ch.isalpha() for ch in text):
        raise InputError(
            "Type a sentence describing the picture, for example “a dog on a blue background”."
        )
    limit = get_settings().max_text_chars
    if len(text) > limit:
        raise InputError(
            f"The prompt is {len(text)} characters long; please keep it under {limit}."
        )
    return text


def _check_choice(model: str, n: int, seed: int) -> None:
    CHOICES.get(model)
    if not 1 <= int(n) <= MAX_IMAGES:
        raise InputError(f"The number of images must be between 1 and {MAX_IMAGES}.")
    if not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"The seed must be a whole number between 0 and {MAX_SEED}.")


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) float in [0, 1] -> B pictures (H, W, 3) uint8."""
    return list((images.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8))


def _embed(texts: list[str]) -> torch.Tensor:
    return hub.get(shared.SENTENCE_ENCODER.name).encode(texts)  # (N, 384)


@hub.gpu
def _draw_batch(items: list[tuple[str, list[int]]], key: None) -> list[list[np.ndarray]]:
    """The pictures of concurrent (prompt, seeds) requests in one generator pass. Each prompt is
    embedded alone, as without batching: padding a batch of prompts would shift the digits."""
    gan: BuiltinGAN = hub.get(BUILTIN)
    text = torch.cat([_embed([prompt]).expand(len(seeds), -1) for prompt, seeds in items])
    z = noise([seed for _, seeds in items for seed in seeds], gan.model.config.z_dim)
    pictures = iter(to_uint8(sample_images(gan.model, text, z)))  # one per seed, in order
    return [[next(pictures) for _ in seeds] for _, seeds in items]


_DRAW = MicroBatcher(_draw_batch, name="text_to_image")
"""Concurrent requests share one generator pass (see multimodal_core.batching)."""


@hub.gpu
def read_prompt(prompt: str) -> PromptWords | None:
    """:meth:`BuiltinGAN.prompt_words` of the built-in GAN (the sentence encoder runs here)."""
    return hub.get(BUILTIN).prompt_words(prompt)


def draw_builtin(prompt: str, seeds: list[int]) -> tuple[list[np.ndarray], str]:
    """The built-in GAN's pictures for one prompt, one per seed, and its early-checkpoint note."""
    return _DRAW((prompt, list(seeds))), hub.get(BUILTIN).note


@hub.gpu
def _draw_diffusion(
    prompt: str, n: int, seed: int, progress: Callable[[int, int], None] | None
) -> tuple[list[np.ndarray], str]:
    generator = hub.get(DIFFUSION)
    return generator.generate(prompt, n, seed, progress=progress), generator.model_id


def generate_images(
    prompt: str,
    n: int = 4,
    seed: int = 0,
    model: str = "builtin",
    progress: Callable[[int, int], None] | None = None,
) -> GenerationResult:
    """``n`` pictures for ``prompt``: picture i uses seed ``seed + i``, so a seed is repeatable.

    Raises InputError (bad prompt or choice) or ModelUnavailableError (a model cannot be
    loaded), each with one sentence for the user.
    """
    text = check_prompt(prompt)
    _check_choice(model, n, seed)
    seeds = [int(seed) + i for i in range(int(n))]
    if model == "builtin":
        words = read_prompt(text)
        images, note = draw_builtin(text, seeds)
        return GenerationResult("builtin", text, images, seeds, note, words=words)
    from multimodal_core.backends.text_to_image import licence_note

    images, model_id = _draw_diffusion(text, int(n), int(seed), progress)
    return GenerationResult(
        "diffusion", text, images, seeds, licence_note(model_id), {"model_id": model_id}
    )


@hub.gpu
def interpolate(
    prompt_a: str, prompt_b: str, steps: int = INTERPOLATION_STEPS, seed: int = 0
) -> GenerationResult:
    """The built-in GAN's pictures along the line from prompt A's embedding to prompt B's,
    with z fixed by ``seed`` (GAN-INT: what lies between two sentences)."""
    a, b = check_prompt(prompt_a), check_prompt(prompt_b)
    if not 2 <= int(steps) <= 16:
        raise InputError("The interpolation needs between 2 and 16 steps.")
    _check_choice("builtin", 1, seed)
    gan: BuiltinGAN = hub.get(BUILTIN)
    words, words_b = gan.prompt_words(a), gan.prompt_words(b)
    ends = _embed([a, b])  # (2, 384)
    weights = torch.linspace(0.0, 1.0, int(steps))[:, None]  # (steps, 1)
    text = (1.0 - weights) * ends[0] + weights * ends[1]  # (steps, 384)
    z = noise([int(seed)], gan.model.config.z_dim).expand(int(steps), -1)
    images = to_uint8(sample_images(gan.model, text, z))
    details = {"prompt_b": b, "weights": [round(float(w), 3) for w in weights[:, 0]]}
    if words_b is not None:
        details["prompt_b_words"] = words_b.to_dict()
    seeds = [int(seed)] * int(steps)
    return GenerationResult("builtin", a, images, seeds, gan.note, details, words)


def strip(images: list[np.ndarray], scale: int = 2, gap: int = 2) -> np.ndarray:
    """Pictures side by side (H*scale, N*(W*scale+gap)-gap, 3), enlarged with nearest pixels."""
    big = [np.repeat(np.repeat(i, scale, 0), scale, 1) for i in images]
    height = big[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts = [p for image in big for p in (image, spacer)][:-1]
    return np.concatenate(parts, axis=1)
