"""Train the stacked-attention VQA model: ``python -m multimodal_core.train.vqa --data world``.

Two data sets: ``world`` (the synthetic world's questions, scenes rendered during training into
a replay buffer, a few fresh ones a step) and ``easyvqa`` (the public easy-vqa set from PyPI:
4,000 train images of 64 x 64 px; its last ``easyvqa_val_images`` train images are held back
for validation, the test set is left to the evaluation). A step samples scenes and asks every
question stored with each of them, so each image is encoded once for about six questions.
``--question-only`` trains the same architecture with the image stream removed (the baseline).

Every ``val_every`` steps the validation accuracy is measured; the best is written to ``--out``
(config.json, fp16 model.safetensors, vocab.json, answers.json, training.json). Resume state
(weights, optimiser, counters) goes to ``--run-dir`` and ``--resume`` continues from it,
including the elapsed time that drives the learning-rate schedule.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from multimodal_core.models.vqa import (
    QuestionVocabulary,
    StackedAttentionVQA,
    VQAConfig,
    attention_supervision_loss,
)
from multimodal_core.models.vqa import save_answers as write_answers
from multimodal_core.settings import REPO_ROOT

if TYPE_CHECKING:
    from multimodal_core.world.datasets import VQADataset

logger = logging.getLogger(__name__)

DATA_CHOICES = ("world", "easyvqa")
EASYVQA_TYPES = ("shape", "color", "yes/no")  # by answer: what the question asks for
EASYVQA_SHAPES = frozenset({"circle", "rectangle", "triangle"})


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    data: str = "world"  # world or easyvqa
    out: Path | None = None  # best checkpoint; default checkpoints/vqa_<data>[_question_only]
    run_dir: Path | None = None  # resume state (git-ignored); default runs/vqa_<data>[...]
    question_only: bool = False  # the baseline: the same model without its image stream
    hop_glimpses: bool = False  # the classifier also reads each hop's glimpse (relations)
    hop_positions: bool = False  # the classifier also reads where each hop looked (relations)
    question_attention: bool = False  # each hop also attends over the question's words
    hop_relations: bool = False  # a readout comparing where the first two hops looked
    look_weight: float = 0.0  # world: weight of the loss on where each hop looks (0: off)
    image_size: int = 96  # world scenes; easy-vqa images are 64 px and use 64
    minutes: float = 45.0  # wall-clock budget, validation included
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    scenes_per_step: int = 48  # images per step; each brings all of its questions
    lr: float = 2e-3  # Adam; cosine-decayed over the time budget to lr * min_lr_fraction
    min_lr_fraction: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    seed: int = 0
    buffer_size: int = 8192  # world: rendered scenes kept for sampling
    fresh_per_step: int = 16  # world: new scenes rendered per step
    large_render_fraction: float = 0.25  # world: rendered at 4/3 size, downscaled (slow: ~23 ms)
    focus_types: str = ""  # world: comma-separated question types asked again of each scene
    focus_draws: int = 0  # world: how many more draws of the focus types (duplicates dropped)
    val_scenes: int = 400  # world: validation scenes (about six questions each)
    easyvqa_val_images: int = 400  # easyvqa: train images held back for validation
    val_every: int = 200  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.data not in DATA_CHOICES:
            raise ValueError(f"--data must be one of {DATA_CHOICES}, got {self.data!r}")
        suffix = f"vqa_{self.data}" + ("_question_only" if self.question_only else "")
        self.out = Path(self.out) if self.out else REPO_ROOT / "checkpoints" / suffix
        self.run_dir = Path(self.run_dir) if self.run_dir else REPO_ROOT / "runs" / suffix


def parse_args(argv: list[str] | None = None) -> TrainArgs:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    for f in fields(TrainArgs):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true")
        elif f.name == "data":
            parser.add_argument(flag, choices=DATA_CHOICES, default=f.default)
        else:
            kind = {"Path | None": Path, "int": int, "float": float, "str": str}[str(f.type)]
            parser.add_argument(flag, type=kind, default=f.default)
    return TrainArgs(**vars(parser.parse_args(argv)))


class QABatch(NamedTuple):
    """Images and every question about them, flattened."""

    images: torch.Tensor  # (B, 3, H, W) float32 in [0, 1]
    image_index: torch.Tensor  # (Q,) long: which image each question is about
    questions: list[str]  # Q texts
    answers: torch.Tensor  # (Q,) long answer ids
    types: list[str]  # Q question types
    looks: Sequence[np.ndarray] = ()  # Q (L, regions) bool: what to look at in turn (world)


QA = tuple[str, int, str, np.ndarray]
"""A stored question: text, answer id, type and its looks ((L, regions) bool; L may be 0)."""

NO_LOOKS = np.zeros((0, 0), dtype=bool)


class SceneStore:
    """uint8 images (N, 3, H, W) with their questions (:data:`QA`) per image."""

    def __init__(self, capacity: int, size: int) -> None:
        self.images = torch.zeros((capacity, 3, size, size), dtype=torch.uint8)
        self.qas: list[list[QA]] = [[] for _ in range(capacity)]
        self.filled = 0
        self.cursor = 0

    def put(self, image: np.ndarray, qas: list[QA]) -> None:
        """Store (H, W, 3) uint8 and its questions, overwriting the oldest when full."""
        self.images[self.cursor] = torch.from_numpy(np.array(image)).permute(2, 0, 1)
        self.qas[self.cursor] = qas
        self.cursor = (self.cursor + 1) % len(self.qas)
        self.filled = min(self.filled + 1, len(self.qas))

    def batch(self, picks: Sequence[int]) -> QABatch:
        rows = [(n, qa) for n, i in enumerate(picks) for qa in self.qas[i]]
        return QABatch(
            images=self.images[torch.as_tensor(list(picks))].float().div_(255.0),
            image_index=torch.tensor([n for n, _ in rows], dtype=torch.long),
            questions=[qa[0] for _, qa in rows],
            answers=torch.tensor([qa[1] for _, qa in rows], dtype=torch.long),
            types=[qa[2] for _, qa in rows],
            looks=[qa[3] for _, qa in rows],
        )

    def batches(self, scenes_per_batch: int = 100) -> list[QABatch]:
        """Every stored image in order, in batches (for validation and evaluation)."""
        return [
            self.batch(range(s, min(s + scenes_per_batch, self.filled)))
            for s in range(0, self.filled, scenes_per_batch)
        ]


# ----- easy-vqa -------------------------------------------------------------------------------


def easyvqa_type(answer: str) -> str:
    """easy-vqa questions ask for a shape, a colour, or yes/no; the answer says which."""
    if answer in ("yes", "no"):
        return "yes/no"
    return "shape" if answer in EASYVQA_SHAPES else "color"


def easyvqa_store(split: str, image_ids: Sequence[int] | None = None) -> SceneStore:
    """easy-vqa's ``split`` ("train" or "test") images and questions; optionally a subset."""
    import easy_vqa
    from PIL import Image

    texts, answers, ids = (
        easy_vqa.get_train_questions() if split == "train" else easy_vqa.get_test_questions()
    )
    paths = (
        easy_vqa.get_train_image_paths() if split == "train" else easy_vqa.get_test_image_paths()
    )
    answer_index = {a: i for i, a in enumerate(easy_vqa.get_answers())}
    by_image: dict[int, list[QA]] = {}
    for text, answer, image_id in zip(texts, answers, ids, strict=True):
        qa = (text, answer_index[answer], easyvqa_type(answer), NO_LOOKS)
        by_image.setdefault(image_id, []).append(qa)
    chosen = sorted(paths) if image_ids is None else list(image_ids)
    store = SceneStore(len(chosen), 64)
    for image_id in chosen:
        with Image.open(paths[image_id]) as image:
            store.put(np.asarray(image.convert("RGB")), by_image.get(image_id, []))
    return store


