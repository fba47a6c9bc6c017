"""Train the text-conditional GAN on the world: ``python -m multimodal_core.train.text_to_image``.

A curriculum, because a GAN on the full world on a CPU learned colours and never shapes (a
36-minute prototype on 20 classes reached 0.12 object accuracy): first one large centred object
on a coloured background (plain or gradient), then the textured backgrounds too
(``--textures-step``), then half of the scenes are grid scenes of one or two objects
(``--grid-step``). Scenes are rendered fresh into a replay buffer; each step takes one random
caption per scene (the "N objects" caption, which names no object, is left out) and its MiniLM
embedding (cached: the world has a few thousand captions).
Wrong texts for the matching-aware discriminator are, half the time, the same caption with
another background colour (the object stays: the discriminator must read the colour) and
otherwise the caption of another scene.

Every ``--val-every`` steps the EMA generator draws one picture for each of ``--val-prompts``
validation captions and the world classifier (``--judge``; train it first with
``python -m multimodal_core.train.world_classifier``) reports requested-object accuracy,
background-colour accuracy, per-class accuracy and the judge's "sink" classes (what it sees
most often when it does not see the requested object). The best EMA generator by
``object_acc + color_acc / 10`` is written to ``--out`` (config.json, fp16 model.safetensors,
training.json); resume state (both networks, EMA, optimisers, counters) to ``--run-dir``;
``--resume`` continues from it, schedule and curriculum included.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core.backends.sentence_encoder import SentenceEncoder, load_sentence_encoder
from multimodal_core.hub import resolve_device
from multimodal_core.models.text_gan import TextGAN, TextGANConfig, noise, sample_images
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import language
from multimodal_core.world.backgrounds import BACKGROUND_WORDS, COLOURS
from multimodal_core.world.catalogue import CLASS_NAMES, article
from multimodal_core.world.language import usable_captions
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

_COLOUR_TAIL = re.compile(r" on an? (\w+) background$")


def swap_colour(caption: str, rng: np.random.Generator) -> str | None:
    """The caption with another background colour ("... on a red background"), or None when
    it states no colour: a wrong text that keeps the object."""
    match = _COLOUR_TAIL.search(caption)
    if match is None or match.group(1) not in COLOURS:
        return None
    other = str(rng.choice([c for c in COLOURS if c != match.group(1)]))
    return caption[: match.start()] + f" on {article(other)} {other} background"


def stage_options(stage: str, index: int) -> dict:
    """Scene options of curriculum ``stage`` for the ``index``-th scene."""
    centred = {"layout": "center", "n_objects": (1, 1)}
    if stage == "centre-colours":
        return {**centred, "backgrounds": tuple(COLOURS)}
    if stage == "centre-all":
        return centred
    if stage == "mixed":
        return centred if index % 2 == 0 else {"layout": "grid", "n_objects": (1, 2)}
    raise ValueError(f"unknown curriculum stage {stage!r}")


def multi_hot(names: list[str]) -> torch.Tensor:
    """(len(CLASS_NAMES),) float: 1 for each class named."""
    out = torch.zeros(len(CLASS_NAMES))
    for name in names:
        out[CLASS_NAMES.index(name)] = 1.0
    return out


class EmbeddingCache:
    """MiniLM embeddings of captions, computed once each (the world repeats its captions)."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self.table: dict[str, torch.Tensor] = {}

    def __call__(self, sentences: list[str]) -> torch.Tensor:
        """(N,) sentences -> (N, 384)."""
        missing = list(dict.fromkeys(s for s in sentences if s not in self.table))
        if missing:
            for sentence, row in zip(missing, self.encoder.encode(missing), strict=True):
                self.table[sentence] = row
        return torch.stack([self.table[s] for s in sentences])


