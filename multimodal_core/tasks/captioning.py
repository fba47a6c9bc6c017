"""Captioning: describe a picture, with every beam and, for the attention model, where it looked.

Two built-in models are trained on the synthetic world: Show, Attend and Tell
(``checkpoints/captioning``) and its no-attention ablation Show and Tell
(``checkpoints/show_and_tell``), so that one picture can be captioned by both; BLIP and GIT are
the pretrained choices (Hub ids from settings). All of them are declared in the shared hub here
and loaded on first use. Decoding goes through :mod:`multimodal_core.decoding`, the same
functions the evaluation and the bench use, for both built-in models.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from multimodal_core import hub, media, viz
from multimodal_core.batching import MicroBatcher
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.decoding import Hypothesis, beam_search
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.show_and_tell import ShowAndTell
from multimodal_core.models.show_attend_tell import ShowAttendTell, Vocabulary
from multimodal_core.settings import get_settings
from multimodal_core.tasks import world_check

logger = logging.getLogger(__name__)

BUILTIN = "captioning"
SHOW_AND_TELL = "captioning-show-and-tell"
BLIP = "captioning-blip"
GIT = "captioning-git"
CHOICES = ModelChoices(
    (
        ModelChoice("builtin", "Built-in: Show, Attend and Tell (synthetic world, offline)",
                    (BUILTIN,)),
        ModelChoice("show_and_tell",
                    "Built-in: Show and Tell, no attention (synthetic world, offline)",
                    (SHOW_AND_TELL,)),
        ModelChoice("blip", "Pretrained: BLIP (downloads from the Hub)", (BLIP,), pretrained=True),
        ModelChoice("git", "Pretrained: GIT (downloads from the Hub)", (GIT,), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "blip"},
)  # fmt: skip
MAX_BEAMS = 10
GENERATION_CONFIG = "generation_config.json"
NO_ATTENTION_NOTE = (
    "Show and Tell has no attention: it sees the whole picture once, as one vector, before the "
    "first word."
)


def out_of_world_note() -> str:
    """The built-in models' sentence for a picture from outside their world."""
    return world_check.out_of_world_note("caption", world_check.where_to_go(CHOICES, "photos"))


@dataclass(frozen=True)
class Beam:
    """One hypothesis: its text, total log probability, ranking score, and each token with the
    probability the model gave it (``<end>`` included when the beam finished)."""

    text: str
    log_prob: float
    score: float
    tokens: list[str]
    token_probs: list[float]


@dataclass(frozen=True)
class CaptionResult:
    """What the tab, the API and the CLI show."""

    model: str
    beams: list[Beam]
    attention_grid: np.ndarray | None = None  # uint8 RGB: one overlay per word (built-in only)
    note: str = ""
    details: dict = field(default_factory=dict)
    # The out-of-world check (tasks/world_check.py), for the built-in model only: None for a
    # pretrained one, which is not limited to the world, or when the check is not installed.
    in_world: bool | None = None
    in_world_score: float | None = None

    @property
    def caption(self) -> str:
        return self.beams[0].text if self.beams else ""

    def to_dict(self) -> dict:
        """JSON-ready, without the picture."""
        return {
            "model": self.model,
            "caption": self.caption,
            "beams": [asdict(b) for b in self.beams],
            "note": self.note,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
            **self.details,
        }


Captioner = ShowAttendTell | ShowAndTell
"""A built-in model: both speak the step API that ``multimodal_core.decoding`` drives."""


@dataclass(frozen=True)
class Builtin:
    """A built-in captioner: its choice key, hub name, checkpoint folder, class and trainer."""

    key: str
    name: str
    folder: str
    model_class: type[ShowAttendTell] | type[ShowAndTell]
    train_module: str


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("builtin", BUILTIN, "captioning", ShowAttendTell, "captioning"),
        Builtin("show_and_tell", SHOW_AND_TELL, "show_and_tell", ShowAndTell, "show_and_tell"),
    )
}
"""By hub name; the choices whose model is listed here are captioned by :func:`_caption_builtin`."""


class BuiltinCaptioner(hub.ModelWrapper):
    """A trained built-in captioner with its vocabulary and decoding defaults."""

    def __init__(self, model: Captioner, vocab: Vocabulary, defaults: dict) -> None:
        if len(vocab) != model.config.vocab_size:
            raise ValueError(
                f"vocabulary has {len(vocab)} words, model expects {model.config.vocab_size}"
            )
        self.model = model
        self.vocab = vocab
        self.length_alpha = float(defaults.get("length_alpha", 0.0))
        # Mean per-token log prob below which a picture is probably not from the world.
        self.out_of_world_threshold = defaults.get("out_of_world_mean_log_prob")

    def looks_out_of_world(self, best: Hypothesis, text: str) -> bool:
        """Signs that a picture is not a world scene: the model is unsure of its words (mean log
        prob per token under the 1st percentile of world scenes), never ends the sentence, or
        claims more objects than a world scene holds."""
        threshold = self.out_of_world_threshold
        mean_lp = best.log_prob / max(len(best.token_log_probs), 1)
        unsure = threshold is not None and mean_lp < threshold
        return unsure or not best.finished or stated_object_count(text) > MAX_WORLD_OBJECTS

    @property
    def has_attention(self) -> bool:
        """Whether each word comes with a map of where the model looked (Show and Tell: no)."""
        return isinstance(self.model, ShowAttendTell)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prepare(self, images: list[np.ndarray]) -> torch.Tensor:
        """RGB float pictures (H, W, 3) in [0, 1], any size -> (B, 3, S, S) on the model's device,
        each squashed to the model's square input (``media.square_batch``)."""
        param = next(self.model.parameters())
        batch = media.square_batch(images, self.model.config.image_size)
        return batch.to(param.device, param.dtype)


