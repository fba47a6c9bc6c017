"""Train the joint image-text space on the world: ``python -m multimodal_core.train.matching``.

The image encoder (the world classifier) and the word vectors are frozen, so each training
scene's 4 x 4 feature map is computed once and cached (``--cache-dir``, git-ignored; reused by
every run over the same scenes, the ablations included), with its six reference captions. Every
step draws a batch of distinct scenes and one random reference each, and trains the projections
and the text encoder (``models/joint_embedding.py``) with a symmetric InfoNCE plus the shared
classifier's loss (``--semantic-weight``; 0 trains the ablation without it). ``--text-input
sentence`` trains the ablation whose text side is MiniLM's sentence vector instead of the
skip-gram words (its sentences are encoded once and cached too).

Every ``val_every`` steps it ranks the validation scenes' canonical captions against their
pictures both ways; the best by mean R@1 is written to ``--out`` (config.json, fp16
model.safetensors, training.json). Resume state goes to ``--run-dir``; ``--resume`` continues
from it. The budget ``--minutes`` is CPU time of this process (one thread), caching included.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from multimodal_core.evaluate.metrics import retrieval_ranks, retrieval_scores
from multimodal_core.models import word_vectors
from multimodal_core.models.joint_embedding import (
    TEXT_INPUTS,
    JointEmbedding,
    JointEmbeddingConfig,
)
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import catalogue, language
from multimodal_core.world.backgrounds import BACKGROUND_WORDS
from multimodal_core.world.catalogue import CLASS_NAMES
from multimodal_core.world.scenes import Scene
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

CHECKPOINTS = REPO_ROOT / "checkpoints"
IMAGE_SIZE = 64  # the world classifier's input
LABELS: tuple[str, ...] = (*CLASS_NAMES, *BACKGROUND_WORDS)
"""The shared classifier's labels: the object classes, then the background words."""


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = CHECKPOINTS / "matching"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "matching"  # resume state and log (git-ignored)
    cache_dir: Path = REPO_ROOT / "runs" / "matching_cache"  # frozen features (git-ignored)
    text_input: str = field(default="words", metadata={"choices": TEXT_INPUTS})  # or MiniLM
    train_scenes: int = 50_000  # training scenes (features cached once; ~4 ms each)
    minutes: float = 15.0  # compute budget: CPU minutes of this process (one thread)
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 256  # pairs per step: 255 negatives for each
    lr: float = 1e-3  # AdamW; cosine-decayed over the budget to lr * min_lr_fraction
    min_lr_fraction: float = 0.05  # the schedule's floor (see scaffold.cosine_lr)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    semantic_weight: float = 1.0  # the shared classifier's loss weight (0: the ablation)
    seed: int = 0  # seeds the weights and the batches
    val_scenes: int = 1000  # validation scenes (their own seed range, never trained on)
    val_every: int = 500  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 100  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


# ----- what a caption names ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _nouns() -> dict[tuple[str, ...], frozenset[str]]:
    """Every noun the grammar uses (name, plural, synonyms) as words -> the classes it names."""
    table: dict[tuple[str, ...], set[str]] = {}
    for cls in catalogue.CLASSES:
        for noun in {cls.name, cls.plural, *cls.synonyms}:
            table.setdefault(tuple(noun.split()), set()).add(cls.name)
    return {k: frozenset(v) for k, v in table.items()}


def named_labels(caption: str, scene: Scene) -> set[str]:
    """The labels of ``scene`` that ``caption`` names: its classes, and its background when
    the caption says it (every background word is one word of the grammar)."""
    named = named_classes(caption, scene.class_names)
    if scene.background.word in caption.split():
        named.add(scene.background.word)
    return named


def named_classes(caption: str, present: Sequence[str]) -> set[str]:
    """The classes of ``present`` (a scene's) that ``caption`` names, longest noun first ("old
    man" is a grandpa, not a man); a noun shared by two classes names the present ones."""
    nouns = _nouns()
    longest = max(len(k) for k in nouns)
    words = caption.split()
    named: set[str] = set()
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            classes = nouns.get(tuple(words[i : i + n]))
            if classes is not None:
                named |= classes & set(present)
                i += n
                break
        else:
            i += 1
    return named


