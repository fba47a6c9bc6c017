"""Train the stacked-attention VQA model: ``python -m multimodal_core.train.vqa --data world``.

Two data sets: ``world`` (the synthetic world's questions, scenes rendered during training into
a replay buffer, a few fresh ones a step) and ``easyvqa`` (the public easy-vqa set from PyPI:
4,000 train images of 64 x 64 px; its last ``easyvqa_val_images`` train images are held back
for validation, the test set is left to the evaluation). A step samples scenes and asks every
question stored with each of them, so each image is encoded once for about six questions.
``--question-only`` trains the same architecture with the image stream removed (the baseline).

The pictures and their questions come from :mod:`multimodal_core.world.qa_stores`, which the
evaluation reads too. Every ``val_every`` steps the validation accuracy is measured; the best is
written to ``--out`` (config.json, fp16 model.safetensors, vocab.json, answers.json,
training.json). Resume state (weights, optimiser, counters) goes to ``--run-dir`` and
``--resume`` continues from it, including the elapsed time that drives the learning-rate
schedule.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from multimodal_core.evaluate.metrics import vqa_accuracy
from multimodal_core.models.vqa import (
    QuestionVocabulary,
    StackedAttentionVQA,
    VQAConfig,
    attention_supervision_loss,
)
from multimodal_core.models.vqa import save_answers as write_answers
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import catalogue, language
from multimodal_core.world.backgrounds import BACKGROUND_WORDS
from multimodal_core.world.qa_stores import (
    SceneStore,
    easyvqa_answers,
    easyvqa_store,
    hop_targets,
    world_answers,
    world_qas,
    world_store,
)
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

DATA_CHOICES = ("world", "easyvqa")


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    data: str = field(default="world", metadata={"choices": DATA_CHOICES})  # world or easyvqa
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
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    grad_clip: float = 5.0  # gradient-norm clip
    seed: int = 0  # seeds the weights and the sampling
    buffer_size: int = 8192  # world: rendered scenes kept for sampling
    fresh_per_step: int = 16  # world: new scenes rendered per step
    large_render_fraction: float = 0.25  # world: rendered at 4/3 size, downscaled (slow: ~23 ms)
    focus_types: str = ""  # world: comma-separated question types asked again of each scene
    focus_draws: int = 0  # world: how many more draws of the focus types (duplicates dropped)
    val_scenes: int = 400  # world: validation scenes (about six questions each)
    easyvqa_val_images: int = 400  # easyvqa: train images held back for validation
    val_every: int = 200  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 50  # steps between log lines

    def __post_init__(self) -> None:
        if self.data not in DATA_CHOICES:
            raise ValueError(f"--data must be one of {DATA_CHOICES}, got {self.data!r}")
        suffix = f"vqa_{self.data}" + ("_question_only" if self.question_only else "")
        self.out = Path(self.out) if self.out else REPO_ROOT / "checkpoints" / suffix
        self.run_dir = Path(self.run_dir) if self.run_dir else REPO_ROOT / "runs" / suffix


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def easyvqa_vocabulary() -> QuestionVocabulary:
    """Words of the training questions; shapes and colours are the nouns synonyms map to."""
    import easy_vqa

    vocab = QuestionVocabulary.build(easy_vqa.get_train_questions()[0])
    nouns = {a: a for a in easy_vqa.get_answers() if a not in ("yes", "no") and a in vocab}
    return QuestionVocabulary(vocab.words, nouns)


def world_vocabulary(n_scenes: int = 2000) -> QuestionVocabulary:
    """Words of the questions of ``n_scenes`` training scenes, and every class noun and plural.

    Synonyms stay out on purpose: at run time a sentence encoder maps them to these words.
    """
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


def selection_score(scores: dict) -> float:
    """What the kept checkpoint maximises: overall accuracy plus the weakest type's, because the
    targets hold every type (by overall accuracy alone, a checkpoint whose relations were 4
    points worse was kept for being 0.1 point better overall)."""
    weakest = min(scores["per_type"].values()) if scores.get("per_type") else 0.0
    return scores["acc"] + weakest


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
    scaffold.write_record(out, record)


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    assert args.out is not None and args.run_dir is not None  # set by __post_init__
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)
    world = args.data == "world"
    answers = world_answers() if world else easyvqa_answers()
    if resume is not None:
        vocab = QuestionVocabulary(*resume.record["vocab"])  # [words, nouns]
        config = VQAConfig.from_dict(resume.record["config"])
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
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, next_scene = scaffold.resume_run(resume, parts, {"acc": -1.0})
    n_params = scaffold.parameter_count(model)
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

    command = scaffold.command_line("multimodal_core.train.vqa")
    model.train()
    clock = scaffold.Clock(elapsed)
    window_loss, window_looks, window_hits = [], [], []
    window_start = time.perf_counter()
    while True:
        elapsed = clock.wall()
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        if world:
            for _ in range(args.fresh_per_step):
                store.put(*train_qas(next_scene, rng))
                next_scene += 1
        b = store.batch(rng.integers(0, store.filled, args.scenes_per_step).tolist())
        lr = scaffold.cosine_lr(args.lr, elapsed / (args.minutes * 60.0), args.min_lr_fraction)
        scaffold.set_lr(optimizer, lr)
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
            scores = vqa_accuracy(model, vocab, val_batches)
            elapsed = clock.wall()
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
                    best["grammar_version"] = language.GRAMMAR_VERSION
                save_best(model, vocab, answers, args.out, best)
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(
                args.run_dir, parts, step, elapsed, best, next_scene,
                vocab=[vocab.words, vocab.nouns], config=asdict(config),
            )  # fmt: skip
    return scaffold.finish(step, best, clock)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