MAX_WORLD_OBJECTS = 4  # a world scene holds 1 to 4 objects
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_PREFIXES = ("a picture of ", "an image of ", "a drawing of ", "there is ", "there are ")


def stated_object_count(caption: str) -> int:
    """How many objects a world-grammar caption claims: "a picture of three balls and a piano"
    is 4. Each " and " part counts its number word, or 1 for "a"/"an"."""
    total = 0
    for part in caption.split(" and "):
        for prefix in _PREFIXES:
            part = part.removeprefix(prefix)
        first = part.split(" ", 1)[0]
        if first in _NUMBER_WORDS:
            total += _NUMBER_WORDS.index(first)
        elif first in ("a", "an"):
            total += 1
    return total


def _load_builtin(builtin: Builtin) -> BuiltinCaptioner:
    folder = get_settings().checkpoints_dir / builtin.folder
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(
            f"The built-in captioning model {builtin.folder!r} is missing from the checkpoints "
            "folder (MMC_CHECKPOINTS_DIR); "
            f"train it with python -m multimodal_core.train.{builtin.train_module}."
        )
    defaults_file = folder / GENERATION_CONFIG
    defaults = json.loads(defaults_file.read_text()) if defaults_file.is_file() else {}
    return BuiltinCaptioner(
        builtin.model_class.from_pretrained(folder), Vocabulary.from_pretrained(folder), defaults
    )


def _load_pretrained(setting: str) -> object:
    from multimodal_core.backends.captioning import load_captioner

    return load_captioner(getattr(get_settings(), setting))


def _checkpoint_mb(folder: str) -> float:
    path = get_settings().checkpoints_dir / folder / "model.safetensors"
    return path.stat().st_size * 2 / 2**20 if path.is_file() else 4.0  # fp16 on disk, fp32 loaded


for _builtin, _title in (
    (BUILTINS[BUILTIN], "built-in captioning model"),
    (BUILTINS[SHOW_AND_TELL], "built-in Show and Tell captioning model"),
):
    hub.register(
        hub.ModelSpec(
            name=_builtin.name,
            task="captioning",
            loader=functools.partial(_load_builtin, _builtin),
            approx_mb=_checkpoint_mb(_builtin.folder),
            title=_title,
        )
    )
hub.register(
    hub.ModelSpec(
        name=BLIP,
        task="captioning",
        loader=lambda: _load_pretrained("caption_model"),
        approx_mb=940.0,
        title="pretrained BLIP captioning model",
        half_on_cuda=True,
        pretrained=True,
        source="caption_model",
    )
)
hub.register(
    hub.ModelSpec(
        name=GIT,
        task="captioning",
        loader=lambda: _load_pretrained("caption_model_alt"),
        approx_mb=680.0,
        title="pretrained GIT captioning model",
        half_on_cuda=True,
        pretrained=True,
        source="caption_model_alt",
    )
)


def _check_choice(model: str, beam_size: int) -> None:
    CHOICES.get(model)
    if not 1 <= int(beam_size) <= MAX_BEAMS:
        raise InputError(f"The beam size must be between 1 and {MAX_BEAMS}.")


@hub.gpu
def _search_batch(
    name: str, images: list[np.ndarray], key: tuple[int, float]
) -> list[list[Hypothesis]]:
    """One batched beam search of built-in model ``name`` for the pictures of concurrent
    requests that share beam size and alpha (the batcher's key)."""
    beam_size, alpha = key
    captioner: BuiltinCaptioner = hub.get(name)
    return beam_search(captioner.model, captioner.prepare(images), beam_size, alpha=alpha)


_SEARCH = MicroBatcher(functools.partial(_search_batch, BUILTIN), name="captioning")
"""Concurrent single-picture requests to the attention model share one beam search (see
multimodal_core.batching)."""
_SEARCH_SHOW_AND_TELL = MicroBatcher(
    functools.partial(_search_batch, SHOW_AND_TELL), name="captioning-show-and-tell"
)
"""The same for Show and Tell."""


def _batcher(name: str) -> MicroBatcher:
    """The batcher of built-in model ``name``, looked up when called (tests swap them)."""
    return _SEARCH if name == BUILTIN else _SEARCH_SHOW_AND_TELL