class SceneBuffer:
    """A ring of rendered training scenes: uint8 images, usable captions, class labels."""

    def __init__(self, capacity: int, size: int, first_index: int) -> None:
        self.images = torch.zeros((capacity, 3, size, size), dtype=torch.uint8)
        self.captions: list[list[str]] = [[] for _ in range(capacity)]
        self.labels = torch.zeros((capacity, len(CLASS_NAMES)))
        self.size = size
        self.filled = 0
        self.cursor = 0
        self.next_index = first_index  # the next training scene to render

    def add(self, n: int, stage: str) -> None:
        for _ in range(n):
            options = stage_options(stage, self.next_index)
            s = scene_in_split("train", self.next_index, size=self.size, **options)
            self.images[self.cursor] = torch.from_numpy(s.image).permute(2, 0, 1)
            self.captions[self.cursor] = usable_captions(s)
            self.labels[self.cursor] = multi_hot(s.class_names)
            self.next_index += 1
            self.cursor = (self.cursor + 1) % len(self.captions)
            self.filled = min(self.filled + 1, len(self.captions))

    def sample(
        self, rng: np.random.Generator, n: int
    ) -> tuple[torch.Tensor, list[str], list[str], torch.Tensor]:
        """n scenes: images (n, 3, S, S) in [0, 1], a right and a wrong caption each, labels."""
        picks = rng.integers(0, self.filled, n)
        images = self.images[torch.from_numpy(picks)].float().div_(255.0)
        right = [self.captions[i][rng.integers(len(self.captions[i]))] for i in picks]
        labels = self.labels[torch.from_numpy(picks)]
        wrong = []
        for row, i in enumerate(picks):
            swapped = swap_colour(right[row], rng) if rng.random() < 0.5 else None
            if swapped is None:
                other = i
                for _ in range(8):  # another scene whose classes differ
                    other = int(rng.integers(0, self.filled))
                    if not torch.equal(self.labels[other], self.labels[i]):
                        break
                swapped = self.captions[other][rng.integers(len(self.captions[other]))]
            wrong.append(swapped)
        return images, right, wrong, labels


@dataclass
class ValidationSet:
    """Fixed prompts for validation: texts, their embeddings, noise, classes, background."""

    texts: list[str]
    embeddings: torch.Tensor  # (N, 384)
    z: torch.Tensor  # (N, z_dim)
    classes: list[str]
    backgrounds: list[str]


def validation_set(n: int, size: int, z_dim: int, embed: EmbeddingCache) -> ValidationSet:
    """One caption of each of ``n`` validation scenes of one centred object, any background."""
    texts, classes, backgrounds = [], [], []
    for index in range(n):
        s = scene_in_split("validation", index, size=size, **stage_options("centre-all", index))
        refs = usable_captions(s)
        texts.append(refs[index % len(refs)])
        classes.append(s.objects[0].name)
        backgrounds.append(s.background.word)
    return ValidationSet(texts, embed(texts), noise(list(range(n)), z_dim), classes, backgrounds)


@torch.inference_mode()
def validate(generator: TextGAN, judge: WorldClassifier, val: ValidationSet) -> dict:
    """Requested-object and background accuracy of the judge on generated pictures."""
    images = torch.cat(
        [
            sample_images(generator, val.embeddings[i : i + 100], val.z[i : i + 100])
            for i in range(0, len(val.texts), 100)
        ]
    )
    out = judge(images)
    judge_classes = [judge.config.class_names[i] for i in out.object_logits.argmax(1).tolist()]
    judge_bgs = [judge.config.background_names[i] for i in out.background_logits.argmax(1)]
    hits = [p == c for p, c in zip(judge_classes, val.classes, strict=True)]
    colour_pairs = [
        (p, b) for p, b, t in zip(judge_bgs, val.backgrounds, val.texts, strict=True)
        if b in BACKGROUND_WORDS and _states_background(t)
    ]  # fmt: skip
    per_class: dict[str, list[bool]] = {}
    for c, hit in zip(val.classes, hits, strict=True):
        per_class.setdefault(c, []).append(hit)
    sinks = Counter(p for p, hit in zip(judge_classes, hits, strict=True) if not hit)
    return {
        "object_acc": float(np.mean(hits)),
        "color_acc": float(np.mean([p == b for p, b in colour_pairs])) if colour_pairs else 0.0,
        "per_class": {c: round(float(np.mean(v)), 2) for c, v in sorted(per_class.items())},
        "sinks": dict(sinks.most_common(5)),
    }


