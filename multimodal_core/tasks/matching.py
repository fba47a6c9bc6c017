"""Search in one space for pictures and words: by text, by picture, by "this picture - dog +
cat", and the tags of one picture, over a gallery; with a 2-D map of gallery and query.

The built-in model (hub ``matching``, ``checkpoints/matching``) is the joint image-text space
trained here: the frozen world classifier's feature map and the frozen skip-gram word vectors
(``checkpoints/world_classifier``, ``checkpoints/words``), joined by projections trained with
InfoNCE plus semantic regularization. It knows only the synthetic world, and says so when a
query picture is not from it. The pretrained choice is CLIP (hub ``matching_clip``, the
``clip_model`` setting), which knows photos and any words and also classifies a picture among
labels a person types (zero-shot). The gallery is the world's held-out test scenes
(``examples/matching``, written by ``python -m multimodal_core.evaluate matching
--write-examples 200``; embedded once and kept) or the pictures a person uploads (decoded, checked
and embedded on each call; the tab keeps them per visitor).
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch import nn

from multimodal_core import hub, media, viz
from multimodal_core.backends.matching import ClipSpace, load_clip
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models import word_vectors
from multimodal_core.models.joint_embedding import JointEmbedding, JointSpace, arithmetic, search
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.sound_pictures import figure_to_array
from multimodal_core.tasks import world_check

BUILTIN = "matching"
CLIP = "matching_clip"
CHECKPOINT = "matching"
CHOICES = ModelChoices(
    (
        ModelChoice(
            "builtin",
            "Built-in: joint space of the world classifier and skip-gram words "
            "(synthetic world, offline)",
            (BUILTIN,),
        ),
        ModelChoice("clip", "CLIP (pretrained, downloads)", (CLIP,), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "clip"},
)
TAG_THRESHOLD = 0.19
"""Cosine at which a class name tags a picture: the threshold with the best tag F1 on 1,000
validation scenes (``python -m multimodal_core.evaluate matching``: tag F1 0.947 on test)."""
TOP_K = 8
MAX_TOP_K = 50
MAX_QUERY_WORDS = 40  # the space was trained on captions of at most about 20 words
MAX_LABELS = 20  # zero-shot classification: labels one request may name
MAX_GALLERY = 100
"""Pictures one upload may hold: each is decoded and embedded on every search."""
SIDE = 64
"""The built-in space's input side (the world classifier's): galleries are squashed to it once."""
THUMBNAIL_SIDE = 224  # what people see of an uploaded picture, and what CLIP reads (224 px)
GALLERY_FOLDER = "matching"  # under examples/
EXAMPLE_QUERIES: tuple[str, ...] = (
    "a dog on a blue background",
    "two cats",
    "a piano and a guitar",
    "a car on a grass background",
    "a baby beside a ball",
)


def out_of_world_note(answer: str = "ranking") -> str:
    """The built-in model's sentence for a query picture from outside its world; ``answer``
    names what is likely wrong ("ranking", "tagging")."""
    advice = world_check.where_to_go(CHOICES, "photos")
    return world_check.out_of_world_note(answer, advice)


# ----- the model -------------------------------------------------------------------------------


class BuiltinMatching(hub.ModelWrapper):
    """The joint space with its frozen world classifier and word vectors, on one device."""

    def __init__(
        self, joint: JointEmbedding, classifier: WorldClassifier, words: Sequence[str],
        vectors: torch.Tensor,
    ) -> None:  # fmt: skip
        self.model = nn.ModuleDict({"joint": joint, "classifier": classifier})
        self.classifier = classifier
        self.side = classifier.config.image_size
        self.space = JointSpace(
            joint, self._features, words=words, vectors=vectors,
            tokenize=word_vectors.tokenize,
        )  # fmt: skip

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> BuiltinMatching:
        super().to(device, dtype)
        self.space.vectors = self.space.vectors.to(device)  # the GRU reads them where it runs
        return self

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        param = next(self.classifier.parameters())
        return self.classifier.feature_map(images.to(param.device, param.dtype))

    def embed_pictures(self, squares: np.ndarray) -> torch.Tensor:
        """(N, S, S, 3) uint8 pictures at the classifier's side -> (N, E) unit vectors (CPU)."""
        images = torch.from_numpy(squares).permute(0, 3, 1, 2).float().div_(255.0)
        return self.space.encode_images(images).float().cpu()

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.space.encode_texts(list(texts)).float().cpu()

    def embed_gallery(self, gallery: Gallery) -> torch.Tensor:
        squares = gallery.squares
        if squares.shape[1] != self.side:  # squashed for another model's side
            squares = np.stack([_square(q.astype(np.float32) / 255.0, self.side) for q in squares])
        return self.embed_pictures(squares)

    def embed_image(self, image: np.ndarray) -> torch.Tensor:
        return self.embed_pictures(_square(image, self.side)[None])[0]

    @property
    def scale(self) -> float:
        """The shared classifier's logit scale on a cosine: for zero-shot probabilities."""
        return float(self.space.model.config.class_scale)