def easyvqa_answers() -> list[str]:
    import easy_vqa

    return list(easy_vqa.get_answers())


def easyvqa_vocabulary() -> QuestionVocabulary:
    """Words of the training questions; shapes and colours are the nouns synonyms map to."""
    import easy_vqa

    vocab = QuestionVocabulary.build(easy_vqa.get_train_questions()[0])
    nouns = {a: a for a in easy_vqa.get_answers() if a not in ("yes", "no") and a in vocab}
    return QuestionVocabulary(vocab.words, nouns)


# ----- the synthetic world ----------------------------------------------------------------------


def world_answers() -> list[str]:
    from multimodal_core.world import language

    return list(language.ANSWERS)


def world_vocabulary(n_scenes: int = 2000) -> QuestionVocabulary:
    """Words of the questions of ``n_scenes`` training scenes, and every class noun and plural.

    Synonyms stay out on purpose: at run time a sentence encoder maps them to these words.
    """
    from multimodal_core.world import catalogue, language
    from multimodal_core.world.backgrounds import BACKGROUND_WORDS
    from multimodal_core.world.splits import scene_in_split

    questions = [f"how many {c.plural} are there is there a {c.name}" for c in catalogue.CLASSES]
    questions += list(language.CATEGORY_QUESTIONS.values())
    questions += [f"what is {p}" for p in language.POSITION_PHRASES.values()]
    questions += [f"is the dog {r} the cat" for r in language.RELATIONS]
    for index in range(n_scenes):
        scene = scene_in_split("train", index, size=64, repeat_probability=0.5)
        questions += [q.text for q in language.questions(scene)]
    nouns = {c.name: c.name for c in catalogue.CLASSES} | {
        c.plural: c.name for c in catalogue.CLASSES
    }
    nouns |= {w: w for w in BACKGROUND_WORDS}
    return QuestionVocabulary.build(questions, nouns)