# ----- the cached scenes -----------------------------------------------------------------------


@dataclass
class SceneSet:
    """Frozen features of n scenes with their references: features (n, D, g, g) float16,
    labels (n, L) bool (:data:`LABELS`: classes and background), captions (n, N_CAPTIONS) ids
    into ``texts``, and named (n, N_CAPTIONS, L) bool, the labels each reference names."""

    features: torch.Tensor
    labels: torch.Tensor
    captions: torch.Tensor
    named: torch.Tensor
    texts: list[str]

    def canonical(self) -> list[str]:
        """Each scene's canonical reference (every object, canonical nouns)."""
        return [self.texts[i] for i in self.captions[:, 0].tolist()]


def multi_hot(names: Sequence[str] | set[str]) -> torch.Tensor:
    """(L,) bool over :data:`LABELS`."""
    row = torch.zeros(len(LABELS), dtype=torch.bool)
    row[[LABELS.index(n) for n in names]] = True
    return row


@torch.inference_mode()
def build_scene_set(scenes: Sequence[Scene], classifier: WorldClassifier) -> SceneSet:
    """Features, classes and references of ``scenes`` (rendered at the classifier's size)."""
    texts: dict[str, int] = {}
    captions, named, features = [], [], []
    for start in range(0, len(scenes), 256):
        chunk = scenes[start : start + 256]
        images = torch.from_numpy(np.stack([s.image for s in chunk])).permute(0, 3, 1, 2)
        features.append(classifier.feature_map(images.float().div_(255.0)).half())
        for s in chunk:
            refs = language.captions(s)
            captions.append([texts.setdefault(c, len(texts)) for c in refs])
            named.append(torch.stack([multi_hot(named_labels(c, s)) for c in refs]))
    return SceneSet(
        features=torch.cat(features),
        labels=torch.stack([multi_hot([*s.class_names, s.background.word]) for s in scenes]),
        captions=torch.tensor(captions, dtype=torch.int32),
        named=torch.stack(named),
        texts=list(texts),
    )


def cached_scene_set(cache_dir: Path, split: str, n: int, classifier: WorldClassifier) -> SceneSet:
    """:func:`build_scene_set` of the first ``n`` scenes of ``split``, computed once."""
    path = cache_dir / f"{split}_{n}.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        return SceneSet(**{k: saved[k] for k in ("features", "labels", "captions", "named")},
                        texts=saved["texts"])  # fmt: skip
    start = time.perf_counter()
    scenes = [scene_in_split(split, i, size=IMAGE_SIZE) for i in range(n)]
    built = build_scene_set(scenes, classifier)
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save(asdict(built), path.with_suffix(".partial"))
    path.with_suffix(".partial").replace(path)
    logger.info("%d %s scenes cached in %.0f s", n, split, time.perf_counter() - start)
    return built


# ----- the text side -------------------------------------------------------------------------