class ClipEmbedder:
    """CLIP behind the same calls as :class:`BuiltinMatching`: it reads each picture as people
    see it (the thumbnail, up to 224 px) and the text as typed."""

    def __init__(self, clip: ClipSpace) -> None:
        self.clip = clip

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.clip.embed_texts(texts)

    def embed_gallery(self, gallery: Gallery) -> torch.Tensor:
        return self.clip.embed_pictures(gallery.thumbnails)

    def embed_image(self, image: np.ndarray) -> torch.Tensor:
        return self.clip.embed_pictures([image])[0]

    @property
    def scale(self) -> float:
        return self.clip.logit_scale


def _load_builtin() -> BuiltinMatching:
    root = get_settings().checkpoints_dir
    folder = root / CHECKPOINT
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(
            "The built-in joint image-text space is missing (checkpoints/matching); retrain it "
            "with python -m multimodal_core.train.matching."
        )
    joint = JointEmbedding.from_pretrained(folder)
    if joint.config.text_input != "words":
        raise ModelUnavailableError(
            "checkpoints/matching reads sentence vectors; the Search tab serves the space "
            "trained on the skip-gram words."
        )
    classifier = WorldClassifier.from_pretrained(root / joint.config.image_encoder)
    vectors, vocabulary = word_vectors.load(root / joint.config.text_vectors)
    return BuiltinMatching(joint, classifier, vocabulary.words, vectors.vectors.detach().float())


SPEC = hub.ModelSpec(
    BUILTIN, "matching", _load_builtin, 12.4,
    "built-in joint image-text space (with the world classifier and the word vectors)",
)  # fmt: skip
"""12.4 MB: the space (0.9 M parameters), the world classifier (1.2 M) and the word vectors
(about 21,000 x 128) in float32."""
hub.register(SPEC)
CLIP_SPEC = hub.ModelSpec(
    CLIP, "matching", load_clip, 605.0, "CLIP model", half_on_cuda=True,
    pretrained=True, source="clip_model",
)  # fmt: skip
"""605 MB: CLIP ViT-B/32's 151 M float32 parameters."""
hub.register(CLIP_SPEC)


class Embedder(Protocol):
    """What a search asks of a model: unit embeddings (CPU) in one space."""

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor: ...

    def embed_gallery(self, gallery: Gallery) -> torch.Tensor: ...

    def embed_image(self, image: np.ndarray) -> torch.Tensor: ...

    @property
    def scale(self) -> float: ...


def _model(choice: str) -> tuple[str, Embedder]:
    """The hub name and model of a choice key (call inside ``hub.gpu``)."""
    name = CHOICES.get(choice).models[0]
    model = hub.get(name)
    return name, (model if name == BUILTIN else ClipEmbedder(model))


# ----- galleries -------------------------------------------------------------------------------


@dataclass
class Gallery:
    """Pictures to search: what the model reads and what people see of each.

    ``source`` is "world" (the held-out test scenes shipped in examples/matching) or "uploads".
    """

    source: str
    names: list[str]
    squares: np.ndarray  # (N, S, S, 3) uint8: each picture squashed to the classifier's side
    thumbnails: list[np.ndarray]  # uint8 RGB, at most THUMBNAIL_SIDE a side
    captions: list[str] = field(default_factory=list)  # world scenes: the canonical caption
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def description(self) -> str:
        if self.source == "world":
            return f"{len(self)} held-out test scenes of the synthetic world"
        return f"your {len(self)} picture" + ("s" if len(self) != 1 else "")