def resize_square(pixels: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (side, side, 3) uint8, exactly as the task resizes an upload
    (``multimodal_core.tasks.vqa.BuiltinVQA.image_tensor``: bilinear with antialiasing)."""
    if pixels.shape[:2] == (side, side):
        return pixels
    tensor = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float()
    out = F.interpolate(tensor, (side, side), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def object_regions(mask: np.ndarray, grid: int, coverage: float = 0.2) -> np.ndarray:
    """(grid * grid,) bool: the regions of a grid x grid split of the picture that an object's
    visible pixels (``mask`` (H, W) bool) cover by at least ``coverage``, or, for an object
    smaller than that, the one region it covers most."""
    pooled = F.adaptive_avg_pool2d(torch.from_numpy(mask).float()[None], grid).flatten()
    regions = pooled >= coverage
    if not regions.any():
        regions[pooled.argmax()] = True
    return regions.numpy()


def world_qas(
    split: str,
    index: int,
    size: int,
    held_out_ok: bool = False,
    render_size: int | None = None,
    focus: tuple[tuple[str, ...], int] = ((), 0),
    grid: int = 0,
) -> tuple[np.ndarray, list[QA]]:
    """The image (size, size, 3) uint8 and every question (:data:`QA`) of one scene, drawn as
    the world's ``VQADataset`` draws it; ``render_size`` renders it larger and downscales it
    (uploads are larger than the model's input, e.g. the 128 px examples). ``focus`` = (types,
    draws) adds ``draws`` more draws of those types (relations and counts are rare in the
    world's own set: one question per type and scene), without duplicates. ``grid`` > 0 gives
    each question its looks (``language.Question.about`` as regions of a grid x grid split)."""
    from multimodal_core.world import language

    scene = _world_dataset(split, render_size or size, held_out_ok).scene(index)
    answer_index = _world_answer_index()
    types, draws = focus
    asked = language.questions(scene)
    if types:
        for draw in range(1, draws + 1):
            asked += language.questions(scene, types, draw=draw)
    unique = {q.text: q for q in asked}.values()  # a text always has the same answer
    regions = [object_regions(o.mask, grid) for o in scene.objects] if grid else []

    def looks(q: language.Question) -> np.ndarray:
        if not (grid and q.about):
            return NO_LOOKS
        return np.stack([np.any([regions[i] for i in look], axis=0) for look in q.about])

    qas = [(q.text, answer_index[q.answer], q.type, looks(q)) for q in unique]
    return resize_square(scene.image, size), qas


@functools.lru_cache(maxsize=8)
def _world_dataset(split: str, size: int, held_out_ok: bool) -> VQADataset:
    from multimodal_core.world.datasets import VQADataset

    return VQADataset(split, size, held_out_ok=held_out_ok)


_WORLD_ANSWER_INDEX: dict[str, int] = {}


def _world_answer_index() -> dict[str, int]:
    if not _WORLD_ANSWER_INDEX:
        _WORLD_ANSWER_INDEX.update({a: i for i, a in enumerate(world_answers())})
    return _WORLD_ANSWER_INDEX


def world_store(
    split: str,
    n_scenes: int,
    size: int,
    first: int = 0,
    held_out_ok: bool = False,
    grid: int = 0,
) -> SceneStore:
    """Scenes ``first .. first + n_scenes`` of a world split with all their questions (and
    their looks on a grid x grid split when ``grid`` > 0)."""
    store = SceneStore(n_scenes, size)
    for index in range(first, first + n_scenes):
        store.put(*world_qas(split, index, size, held_out_ok, grid=grid))
    return store


def hop_targets(looks: Sequence[np.ndarray], hops: int, regions: int) -> torch.Tensor:
    """(Q, hops, regions) bool: where each attention hop should look. Hop h takes a question's
    look min(h, L - 1), so "is the dog above the cat" sends hop 1 to the dog and hop 2 to the
    cat, and a one-object question sends every hop to its object; no looks, no target."""
    targets = torch.zeros((len(looks), hops, regions), dtype=torch.bool)
    for q, look in enumerate(looks):
        if len(look):
            order = [min(h, len(look) - 1) for h in range(hops)]
            targets[q] = torch.from_numpy(look[order])
    return targets


# ----- training --------------------------------------------------------------------------------


def selection_score(scores: dict) -> float:
    """What the kept checkpoint maximises: overall accuracy plus the weakest type's, because the
    targets hold every type (by overall accuracy alone, a checkpoint whose relations were 4
    points worse was kept for being 0.1 point better overall)."""
    weakest = min(scores["per_type"].values()) if scores.get("per_type") else 0.0
    return scores["acc"] + weakest


@torch.inference_mode()
def accuracy(
    model: StackedAttentionVQA, vocab: QuestionVocabulary, batches: Sequence[QABatch]
) -> dict[str, float]:
    """Overall and per-type accuracy (and ``n``) of the model's top answer."""
    was_training = model.training
    model.eval()
    right: dict[str, list[int]] = {}
    for b in batches:
        out = model(b.images, vocab.encode_batch(b.questions), b.image_index)
        hits = (out.logits.argmax(-1) == b.answers).tolist()
        for qtype, hit in zip(b.types, hits, strict=True):
            right.setdefault(qtype, []).append(int(hit))
    model.train(was_training)
    every = [h for hits in right.values() for h in hits]
    result = {"acc": float(np.mean(every)) if every else 0.0, "n": len(every)}
    result["per_type"] = {t: round(float(np.mean(h)), 4) for t, h in sorted(right.items())}
    return result


def learning_rate(args: TrainArgs, elapsed: float) -> float:
    """Cosine decay over the wall-clock budget, from lr to lr * min_lr_fraction."""
    progress = min(elapsed / (args.minutes * 60.0), 1.0)
    floor = args.min_lr_fraction
    return args.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def save_best(
    model: StackedAttentionVQA,
    vocab: QuestionVocabulary,
    answers: list[str],
    out: Path,
    record: dict,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    vocab.save(out)
    write_answers(answers, out)
    (out / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    assert args.out is not None and args.run_dir is not None  # set by __post_init__
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    state_file = args.run_dir / "state.pt"
    resume = (
        torch.load(state_file, weights_only=True) if args.resume and state_file.exists() else None
    )
    world = args.data == "world"
    answers = world_answers() if world else easyvqa_answers()
    if resume is not None:
        stored = json.loads(resume["vocab"])  # [words, nouns]; runs before nouns: words
        vocab = (
            QuestionVocabulary(*stored)
            if isinstance(stored[0], list)
            else QuestionVocabulary(stored, easyvqa_vocabulary().nouns if not world else None)
        )
        config = VQAConfig.from_dict(json.loads(resume["config"]))
    else:
        vocab = world_vocabulary() if world else easyvqa_vocabulary()
        config = VQAConfig(
            vocab_size=len(vocab),
            num_answers=len(answers),
            image_size=args.image_size if world else 64,
            use_image=not args.question_only,
            hop_glimpses=args.hop_glimpses,
            hop_positions=args.hop_positions,
            question_attention=args.question_attention,
            hop_relations=args.hop_relations,
        )
    logger.info("vocabulary: %d words; %d answers", len(vocab), len(answers))
    model = StackedAttentionVQA(config).to(memory_format=torch.channels_last)  # ~25% faster convs
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    step, elapsed, best = 0, 0.0, {"acc": -1.0}
    next_scene = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        step, elapsed = int(resume["step"]), float(resume["elapsed"])
        best = json.loads(resume["best"])
        next_scene = int(resume["next_scene"])
        logger.info("resumed at step %d, %.1f min", step, elapsed / 60)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %d parameters, %d regions; args %s", n_params, config.num_regions, args)

    rng = np.random.default_rng([args.seed, step])
    start = time.perf_counter()

    def render(rng: np.random.Generator) -> int:
        large = rng.random() < args.large_render_fraction
        return config.image_size * 4 // 3 if large else config.image_size

    focus = (tuple(t for t in args.focus_types.split(",") if t), args.focus_draws)
    looking = args.look_weight > 0 and world and config.use_image
    grid = config.grid_size if looking else 0

    def train_qas(index: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
        size = config.image_size
        return world_qas("train", index, size, render_size=render(rng), focus=focus, grid=grid)

    if world:
        val_batches = world_store("validation", args.val_scenes, config.image_size).batches()
        store = SceneStore(args.buffer_size, config.image_size)
        for _ in range(min(args.buffer_size, max(args.scenes_per_step * 8, args.buffer_size // 4))):
            store.put(*train_qas(next_scene, rng))
            next_scene += 1
    else:
        import easy_vqa

        image_ids = sorted(easy_vqa.get_train_image_paths())
        cut = len(image_ids) - args.easyvqa_val_images
        store = easyvqa_store("train", image_ids[:cut])
        val_batches = easyvqa_store("train", image_ids[cut:]).batches()
    n_val = sum(len(b.questions) for b in val_batches)
    logger.info("data ready in %.1f s: %d validation questions", time.perf_counter() - start, n_val)

    command = "python -m multimodal_core.train.vqa " + shlex.join(sys.argv[1:])
    model.train()
    clock = time.perf_counter() - elapsed
    window_loss, window_looks, window_hits = [], [], []
    window_start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - clock
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        if world:
            for _ in range(args.fresh_per_step):
                store.put(*train_qas(next_scene, rng))
                next_scene += 1
        b = store.batch(rng.integers(0, store.filled, args.scenes_per_step).tolist())
        lr = learning_rate(args, elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        images = b.images.contiguous(memory_format=torch.channels_last)
        out = model(images, vocab.encode_batch(b.questions), b.image_index, b.answers)
        assert out.loss is not None
        loss = out.loss
        if looking:
            targets = hop_targets(b.looks, config.hops, config.num_regions)
            look_loss = attention_supervision_loss(out.attention, targets)
            loss = loss + args.look_weight * look_loss
            window_looks.append(look_loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        window_loss.append(out.loss.item())
        window_hits.append(float((out.logits.argmax(-1) == b.answers).float().mean()))
        if step % args.log_every == 0:
            rate = len(window_loss) / (time.perf_counter() - window_start)
            looked = f"  look loss {np.mean(window_looks):.3f}" if window_looks else ""
            logger.info(
                "step %d  %.1f min  loss %.3f%s  train acc %.3f  lr %.2e  %.2f steps/s  %d q/step",
                step, elapsed / 60, np.mean(window_loss), looked, np.mean(window_hits), lr, rate,
                len(b.questions),
            )  # fmt: skip
            window_loss, window_looks, window_hits = [], [], []
            window_start = time.perf_counter()
        if step % args.val_every == 0 or (args.max_steps and step >= args.max_steps):
            scores = accuracy(model, vocab, val_batches)
            elapsed = time.perf_counter() - clock
            logger.info(
                "validation at step %d (%.1f min): accuracy %.4f  %s",
                step, elapsed / 60, scores["acc"], scores["per_type"],
            )  # fmt: skip
            if selection_score(scores) > selection_score(best):
                best = {
                    **scores,
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "seed": args.seed,
                    "command": command,
                    "args": asdict(args),
                    "data": args.data,
                    "parameters": n_params,
                }
                if world:
                    from multimodal_core.world import language

                    best["grammar_version"] = language.GRAMMAR_VERSION
                save_best(model, vocab, answers, args.out, best)
                logger.info("new best checkpoint written to %s", args.out)
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "elapsed": elapsed,
                    "best": json.dumps(best, default=str),
                    "next_scene": next_scene,
                    "vocab": json.dumps([vocab.words, vocab.nouns]),
                    "config": json.dumps(config.to_dict()),
                },
                state_file,
            )
    total = time.perf_counter() - clock
    logger.info("done: %d steps in %.1f min; best %s", step, total / 60, best)
    return {**best, "total_minutes": round(total / 60, 2), "total_steps": step}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = train(parse_args(argv))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
