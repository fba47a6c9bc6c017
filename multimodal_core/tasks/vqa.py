"""Visual question answering: a picture and a question in, the top answers and where it looked out.

Models, by hub name: ``vqa`` (built-in, trained on the synthetic world), ``vqa_easyvqa`` (built-in,
trained on the public easy-vqa shapes set), ``vqa_vilt`` and ``vqa_blip`` (pretrained, from the
Hub ids in settings). The built-in models know only the words of their training questions; an
unknown word is mapped to the closest known noun by the shared sentence encoder ("puppy" ->
"dog", "bikes" -> "bicycles"), or left out when nothing is close, and the answer says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multimodal_core import hub, media, viz
from multimodal_core.backends import shared
from multimodal_core.batching import MicroBatcher
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.vqa import QuestionVocabulary, StackedAttentionVQA, load_answers, top_k
from multimodal_core.settings import get_settings
from multimodal_core.synonyms import SynonymMapper, WordMapping
from multimodal_core.tasks import world_check

logger = logging.getLogger(__name__)

BUILTIN, BUILTIN_EASYVQA, VILT, BLIP = "vqa", "vqa_easyvqa", "vqa_vilt", "vqa_blip"
CHOICES = ModelChoices(
    (
        ModelChoice("builtin", "Built-in (synthetic world)", (BUILTIN,)),
        ModelChoice("easyvqa", "Built-in (easy-vqa shapes)", (BUILTIN_EASYVQA,)),
        ModelChoice("vilt", "ViLT (pretrained, downloads)", (VILT,), pretrained=True),
        ModelChoice("blip", "BLIP VQA (pretrained, downloads)", (BLIP,), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "vilt"},
)
CHECKPOINTS = {BUILTIN: "vqa_world", BUILTIN_EASYVQA: "vqa_easyvqa"}
TOP_K = 5
NOT_SURE_BELOW = 0.5  # a top answer less likely than this gets the "not sure" note
QUESTION_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    BUILTIN: (
        ("what is somewhere", "what is on the left?"),
        ("what is next to something", "what is above the cat?"),
        ("counting", "how many dogs are there?"),
        ("is something there", "is there a bicycle?"),
        ("where something is", "where is the cat?"),
        ("how two things lie", "is the dog to the left of the cat?"),
        ("which one of a kind", "which animal is there?"),
        ("the background", "what is the background?"),
    ),
    BUILTIN_EASYVQA: (
        ("the shape", "what shape is in the image?"),
        ("a shape's colour", "what color is the circle?"),
        ("is a shape there", "is there a red shape?"),
        ("is a shape missing", "is no rectangle present?"),
    ),
}
"""The kinds of question each built-in model was trained on, one plain example each: the world's
question grammar (``world/language.py``: presence, count, position, relation, identity, category,
background) and easy-vqa's questions (shape, colour, yes/no). The tests check every example
against the grammar and against easy-vqa's training questions. A question of another form gets
an answer from the same list, which means little."""
EXAMPLE_QUESTIONS: tuple[str, ...] = tuple(
    question.rstrip("?") for _, question in QUESTION_KINDS[BUILTIN]
)


def out_of_world_note() -> str:
    """The built-in models' sentence for a picture from outside their world."""
    return world_check.out_of_world_note("answer", world_check.where_to_go(CHOICES, "photos"))