def _thumbnail(picture: np.ndarray) -> np.ndarray:
    image = Image.fromarray((np.clip(picture, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return np.array(image)  # writable: CLIP's processor reads it into a tensor


def _square(picture: np.ndarray, side: int) -> np.ndarray:
    return (media.squash_to_square(picture, side) * 255 + 0.5).astype(np.uint8)


_WORLD: dict[tuple[str, str], tuple[int, Gallery, torch.Tensor]] = {}
"""Per (examples folder, hub name): the loaded model's id, the world gallery and its embedding,
built once per loaded model."""
_WORLD_LOCK = threading.Lock()


def _world_gallery(side: int) -> Gallery:
    folder = get_settings().examples_dir / GALLERY_FOLDER
    try:
        entries = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
        pictures = [np.array(Image.open(folder / e["file"]).convert("RGB")) for e in entries]
    except (OSError, ValueError, KeyError):
        raise ModelUnavailableError(
            "The gallery of world scenes (examples/matching) is missing or damaged; write it with "
            "python -m multimodal_core.evaluate matching --write-examples 200, or upload your "
            "own pictures."
        ) from None
    squares = np.stack([_square(p.astype(np.float32) / 255.0, side) for p in pictures])
    return Gallery(
        "world",
        [e["file"] for e in entries],
        squares,
        [np.asarray(p) for p in pictures],
        [e["caption"] for e in entries],
    )


def _world(name: str, model: Embedder) -> tuple[Gallery, torch.Tensor]:
    """The world gallery and its (N, E) embedding by the model ``name`` (inside ``hub.gpu``)."""
    key = (str(get_settings().examples_dir), name)
    with _WORLD_LOCK:
        if key not in _WORLD or _WORLD[key][0] != id(model):  # a reloaded model: embed again
            gallery = _world_gallery(SIDE)
            _WORLD[key] = (id(model), gallery, model.embed_gallery(gallery))
        return _WORLD[key][1:]


def load_gallery(paths: Sequence[str | Path] | None, side: int = SIDE) -> Gallery:
    """The person's pictures as a gallery: each decoded by ``media.load_image``; a file that
    cannot be used is skipped with a note naming it. InputError (one sentence) for no picture,
    more than :data:`MAX_GALLERY`, or none usable."""
    paths = [p for p in (paths or []) if p]
    if not paths:
        raise InputError("Please upload at least one picture for your gallery.")
    if len(paths) > MAX_GALLERY:
        raise InputError(
            f"That is {len(paths):,} pictures; please upload at most {MAX_GALLERY} at a time."
        )
    names, squares, thumbnails, notes = [], [], [], []
    for path in paths:
        name = Path(path).name
        try:
            picture = media.load_image(path)
        except InputError as error:
            notes.append(f"Skipped {name}: {error}")
            continue
        names.append(name)
        squares.append(_square(picture, side))
        thumbnails.append(_thumbnail(picture))
    if not names:
        raise InputError(
            f"None of the {len(paths)} files could be read as a picture; "
            f"{media.PLEASE_IMAGE}. {notes[0]}"
        )
    return Gallery("uploads", names, np.stack(squares), thumbnails, [""] * len(names), notes)


def _gallery(name: str, model: Embedder, gallery: Gallery | None) -> tuple[Gallery, torch.Tensor]:
    if gallery is None:
        return _world(name, model)
    if len(gallery) == 0:
        raise InputError("Your gallery is empty; please upload some pictures, or search the world.")
    return gallery, model.embed_gallery(gallery)


# ----- queries ---------------------------------------------------------------------------------


def _words_of(text: str | None, what: str, required: bool) -> list[str]:
    """The words of a typed text; InputError for an over-long one, one with no English word,
    or an empty one when ``required``."""
    text = (text or "").strip()
    limit = get_settings().max_text_chars
    if len(text) > limit:
        raise InputError(f"The {what} is {len(text):,} characters long; please keep it under "
                         f"{limit}.")  # fmt: skip
    words = word_vectors.tokenize(text)
    if not words and (required or text):  # an optional text may be empty, not unreadable
        raise InputError(
            f"Please type the {what} in English words, for example “a dog on a blue background”."
        )
    if len(words) > MAX_QUERY_WORDS:
        raise InputError(f"Please use at most {MAX_QUERY_WORDS} words in the {what}, "
                         f"not {len(words):,}.")  # fmt: skip
    return words


def _known_text(model: BuiltinMatching, words: list[str], what: str) -> tuple[str, list[str]]:
    """The text of the words that have a vector, and a note for those left out; InputError
    when none has one."""
    index = model.space.index
    unknown = [w for w in dict.fromkeys(words) if w not in index]
    known = [w for w in words if w in index]
    if unknown:
        named = []
        for word in unknown:
            near = difflib.get_close_matches(word, list(index)[:20_000], n=2, cutoff=0.8)
            named.append(f"“{word}”" + (f" (did you mean {', '.join(near)}?)" if near else ""))
        sentence = f"Not among the {len(index):,} words the model knows: {'; '.join(named)}."
        if not known:
            raise InputError(f"{sentence} Please describe the {what} with other words.")
        return " ".join(known), [f"{sentence} Left out of the {what}."]
    return " ".join(known), []


@dataclass
class Hit:
    """One gallery picture found: its rank, place in the gallery, name and cosine score."""

    rank: int
    index: int
    name: str
    score: float
    caption: str = ""


@dataclass
class SearchResult:
    """The gallery pictures nearest the query, best first, and the map of gallery and query."""

    query: str
    by: str  # "text", "picture" or "arithmetic"
    model: str
    gallery: str
    hits: list[Hit]
    notes: list[str] = field(default_factory=list)
    # The out-of-world check of a query picture (tasks/world_check.py); None for a text query or
    # when the check is not installed.
    in_world: bool | None = None
    in_world_score: float | None = None
    tags: list[tuple[str, float]] = field(default_factory=list)  # a query picture's tags
    pictures: list[np.ndarray] = field(default_factory=list)  # the hits' thumbnails
    space_map: SpaceMap | None = None  # what the map shows, drawn by the caller's ``draw``
    map_picture: np.ndarray | None = None

    def to_dict(self) -> dict:
        """JSON-ready, without pictures."""
        return {
            "query": self.query,
            "by": self.by,
            "model": self.model,
            "gallery": self.gallery,
            "results": [
                {"rank": h.rank, "name": h.name, "score": round(h.score, 4), "caption": h.caption}
                for h in self.hits
            ],
            "tags": [{"tag": t, "cosine": round(s, 4)} for t, s in self.tags],
            "notes": self.notes,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
        }


@dataclass(frozen=True)
class SpaceMap:
    """The gallery and the query on their first two principal components (of the gallery and
    the query together): (N + 1, 2) places, the query last; the hits as (gallery index, rank)."""

    xy: np.ndarray
    hits: list[tuple[int, int]]
    title: str


def space_map(gallery: np.ndarray, query: np.ndarray, hits: list[Hit]) -> SpaceMap:
    """The map of (N, E) gallery and (E,) query embeddings."""
    title = f"{len(gallery)} gallery pictures and the query: first two principal components"
    xy = viz.pca_2d(np.concatenate([gallery, query[None]]))
    return SpaceMap(xy, [(h.index, h.rank) for h in hits], title)


def map_picture(space: SpaceMap) -> np.ndarray:
    """The map drawn: every picture a dot, the hits numbered, the query a star. Matplotlib:
    the tab draws it in a worker process, off the server's interpreter lock."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xy, title = space.xy, space.title
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    figure.subplots_adjust(left=0.04, right=0.96, bottom=0.04, top=0.92)
    axes.scatter(xy[:-1, 0], xy[:-1, 1], s=14, color="#9aa5b1", label="gallery pictures")
    found = np.array([index for index, _ in space.hits], dtype=int)
    if len(found):
        axes.scatter(xy[found, 0], xy[found, 1], s=40, color="#1f5fa8", label="results")
        for index, rank in space.hits:
            axes.annotate(str(rank), xy[index], xytext=(4, 4), textcoords="offset points",
                          fontsize=9, color="#1f5fa8")  # fmt: skip
    axes.scatter([xy[-1, 0]], [xy[-1, 1]], s=220, marker="*", color="#c0392b", label="query")
    axes.legend(loc="best", fontsize=8, framealpha=0.8)
    axes.set_xlim(-1.15, 1.15)
    axes.set_ylim(-1.15, 1.15)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=10)
    return figure_to_array(figure)


def _ranked(
    query: torch.Tensor, embedding: torch.Tensor, gallery: Gallery, top_k: int
) -> list[Hit]:
    scores, indices = search(query[None], embedding, top_k)
    pairs = [(int(i), float(s)) for s, i in zip(scores[0], indices[0], strict=True)]
    return [
        Hit(rank, i, gallery.names[i], s, gallery.captions[i] if gallery.captions else "")
        for rank, (i, s) in enumerate(pairs, start=1)
    ]


def _finish(
    result: SearchResult, query: torch.Tensor, embedding: torch.Tensor, gallery: Gallery,
    picture: bool,
) -> SearchResult:  # fmt: skip
    result.notes = [*result.notes, *gallery.notes]
    if picture:
        result.pictures = [gallery.thumbnails[h.index] for h in result.hits]
        if len(gallery) >= 2:
            result.space_map = space_map(embedding.numpy(), query.numpy(), result.hits)
    return result


def _drawn(result: SearchResult, draw: Callable[[SpaceMap], np.ndarray | None]) -> SearchResult:
    """The map drawn outside the model call (``draw`` may send it to a worker process, or
    return None: no map wanted)."""
    if result.space_map is not None:
        result.map_picture = draw(result.space_map)
    return result


def _check_top_k(top_k: int) -> int:
    if not 1 <= int(top_k) <= MAX_TOP_K:
        raise InputError(f"Please ask for between 1 and {MAX_TOP_K} results.")
    return int(top_k)


def _readable(model: Embedder, words: list[str], what: str) -> tuple[str, list[str]]:
    """The text a model reads of typed words, with notes: the built-in one leaves out the words
    it has no vector for; CLIP's tokenizer reads any word."""
    if isinstance(model, BuiltinMatching):
        return _known_text(model, words, what)
    return " ".join(words), []


@hub.gpu
def _search_text(
    words: list[str], gallery: Gallery | None, choice: str, top_k: int, picture: bool
) -> SearchResult:
    name, model = _model(choice)
    text, notes = _readable(model, words, "query")
    pictures, embedding = _gallery(name, model, gallery)
    query = model.embed_texts([text])[0]
    hits = _ranked(query, embedding, pictures, top_k)
    result = SearchResult(text, "text", choice, pictures.description, hits, notes)
    return _finish(result, query, embedding, pictures, picture)


def search_text(
    text: str | None,
    gallery: Gallery | None = None,
    model: str = "builtin",
    top_k: int = TOP_K,
    picture: bool = True,
    draw: Callable[[SpaceMap], np.ndarray | None] = map_picture,
) -> SearchResult:
    """The gallery pictures (default: the world's test scenes) nearest a typed description,
    with their thumbnails and the map when ``picture``. InputError (one sentence) for an empty,
    over-long or wholly unknown query."""
    words = _words_of(text, "query", required=True)
    CHOICES.get(model)
    return _drawn(_search_text(words, gallery, model, _check_top_k(top_k), picture), draw)


def _tags_of(model: BuiltinMatching, embedding: torch.Tensor) -> list[tuple[str, float]]:
    return model.space.tags(embedding[None].to(model.space.vectors.device), TAG_THRESHOLD)[0]


@hub.gpu
def _search_picture(
    image: np.ndarray, minus: list[str], plus: list[str], gallery: Gallery | None, choice: str,
    top_k: int, picture: bool,
) -> SearchResult:  # fmt: skip
    name, model = _model(choice)
    notes: list[str] = []
    minus_text, plus_text = "", ""
    if minus:
        minus_text, more = _readable(model, minus, "words to take away")
        notes += more
    if plus:
        plus_text, more = _readable(model, plus, "words to add")
        notes += more
    pictures, embedding = _gallery(name, model, gallery)
    base = model.embed_image(image)
    query = base
    if minus_text or plus_text:
        zero = torch.zeros_like(base)
        take = model.embed_texts([minus_text])[0] if minus_text else zero
        add = model.embed_texts([plus_text])[0] if plus_text else zero
        query = arithmetic(base[None], take[None], add[None])[0]
    described = "this picture" + (f" - {minus_text}" if minus_text else "") + (
        f" + {plus_text}" if plus_text else "")  # fmt: skip
    by = "arithmetic" if query is not base else "picture"
    hits = _ranked(query, embedding, pictures, top_k)
    result = SearchResult(described, by, choice, pictures.description, hits, notes)
    if isinstance(model, BuiltinMatching):  # CLIP knows photos: no check, no world tags
        (check,) = world_check.check_if_available([image])
        if check is not None and not check.in_world:
            result.notes.insert(0, out_of_world_note())
        result.in_world = None if check is None else check.in_world
        result.in_world_score = None if check is None else check.score
        result.tags = _tags_of(model, base)
    return _finish(result, query, embedding, pictures, picture)


def search_picture(
    path: str | Path | None,
    minus: str | None = "",
    plus: str | None = "",
    gallery: Gallery | None = None,
    model: str = "builtin",
    top_k: int = TOP_K,
    picture: bool = True,
    draw: Callable[[SpaceMap], np.ndarray | None] = map_picture,
) -> SearchResult:
    """The gallery pictures nearest an uploaded picture, or, with words, nearest "this picture -
    ``minus`` + ``plus``". InputError (one sentence) for a bad upload or bad words."""
    if path is None or not str(path).strip():
        raise InputError("Please upload a picture to search with, or pick an example scene.")
    minus_words = _words_of(minus, "words to take away", required=False)
    plus_words = _words_of(plus, "words to add", required=False)
    CHOICES.get(model)
    top_k = _check_top_k(top_k)
    image = media.load_image(path)
    found = _search_picture(image, minus_words, plus_words, gallery, model, top_k, picture)
    return _drawn(found, draw)


@dataclass
class TagsResult:
    """A picture's tags (class names at or above the calibrated cosine, best first) and the
    shared classifier's best background word."""

    tags: list[tuple[str, float]]
    background: tuple[str, float] | None
    model: str
    notes: list[str] = field(default_factory=list)
    in_world: bool | None = None
    in_world_score: float | None = None

    def to_dict(self) -> dict:
        return {
            "tags": [{"tag": t, "cosine": round(s, 4)} for t, s in self.tags],
            "background": None if self.background is None else {
                "word": self.background[0], "probability": round(self.background[1], 4)},
            "threshold": TAG_THRESHOLD,
            "model": self.model,
            "notes": self.notes,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
        }  # fmt: skip


@hub.gpu
def _tags(image: np.ndarray) -> TagsResult:
    model: BuiltinMatching = hub.get(BUILTIN)
    embedding = model.embed_image(image)
    config = model.space.model.config
    background = None
    if config.background_names:
        device_embedding = embedding[None].to(model.space.vectors.device)
        probabilities = model.space.label_probabilities(device_embedding)[0].float().cpu()
        tail = probabilities[len(config.class_names) :]
        best = int(tail.argmax())
        background = (config.background_names[best], float(tail[best]))
    (check,) = world_check.check_if_available([image])
    notes = [out_of_world_note("tagging")] if check is not None and not check.in_world else []
    return TagsResult(
        _tags_of(model, embedding), background, "builtin", notes,
        in_world=None if check is None else check.in_world,
        in_world_score=None if check is None else check.score,
    )  # fmt: skip


def tag_picture(path: str | Path | None, model: str = "builtin") -> TagsResult:
    """The tags of one uploaded picture (the built-in model's, at its calibrated threshold);
    InputError (one sentence) for a bad upload, or for CLIP, which classifies typed labels."""
    if path is None or not str(path).strip():
        raise InputError("Please upload a picture to tag, or pick an example scene.")
    if CHOICES.get(model).models[0] != BUILTIN:
        raise InputError(
            "Tags come from the built-in model's calibrated threshold; with CLIP, type the "
            "labels to choose among and classify the picture."
        )
    return _tags(media.load_image(path))


@dataclass
class Classification:
    """Zero-shot classification: each typed label's probability for the picture (a softmax
    over the labels of the model's scale times each cosine), best first."""

    labels: list[tuple[str, float]]
    model: str
    notes: list[str] = field(default_factory=list)
    in_world: bool | None = None
    in_world_score: float | None = None

    def to_dict(self) -> dict:
        return {
            "labels": [{"label": label, "probability": round(p, 4)} for label, p in self.labels],
            "model": self.model,
            "notes": self.notes,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
        }


def parse_labels(text: str | None) -> list[str]:
    """ "a cat, a dog, a car" -> ["a cat", "a dog", "a car"]; InputError for fewer than two,
    more than :data:`MAX_LABELS`, or an over-long text."""
    text = (text or "").strip()
    if len(text) > get_settings().max_text_chars:
        raise InputError(f"The labels are too long; please keep them under "
                         f"{get_settings().max_text_chars} characters.")  # fmt: skip
    labels = list(dict.fromkeys(" ".join(word_vectors.tokenize(part)) for part in text.split(",")))
    labels = [label for label in labels if label]
    if len(labels) < 2:
        raise InputError("Please type at least two labels separated by commas, such as "
                         "“a cat, a dog, a car”.")  # fmt: skip
    if len(labels) > MAX_LABELS:
        raise InputError(f"Please type at most {MAX_LABELS} labels, not {len(labels)}.")
    return labels


@hub.gpu
def _classify(image: np.ndarray, labels: list[str], choice: str) -> Classification:
    name, model = _model(choice)
    notes: list[str] = []
    read = []
    for label in labels:
        text, more = _readable(model, label.split(), "label")
        read.append(text)
        notes += more
    cosines = model.embed_texts(read) @ model.embed_image(image)  # (L,)
    probabilities = torch.softmax(model.scale * cosines, dim=0).tolist()
    ranked = sorted(zip(labels, probabilities, strict=True), key=lambda lp: -lp[1])
    result = Classification(ranked, choice, notes)
    if name == BUILTIN:
        (check,) = world_check.check_if_available([image])
        if check is not None and not check.in_world:
            result.notes.insert(0, out_of_world_note("classification"))
        result.in_world = None if check is None else check.in_world
        result.in_world_score = None if check is None else check.score
    return result


def classify(path: str | Path | None, labels: str | None, model: str = "clip") -> Classification:
    """Zero-shot classification of an uploaded picture among typed labels ("a cat, a dog, a
    car"), CLIP's homework; the built-in model does it too, in its world's words."""
    if path is None or not str(path).strip():
        raise InputError("Please upload a picture to classify, or pick an example scene.")
    parsed = parse_labels(labels)
    CHOICES.get(model)
    return _classify(media.load_image(path), parsed, model)


def strip(pictures: Sequence[np.ndarray], side: int = 96, gap: int = 4) -> np.ndarray:
    """Pictures side by side on white, each fitted into a ``side`` square: a result at a
    glance, for the columns that compare two models."""
    sheet = np.full((side, max(1, len(pictures)) * (side + gap) - gap, 3), 255, np.uint8)
    for i, picture in enumerate(pictures):
        image = Image.fromarray(picture)
        image.thumbnail((side, side))  # only ever shrinks
        if max(image.size) < side:  # a 64 px scene: enlarged, crisp
            factor = side / max(image.size)
            size = (round(image.width * factor), round(image.height * factor))
            image = image.resize(size, Image.Resampling.NEAREST)
        tile = np.asarray(image)
        x = i * (side + gap) + (side - tile.shape[1]) // 2
        y = (side - tile.shape[0]) // 2
        sheet[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return sheet


def gallery_from_folder(folder: str | Path) -> Gallery:
    """Every file of a folder (not its subfolders), in name order, as :func:`load_gallery`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"There is no folder called {folder.name!r} to search.")
    return load_gallery(sorted(p for p in folder.iterdir() if p.is_file()))


def example_pictures(n: int = 6) -> list[str]:
    """Paths of a few world test scenes of the default gallery, for the tab's examples."""
    folder = get_settings().examples_dir / GALLERY_FOLDER
    return [str(p) for p in sorted(folder.glob("scene_*.png"))[:n]]


def examples() -> list[str]:
    return list(EXAMPLE_QUERIES)