def _states_background(text: str) -> bool:
    """Whether a caption says what the background is ("a picture of a dog" does not)."""
    return " background" in text or any(
        p in text for phrases in language._TEXTURE_PHRASES.values() for p in phrases
    )


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "text_to_image"  # best EMA generator
    run_dir: Path = REPO_ROOT / "runs" / "text_to_image"  # resume state (git-ignored)
    judge: Path = REPO_ROOT / "checkpoints" / "world_classifier"  # validation's classifier
    image_size: int = 64  # pixels a side of the generated pictures
    minutes: float = 180.0  # wall-clock budget of the whole run (resumes included)
    max_steps: int = 0  # stop after this many steps as well (0: only the time budget)
    batch_size: int = 32  # the prototype's; larger batches cost time a CPU does not have
    lr_g: float = 2e-4  # TTUR: the discriminator learns twice as fast (Heusel et al. 2017)
    lr_d: float = 4e-4  # the discriminator's learning rate
    beta1: float = 0.0  # Adam betas of SNGAN / BigGAN
    beta2: float = 0.9  # (see beta1)
    aux_weight: float = 1.0  # TAC-GAN auxiliary class loss (0 turns it off)
    kl_weight: float = 2.0  # StackGAN's conditioning-augmentation KL coefficient
    ema_decay: float = 0.999  # generator weights averaged for drawing (BigGAN)
    mode_seeking_weight: float = 1.0  # MSGAN term against one picture per prompt (0: off)
    mode_seeking_batch: int = 8  # prompts drawn twice per step for it
    ema_start: int = 3000  # until here the EMA copies the generator: early weights move too fast
    textures_step: int = 6000  # curriculum: textured backgrounds join at this step
    grid_step: int = 12000  # curriculum: grid scenes of one or two objects join here
    seed: int = 0  # seeds the weights and the sampling
    buffer_size: int = 4096  # rendered scenes kept for sampling
    fresh_per_step: int = 8  # new scenes rendered per step
    val_prompts: int = 400  # validation captions, one picture each
    val_every: int = 500  # steps between validations
    threads: int = 1  # torch threads; other jobs share the machine's two cores
    device: str = "auto"  # auto: CUDA when available (scenes are still drawn on the CPU)
    resume: bool = False  # continue the run in --run-dir (its budget and schedule included)
    log_every: int = 50  # steps between log lines


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def stage_at(args: TrainArgs, step: int) -> str:
    """The curriculum stage of training step ``step``."""
    if step >= args.grid_step:
        return "mixed"
    return "centre-all" if step >= args.textures_step else "centre-colours"