class BuiltinVQA(hub.ModelWrapper):
    """A built-in checkpoint: model, question vocabulary, answers, and its synonym mapper."""

    def __init__(
        self, model: StackedAttentionVQA, vocab: QuestionVocabulary, answers: list[str], name: str
    ) -> None:
        self.model = model
        self.vocab = vocab
        self.answers = answers
        self.name = name
        self._mapper: SynonymMapper | None = None

    @classmethod
    def from_pretrained(cls, folder: str | Path, name: str = "") -> BuiltinVQA:
        model = StackedAttentionVQA.from_pretrained(folder)
        vocab = QuestionVocabulary.from_pretrained(folder)
        return cls(model, vocab, load_answers(folder), name or Path(folder).name)

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    def image_tensor(self, image: np.ndarray) -> torch.Tensor:
        """(H, W, 3) float in [0, 1] -> (3, S, S): squeezed to the model's square input, so
        left stays left and top stays top whatever the picture's shape."""
        pixels = (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        resized = media.squash_to_square(pixels, self.image_size)  # as the training data
        return torch.from_numpy(np.array(resized)).permute(2, 0, 1).float().div_(255.0)

    def known_words(
        self, question: str, encoder: Callable[[], Any] | None = None
    ) -> tuple[str, list[WordMapping], list[str]]:
        """The question in vocabulary words, the mappings made, and notes for the person.

        A question none of whose words the model knows, even after mapping (Chinese, Arabic,
        "blorp zzz"), is refused: the model would otherwise answer an empty question as if it
        had read it.
        """
        if not self.vocab.tokenize(question):
            raise InputError(
                "This model reads questions in English only; please ask in English, "
                "for example “what is on the left?”."
            )
        if not self.vocab.unknown(question):
            return " ".join(self.vocab.tokenize(question)), [], []
        try:
            if self._mapper is None:
                model = (encoder or (lambda: hub.get(shared.SENTENCE_ENCODER.name)))()
                self._mapper = SynonymMapper(self.vocab, model.encode)
            text, changes = self._mapper.map(question)
        except ModelUnavailableError as error:
            known = [w for w in self.vocab.tokenize(question) if w in self.vocab]
            unknown = self.vocab.unknown(question)
            self._refuse_if_empty(known, question)
            note = f"Unknown words were left out ({', '.join(unknown)}): {error}"
            return " ".join(known), [WordMapping(w, None, 0.0) for w in unknown], [note]
        self._refuse_if_empty(text.split(), question)
        notes = []
        read = [c.reading() for c in changes if c.replacement]
        dropped = [c.phrase for c in changes if not c.replacement]
        if read:
            notes.append(
                "Words this model was not trained on were read as: " + ", ".join(read) + "."
            )
        if dropped:
            notes.append(f"Words this model does not know were left out: {', '.join(dropped)}.")
        return text, changes, notes

    def _refuse_if_empty(self, words: list[str], question: str) -> None:
        if not words:
            examples = [q for _, q in QUESTION_KINDS.get(self.name, QUESTION_KINDS[BUILTIN])]
            shown = question if len(question) <= 40 else question[:40] + "…"
            raise InputError(
                f"This model knows none of the words of “{shown}”, so it cannot "
                f"read the question; it answers questions such as “{examples[0]}” or "
                f"“{examples[2]}”."
            )

    @torch.inference_mode()
    def predict(
        self,
        images: torch.Tensor,
        questions: Sequence[str],
        image_index: torch.Tensor | None = None,
        k: int = TOP_K,
    ) -> tuple[list[list[tuple[str, float]]], np.ndarray]:
        """Top-k answers per question and attention maps (Q, g, g) averaged over the hops.

        ``images`` (B, 3, S, S); ``questions`` in vocabulary words; ``image_index`` (Q,) as in
        :meth:`StackedAttentionVQA.answer`. Question-only models give empty maps (Q, 0, 0).
        """
        param = next(self.model.parameters())
        tokens = self.vocab.encode_batch(list(questions)).to(param.device)
        index = None if image_index is None else image_index.to(param.device)
        out = self.model(images.to(param.device, param.dtype), tokens, index)
        g = self.model.config.grid_size if out.attention.shape[-1] else 0
        maps = out.attention.float().mean(1).reshape(len(questions), g, g).cpu().numpy()
        return top_k(out.logits, self.answers, k), maps


def _load_builtin(name: str) -> Callable[[], BuiltinVQA]:
    def load() -> BuiltinVQA:
        folder = get_settings().checkpoints_dir / CHECKPOINTS[name]
        if not (folder / "model.safetensors").is_file():
            raise ModelUnavailableError(
                f"The built-in VQA checkpoint is missing ({CHECKPOINTS[name]}); retrain it with "
                "python -m multimodal_core.train.vqa, or choose another model."
            )
        return BuiltinVQA.from_pretrained(folder, name)

    return load


def _load_pretrained(setting: str) -> Callable[[], Any]:
    def load() -> Any:
        from multimodal_core.backends.vqa import load_vqa

        return load_vqa(getattr(get_settings(), setting))

    return load


SPECS: tuple[hub.ModelSpec, ...] = (
    hub.ModelSpec(BUILTIN, "vqa", _load_builtin(BUILTIN), 1.2, "built-in VQA model (world)"),
    hub.ModelSpec(
        BUILTIN_EASYVQA, "vqa", _load_builtin(BUILTIN_EASYVQA), 1.2, "built-in VQA model (easy-vqa)"
    ),
    hub.ModelSpec(VILT, "vqa", _load_pretrained("vqa_model"), 470.0, "ViLT VQA model",
                  half_on_cuda=True, pretrained=True, source="vqa_model"),
    hub.ModelSpec(BLIP, "vqa", _load_pretrained("vqa_model_alt"), 1500.0, "BLIP VQA model",
                  half_on_cuda=True, pretrained=True, source="vqa_model_alt"),
)  # fmt: skip
for _spec in SPECS:
    hub.register(_spec)
shared.register()


@dataclass
class VQAResult:
    """The answer, the top answers with probabilities, and what to show beside them."""

    answer: str
    top: list[tuple[str, float]]
    model: str
    question: str  # as asked (trimmed)
    not_sure: bool
    notes: list[str] = field(default_factory=list)
    attention: np.ndarray | None = None  # (g, g) map, built-in models only
    overlay: np.ndarray | None = None  # uint8 (H, W, 3): the map over the picture
    score_kind: str = "probability"
    # The out-of-world check (tasks/world_check.py), for the world's built-in model only: None
    # for easy-vqa's (whose shapes are not the world) and the pretrained models, or when the
    # check is not installed.
    in_world: bool | None = None
    in_world_score: float | None = None
    # What the model read: the question in its own words (a built-in model knows only its
    # training questions' words; the pretrained ones read the question as asked), and each
    # unknown word or phrase with the known word it was read as (None: left out).
    read_as: str = ""
    word_mappings: list[WordMapping] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready: no pictures, the attention map as nested lists."""
        values = asdict(self)
        values.pop("overlay")
        values["top"] = [{"answer": a, "score": round(p, 4)} for a, p in self.top]
        values["word_mappings"] = [m.to_dict() for m in self.word_mappings]
        if self.attention is not None:
            values["attention"] = np.round(self.attention, 4).tolist()
        return values


def model_name(choice: str) -> str:
    """A choice key -> the hub name of its model; InputError for an unknown key."""
    return CHOICES.get(choice).models[0]


def check_question(question: str | None) -> str:
    """The question, trimmed; one sentence when it has no words or is far too long."""
    text = (question or "").strip()
    limit = get_settings().max_text_chars
    if len(text) > limit:
        raise InputError(
            f"The question is {len(text):,} characters long; please ask it in at most {limit} "
            "characters, for example “what is on the left?”."
        )
    if not re.search(r"[^\W_]", text):
        raise InputError(
            "Please type a question with at least one word, for example “what is on the left?”."
        )
    return text


def _not_sure_note(top: list[tuple[str, float]], kind: str) -> str:
    answer, p = top[0]
    what = "probability" if kind == "probability" else kind
    return (
        f"Not sure: the best answer, “{answer}”, has a {what} of only {p:.0%}; "
        "the picture may be unlike what this model has seen, or the question may be ambiguous."
    )


def answer_question(
    image_path: str | Path, question: str | None, model: str = "builtin", overlay: bool = True
) -> VQAResult:
    """Answer one question about an uploaded picture; InputError for an unusable one."""
    text = check_question(question)
    name = model_name(model)
    image = media.load_image(image_path)
    if name in CHECKPOINTS:
        builtin: BuiltinVQA = hub.get(name)
        read = _read_question(builtin, text)
        top, heat = _PREDICT((builtin.image_tensor(image), read[0]), key=name)
        (check,) = _world_checks(name, [image])
        return _result(builtin.name, image, text, read, top, heat, overlay, check)
    result = _answer_pretrained(name, image, text)
    kind = "probability" if result.score_kind == "sequence probability" else "score"
    top = result.answers
    not_sure = not top or top[0][1] < NOT_SURE_BELOW
    notes = [_not_sure_note(top, kind)] if top and not_sure else []
    return VQAResult(
        answer=top[0][0] if top else "",
        top=top,
        model=name,
        question=text,
        not_sure=not_sure,
        notes=notes,
        score_kind=kind,
        read_as=text,
    )


@hub.gpu
def _read_question(builtin: BuiltinVQA, text: str) -> tuple[str, list[WordMapping], list[str]]:
    """:meth:`BuiltinVQA.known_words`: unknown words are mapped by the sentence encoder."""
    return builtin.known_words(text)


@hub.gpu
def _answer_pretrained(name: str, image: np.ndarray, text: str) -> Any:
    return hub.get(name).answer(image, text, k=TOP_K)


def answer_builtin(
    images: Sequence[np.ndarray],
    questions: Sequence[str],
    model: str = "builtin",
    overlay: bool = True,
) -> list[VQAResult]:
    """Answer question i about image i with a built-in model, all in one batch.

    ``images`` are (H, W, 3) floats in [0, 1] (``media.load_image``); questions are checked.
    """
    return answer_with(hub.get(model_name(model)), images, questions, overlay)


@hub.gpu
def answer_with(
    vqa: BuiltinVQA,
    images: Sequence[np.ndarray],
    questions: Sequence[str],
    overlay: bool = True,
) -> list[VQAResult]:
    """:func:`answer_builtin` with a given model rather than one from the hub (bench, tests)."""
    if len(images) != len(questions):
        raise ValueError(f"{len(images)} images but {len(questions)} questions")
    asked = [check_question(q) for q in questions]
    read = [vqa.known_words(q) for q in asked]
    batch = torch.stack([vqa.image_tensor(im) for im in images])  # (B, 3, S, S)
    tops, maps = vqa.predict(batch, [text for text, _, _ in read])
    checks = _world_checks(vqa.name, list(images))
    rows = zip(images, asked, read, tops, maps, checks, strict=True)
    return [
        _result(vqa.name, image, question, words, top, heat, overlay, check)
        for image, question, words, top, heat, check in rows
    ]


def _world_checks(name: str, images: list[np.ndarray]) -> list[world_check.WorldCheck | None]:
    """The out-of-world check of each picture for the world's built-in model, in one batch;
    None for any other model (easy-vqa's shapes are not the emoji world)."""
    return world_check.check_if_available(images) if name == BUILTIN else [None] * len(images)


@hub.gpu
def _predict_batch(
    items: list[tuple[torch.Tensor, str]], name: str
) -> list[tuple[list[tuple[str, float]], np.ndarray]]:
    """Top answers and attention map for each (picture (3, S, S), question in known words) of
    concurrent requests to the built-in model ``name`` (the batcher's key), in one pass."""
    tops, maps = hub.get(name).predict(torch.stack([t for t, _ in items]), [q for _, q in items])
    return list(zip(tops, maps, strict=True))


_PREDICT = MicroBatcher(_predict_batch, name="vqa")
"""Concurrent single-question requests share one forward pass (see multimodal_core.batching)."""


def _result(
    name: str,
    image: np.ndarray,
    asked: str,
    read: tuple[str, list[WordMapping], list[str]],
    top: list[tuple[str, float]],
    heat: np.ndarray,
    overlay: bool,
    check: world_check.WorldCheck | None = None,
) -> VQAResult:
    """A built-in model's answer to ``asked``: ``read`` is :meth:`BuiltinVQA.known_words` of
    it, ``check`` the out-of-world check of the picture where there is one."""
    text, mappings, notes = read
    not_sure = top[0][1] < NOT_SURE_BELOW
    has_map = heat.size > 0
    out_of_world = check is not None and not check.in_world
    notes = [*([out_of_world_note()] if out_of_world else []), *notes]
    return VQAResult(
        answer=top[0][0],
        top=top,
        model=name,
        question=asked,
        not_sure=not_sure,
        notes=[*notes, *([_not_sure_note(top, "probability")] if not_sure else [])],
        attention=heat if has_map else None,
        overlay=viz.overlay_heatmap(image, heat) if overlay and has_map else None,
        in_world=None if check is None else check.in_world,
        in_world_score=None if check is None else check.score,
        read_as=text,
        word_mappings=list(mappings),
    )


def example_questions() -> list[str]:
    return list(EXAMPLE_QUESTIONS)


def question_kinds(choice: str) -> list[tuple[str, str]]:
    """(kind, example question) for each kind of question the model of ``choice`` was trained
    on; empty for a pretrained model, which reads any question in English."""
    return list(QUESTION_KINDS.get(model_name(choice), ()))