def caption_images(
    images: list[np.ndarray], beam_size: int = 5, alpha: float | None = None, model: str = "builtin"
) -> list[list[Beam]]:
    """A built-in model's beams for a batch of decoded pictures (each (H, W, 3) in [0, 1]);
    ``model`` is its choice key."""
    name = CHOICES.get(model).models[0]
    if name not in BUILTINS:
        raise InputError(f"The model {model!r} is not a built-in model.")
    captioner: BuiltinCaptioner = hub.get(name)
    alpha = captioner.length_alpha if alpha is None else alpha
    results = _search_batch(name, images, (beam_size, alpha))
    return [[_beam(captioner.vocab, h) for h in hyps] for hyps in results]


def _beam(vocab: Vocabulary, hyp: Hypothesis) -> Beam:
    words = vocab.decode(hyp.tokens)
    tokens = words + (["<end>"] if hyp.finished else [])
    return Beam(
        " ".join(words),
        hyp.log_prob,
        hyp.score,
        tokens,
        [math.exp(lp) for lp in hyp.token_log_probs],
    )


@dataclass(frozen=True)
class AttentionMaps:
    """Where the model looked for each word of its best caption: the picture at the sheet's tile
    size (uint8), one (g, g) map per word, and the words."""

    picture: np.ndarray
    heats: list[np.ndarray]
    words: list[str]


SHEET_TILE, SHEET_COLUMNS = 128, 6


def attention_sheet(maps: AttentionMaps) -> np.ndarray:
    """The sheet of one heat map per word, as RGB uint8. It needs no model, so the server draws
    it in a worker process, off its interpreter lock."""
    return viz.overlay_grid(
        maps.picture, maps.heats, maps.words, columns=SHEET_COLUMNS, tile=SHEET_TILE
    )


def _caption_builtin(
    image: np.ndarray,
    beam_size: int,
    alpha: float | None,
    draw: Callable[[AttentionMaps], np.ndarray],
    builtin: Builtin,
) -> CaptionResult:
    captioner: BuiltinCaptioner = hub.get(builtin.name)
    alpha = captioner.length_alpha if alpha is None else alpha
    hyps = _batcher(builtin.name)(image, key=(beam_size, alpha))
    beams = [_beam(captioner.vocab, h) for h in hyps]
    best = hyps[0]
    sheet = None
    if captioner.has_attention:
        grid = captioner.model.config.grid_size
        heats = [a.reshape(grid, grid).numpy() for a in best.attention]  # a (g, g) map a token
        tile = viz.tile_picture(image, SHEET_TILE)  # small to send
        sheet = draw(AttentionMaps(tile, heats, beams[0].tokens))
    mean_lp = best.log_prob / max(len(best.token_log_probs), 1)
    (check,) = world_check.check_if_available([image])
    if check is None:  # the check is not installed: the captioner's own signs of doubt
        out_of_world = captioner.looks_out_of_world(best, beams[0].text)
    else:  # the calibrated check, which flags more photos at fewer world scenes (its card)
        out_of_world = not check.in_world
    notes = [out_of_world_note()] if out_of_world else []
    if not captioner.has_attention:
        notes.append(NO_ATTENTION_NOTE)
    details = {"length_alpha": alpha, "mean_token_log_prob": mean_lp}
    return CaptionResult(
        builtin.key,
        beams,
        sheet,
        " ".join(notes),
        details,
        in_world=None if check is None else check.in_world,
        in_world_score=None if check is None else check.score,
    )


@hub.gpu
def _caption_pretrained(image: np.ndarray, model: str, beam_size: int) -> CaptionResult:
    captioner = hub.get(CHOICES.get(model).models[0])
    captions = captioner.caption(image, beam_size)
    beams = [
        Beam(c.text, c.log_prob, c.score, c.tokens, [math.exp(lp) for lp in c.token_log_probs])
        for c in captions
    ]
    return CaptionResult(model, beams, None, "", {"model_id": captioner.model_id})


def caption_image(
    path: str | Path,
    beam_size: int = 5,
    model: str = "builtin",
    alpha: float | None = None,
    draw: Callable[[AttentionMaps], np.ndarray] = attention_sheet,
) -> CaptionResult:
    """Caption an uploaded picture: decode it, run the chosen model, return every beam.

    Raises InputError (bad upload or choice) or ModelUnavailableError (a model cannot be loaded),
    each with one sentence for the user. ``draw`` makes the attention model's sheet (the server
    passes one that sends :func:`attention_sheet` to a worker process); Show and Tell has none.
    """
    _check_choice(model, beam_size)
    if alpha is not None and not 0.0 <= alpha <= 2.0:
        raise InputError("The length normalisation alpha must be between 0 and 2.")
    image = media.load_image(path)  # (H, W, 3) float32 in [0, 1]
    name = CHOICES.get(model).models[0]
    if name in BUILTINS:
        return _caption_builtin(image, int(beam_size), alpha, draw, BUILTINS[name])
    return _caption_pretrained(image, model, int(beam_size))