def mode_seeking_loss(
    images_a: torch.Tensor, images_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor
) -> torch.Tensor:
    """MSGAN (Mao et al. 2019, arXiv:1903.05628): for the same texts, the ratio of the noise
    distance to the picture distance; small when two noises give two different pictures.
    Without it the generator drew one picture per prompt whatever the seed."""
    pictures = (images_a - images_b).abs().flatten(1).mean(1)
    noises = (z_a - z_b).abs().mean(1)
    return (noises / (pictures + 1e-5)).mean()


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; buffers (batch-norm statistics) are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)
    device = resolve_device(args.device)
    config = (
        TextGANConfig.from_dict(resume.record["config"])
        if resume is not None
        else TextGANConfig(image_size=args.image_size, num_classes=len(CLASS_NAMES))
    )
    model = TextGAN(config).to(device)  # before the optimisers, so their state follows
    ema = copy.deepcopy(model.generator).eval()
    drawer = TextGAN(config, with_discriminator=False).eval()  # holds the EMA generator
    drawer.generator = ema
    betas = (args.beta1, args.beta2)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=args.lr_g, betas=betas)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=args.lr_d, betas=betas)
    parts = {"model": model, "ema": ema, "opt_g": opt_g, "opt_d": opt_d}
    step, elapsed, best, next_scene = scaffold.resume_run(resume, parts, {"score": -1.0})
    history: list[dict] = resume.record["history"] if resume is not None else []
    g_params = scaffold.parameter_count(model.generator)
    d_params = scaffold.parameter_count(model.discriminator)
    logger.info(
        "generator %d, discriminator %d parameters on %s; args %s", g_params, d_params, device, args
    )

    embed = EmbeddingCache(load_sentence_encoder())
    judge = None
    if (args.judge / "model.safetensors").is_file():
        judge = WorldClassifier.from_pretrained(args.judge)
    else:
        logger.warning("no judge at %s: validation is skipped, the last EMA is saved", args.judge)
    val = validation_set(args.val_prompts, config.image_size, config.z_dim, embed)
    rng = np.random.default_rng([args.seed, step])
    buffer = SceneBuffer(args.buffer_size, config.image_size, next_scene)
    buffer.add(args.buffer_size // 2, stage_at(args, step))
    command = scaffold.command_line("multimodal_core.train.text_to_image")
    model.train()
    clock = scaffold.Clock(elapsed)
    window: dict[str, list[float]] = {}
    window_start = time.perf_counter()
    while True:
        elapsed = clock.wall()
        if elapsed >= args.minutes * 60 or (args.max_steps and step >= args.max_steps):
            break
        stage = stage_at(args, step)
        buffer.add(args.fresh_per_step, stage)
        images, right, wrong, labels = buffer.sample(rng, args.batch_size)
        images, labels = images.to(device), labels.to(device)
        both = embed(right + wrong).to(device)  # (2B, 384)
        text, wrong_text = both[: args.batch_size], both[args.batch_size :]

        z = torch.randn(args.batch_size, config.z_dim, device=device)
        fake, kl = model.generator(text, z, sample_condition=True)  # (B, 3, S, S) in [-1, 1]
        d_loss = model.discriminator_loss(images, fake, text, wrong_text, labels, args.aux_weight)
        opt_d.zero_grad(set_to_none=True)
        d_loss.loss.backward()
        opt_d.step()

        model.discriminator.requires_grad_(False)  # the generator's step leaves D alone
        g_loss = model.generator_loss(fake, text, labels, kl, args.aux_weight, args.kl_weight)
        if args.mode_seeking_weight > 0:  # as drawn at inference: the text's mean condition
            k = min(args.mode_seeking_batch, args.batch_size)
            z_a, z_b = torch.randn(2, k, config.z_dim, device=device)
            pair = model.generator(text[:k].repeat(2, 1), torch.cat([z_a, z_b]))[0]
            seeking = mode_seeking_loss(pair[:k], pair[k:], z_a, z_b)
            g_loss = g_loss + args.mode_seeking_weight * seeking
            window.setdefault("seek", []).append(float(seeking.detach()))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        model.discriminator.requires_grad_(True)
        update_ema(ema, model.generator, args.ema_decay if step > args.ema_start else 0.0)
        step += 1

        for key, value in (
            ("d_real", d_loss.real), ("d_wrong", d_loss.wrong), ("d_fake", d_loss.fake),
            ("aux", d_loss.aux), ("g", float(g_loss.detach())), ("kl", float(kl.detach())),
        ):  # fmt: skip
            window.setdefault(key, []).append(value)
        if step % args.log_every == 0:
            rate = len(window["g"]) / (time.perf_counter() - window_start)
            parts = "  ".join(f"{k} {np.mean(v):.3f}" for k, v in window.items())
            logger.info(
                "step %d  %.1f min  %s  %s  %.2f steps/s", step, elapsed / 60, stage, parts, rate
            )
            window, window_start = {}, time.perf_counter()
        last = bool(args.max_steps and step >= args.max_steps)
        out_of_time = clock.wall() + 5 >= args.minutes * 60
        if step % args.val_every == 0 or last or out_of_time:
            elapsed = clock.wall()
            scores = validate(drawer, judge, val) if judge is not None else {}
            score = scores.get("object_acc", 0.0) + scores.get("color_acc", 0.0) / 10
            history.append(
                {"step": step, "minutes": round(elapsed / 60, 2), "stage": stage}
                | {k: scores[k] for k in ("object_acc", "color_acc") if k in scores}
            )
            if scores:
                logger.info(
                    "validation at step %d (%.1f min, %s): object acc %.3f  colour acc %.3f  "
                    "sinks %s",
                    step, elapsed / 60, stage, scores["object_acc"], scores["color_acc"],
                    scores["sinks"],
                )  # fmt: skip
            if judge is None or score > best["score"]:
                best = {
                    "score": score,
                    **scores,
                    "step": step,
                    "minutes": round(elapsed / 60, 2),
                    "stage": stage,
                    "command": command,
                    "args": asdict(args),
                    "generator_parameters": g_params,
                    "discriminator_parameters": d_params,
                    "grammar_version": language.GRAMMAR_VERSION,
                }
                drawer.save_pretrained(args.out)
                scaffold.write_record(args.out, {**best, "history": history})
                logger.info("checkpoint written to %s", args.out)
            scaffold.save_run(
                args.run_dir, parts, step, elapsed, best, buffer.next_index,
                history=history, config=asdict(config),
            )  # fmt: skip
            if out_of_time:
                break
    return scaffold.finish(step, best, clock)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