class WordTexts:
    """Texts as padded rows of skip-gram word ids (every world word has a vector)."""

    def __init__(self, texts: Sequence[str], vectors_dir: Path) -> None:
        model, vocabulary = word_vectors.load(vectors_dir)
        self.vectors = model.vectors.detach().float()  # (V, d), frozen
        index = {w: i for i, w in enumerate(vocabulary.words)}
        rows = []
        for text in texts:
            tokens = word_vectors.tokenize(text)
            missing = [w for w in tokens if w not in index]
            if missing:
                raise ValueError(f"no vector for {missing} (in {text!r})")
            rows.append([index[w] for w in tokens])
        self.lengths = torch.tensor([len(r) for r in rows])
        self.ids = torch.zeros((len(rows), int(self.lengths.max())), dtype=torch.long)
        for i, r in enumerate(rows):
            self.ids[i, : len(r)] = torch.tensor(r)

    def batch(self, text_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, d) vectors and (B,) lengths of the texts ``text_ids``."""
        lengths = self.lengths[text_ids]
        ids = self.ids[text_ids, : int(lengths.max())]
        return self.vectors[ids], lengths


class SentenceTexts:
    """Texts as one MiniLM sentence vector each (the ablation), encoded once and cached."""

    def __init__(self, texts: Sequence[str], cache: Path) -> None:
        if cache.is_file():
            saved = torch.load(cache, weights_only=True)
            if saved["texts"] == list(texts):
                self.vectors = saved["vectors"]
                return
        from multimodal_core.backends.sentence_encoder import load_sentence_encoder

        start = time.perf_counter()
        encoder = load_sentence_encoder()
        self.vectors = torch.cat(
            [encoder.encode(texts[i : i + 128]) for i in range(0, len(texts), 128)]
        ).half()
        torch.save({"texts": list(texts), "vectors": self.vectors}, cache)
        logger.info("%d sentences encoded in %.0f s", len(texts), time.perf_counter() - start)

    def batch(self, text_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vectors[text_ids][:, None].float(), torch.ones(len(text_ids), dtype=torch.long)


Texts = WordTexts | SentenceTexts


def text_side(args: TrainArgs, texts: Sequence[str], name: str) -> tuple[Texts, torch.Tensor]:
    """The texts' encoding for ``args.text_input``, followed by the labels' (the shared
    classifier's words), and the ids of those labels."""
    every = [*texts, *LABELS]
    label_ids = torch.arange(len(texts), len(every))
    if args.text_input == "words":
        return WordTexts(every, CHECKPOINTS / "words"), label_ids
    return SentenceTexts(every, args.cache_dir / f"{name}_minilm.pt"), label_ids


# ----- training --------------------------------------------------------------------------------


@torch.inference_mode()
def validate(model: JointEmbedding, data: SceneSet, texts: Texts, seed: int) -> dict[str, float]:
    """Both ways over the validation scenes and their canonical captions, ties at random."""
    was_training = model.training
    model.eval()
    images = model.encode_images(data.features)
    captions = model.encode_texts(*texts.batch(data.captions[:, 0].long()))
    model.train(was_training)
    scores = (images @ captions.T).numpy()
    rng = np.random.default_rng(seed)
    t2i = retrieval_scores(retrieval_ranks(scores.T, rng))
    i2t = retrieval_scores(retrieval_ranks(scores, rng))
    return {**{f"{k}_t2i": v for k, v in t2i.items()}, **{f"{k}_i2t": v for k, v in i2t.items()}}


def batch_of(
    data: SceneSet, texts: Texts, scenes: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, ...]:
    """The model's inputs for ``scenes`` with one random reference each: features, word vectors,
    lengths, image targets, text targets, and which pairs match (identical captions); the
    labels' vectors come separately."""
    pick = torch.from_numpy(rng.integers(0, data.captions.shape[1], len(scenes)))
    text_ids = data.captions[scenes, pick].long()
    vectors, lengths = texts.batch(text_ids)
    matches = text_ids[:, None] == text_ids[None, :]
    return (
        data.features[scenes],
        vectors,
        lengths,
        data.labels[scenes],
        data.named[scenes, pick],
        matches,
    )


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    clock_start = scaffold.Clock()
    resume = scaffold.load_state(args.run_dir, args.resume)
    classifier = WorldClassifier.from_pretrained(CHECKPOINTS / "world_classifier")
    train_set = cached_scene_set(args.cache_dir, "train", args.train_scenes, classifier)
    val_set = cached_scene_set(args.cache_dir, "validation", args.val_scenes, classifier)
    train_texts, label_ids = text_side(args, train_set.texts, f"train_{args.train_scenes}")
    val_texts, _ = text_side(args, val_set.texts, f"validation_{args.val_scenes}")
    setup_cpu = clock_start.cpu()

    config = JointEmbeddingConfig(
        CLASS_NAMES,
        background_names=BACKGROUND_WORDS,
        feature_dim=int(train_set.features.shape[1]),
        grid=int(train_set.features.shape[2]),
        text_input=args.text_input,
        word_dim=int(train_texts.batch(torch.zeros(1, dtype=torch.long))[0].shape[-1]),
        semantic_weight=args.semantic_weight,
        text_vectors="words" if args.text_input == "words" else "all-MiniLM-L6-v2",
    )
    model = JointEmbedding(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    parts = {"model": model, "optimizer": optimizer}
    step, elapsed, best, _ = scaffold.resume_run(resume, parts, {"score": -1.0})
    cpu_used = float(resume.record["cpu"]) if resume is not None else setup_cpu
    n_params = scaffold.parameter_count(model)
    logger.info(
        "model: %d parameters; %d training scenes, %d distinct captions; args %s",
        n_params, len(train_set.labels), len(train_set.texts), args,
    )  # fmt: skip

    command = scaffold.command_line("multimodal_core.train.matching")
    rng = np.random.default_rng([args.seed, step])
    order = torch.from_numpy(rng.permutation(len(train_set.labels)))
    cursor = 0
    model.train()
    clock = scaffold.Clock(elapsed if resume is not None else clock_start.wall(), cpu_used)
    window: list[tuple[float, float]] = []
    window_start = time.perf_counter()
    while True:
        done = clock.cpu() / (args.minutes * 60.0)
        if done >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        if cursor + args.batch_size > len(order):  # a new epoch: distinct scenes per batch
            order, cursor = torch.from_numpy(rng.permutation(len(order))), 0
        scenes = order[cursor : cursor + args.batch_size]
        cursor += args.batch_size
        lr = scaffold.cosine_lr(args.lr, done, args.min_lr_fraction)
        scaffold.set_lr(optimizer, lr)
        class_vectors = train_texts.batch(label_ids)
        out = model(*batch_of(train_set, train_texts, scenes, rng), class_vectors=class_vectors)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        step += 1
        window.append((float(out.contrastive.detach()), float(out.semantic.detach())))
        if step % args.log_every == 0:
            rate = len(window) / (time.perf_counter() - window_start)
            contrastive, semantic = np.mean(window, axis=0)
            logger.info(
                "step %d  cpu %.1f min  InfoNCE %.3f  semantic %.3f  temperature %.3f  "
                "lr %.2e  %.1f steps/s",
                step, clock.cpu() / 60, contrastive, semantic,
                float(1 / model.log_scale.exp()), lr, rate,
            )  # fmt: skip
            window, window_start = [], time.perf_counter()
        last = bool(args.max_steps and step >= args.max_steps) or clock.cpu() >= args.minutes * 60
        if step % args.val_every == 0 or last:
            scores = validate(model, val_set, val_texts, args.seed)
            elapsed = clock.wall()
            score = (scores["r1_t2i"] + scores["r1_i2t"]) / 2
            logger.info(
                "validation at step %d: R@1 t2i %.3f i2t %.3f  medr %.1f / %.1f  R@10 %.3f / %.3f",
                step, scores["r1_t2i"], scores["r1_i2t"], scores["medr_t2i"],
                scores["medr_i2t"], scores["r10_t2i"], scores["r10_i2t"],
            )  # fmt: skip
            if score > best["score"]:
                best = {
                    "score": round(score, 4),
                    **{f"val_{k}": round(v, 4) for k, v in scores.items()},
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "cpu_minutes": round(clock.cpu() / 60, 2),
                    "seed": args.seed,
                    "command": command,
                    "args": asdict(args),
                    "grammar_version": language.GRAMMAR_VERSION,
                    "parameters": n_params,
                }
                model.save_pretrained(args.out)
                scaffold.write_record(args.out, best)
                logger.info("new best checkpoint written to %s", args.out)
            scaffold.save_run(args.run_dir, parts, step, elapsed, best, 0, cpu=clock.cpu())
    return scaffold.finish(step, best, clock, cpu=True)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
