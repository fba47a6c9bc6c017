"""Train the sound side of the Search space: ``python -m multimodal_core.train.sound_search``.

The SoundNet student (``checkpoints/soundnet``, frozen) hears the soundtrack of each training
video and the joint image-text space (``checkpoints/matching``, frozen, with its world classifier)
embeds the video's picture; a small projection learns to put the sound where its picture is
(InfoNCE over the batch, each sound's own picture the match). Only picture-sound pairs are read,
no label: pictures whose sounding objects are the same count as negatives, as a real video
collection would have it. Features are computed once for ``--videos`` train videos; validation
videos (their own seed range) pick the best step by sound-to-picture R@1, written to ``--out``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core.models.joint_embedding import JointEmbedding
from multimodal_core.models.soundnet import SoundNet, SoundToSpace, SoundToSpaceConfig
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world.datasets import image_tensor
from multimodal_core.world.videos import video

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "sound_search"  # where the best projection goes
    run_dir: Path | None = REPO_ROOT / "runs" / "sound_search"  # the log (git-ignored)
    student: Path = REPO_ROOT / "checkpoints" / "soundnet"  # the frozen sound network
    space: Path = REPO_ROOT / "checkpoints" / "matching"  # the frozen joint image-text space
    videos: int = 6000  # train videos whose features are computed
    val_videos: int = 500  # validation videos
    steps: int = 3000  # projection training steps
    batch_size: int = 256  # pairs per step (the InfoNCE negatives)
    lr: float = 1e-3  # AdamW, cosine-decayed over the steps
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    val_every: int = 250  # steps between validations
    seed: int = 0  # seeds the weights and the batches
    threads: int = 1  # torch threads; other jobs share the machine's two cores


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


@torch.no_grad()
def pair_features(
    split: str, n: int, student: SoundNet, space: JointEmbedding, classifier: WorldClassifier
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, pool5_dim) sound features and (n, E) picture embeddings of ``split``'s first videos."""
    sounds, pictures = [], []
    for start in range(0, n, 100):
        items = [video(split, i) for i in range(start, min(n, start + 100))]
        tracks = torch.stack([torch.from_numpy(item.mixture) for item in items])
        sounds.append(student(tracks).pool5)
        images = torch.stack([image_tensor(item.scene.image) for item in items])
        pictures.append(space.encode_images(classifier.feature_map(images)))
    return torch.cat(sounds), torch.cat(pictures)


@torch.no_grad()
def recall_at_1(model: SoundToSpace, sounds: torch.Tensor, pictures: torch.Tensor) -> float:
    """Share of sounds whose own picture ranks first among all the pictures."""
    was_training = model.training
    model.eval()
    best = (model(sounds) @ pictures.T).argmax(dim=1)
    model.train(was_training)
    return float((best == torch.arange(len(sounds))).float().mean())


def train(args: TrainArgs) -> dict:
    """Compute the features, train the projection, keep the best validation step."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    clock = scaffold.Clock()
    student = SoundNet.from_pretrained(args.student)
    space = JointEmbedding.from_pretrained(args.space)
    classifier = WorldClassifier.from_pretrained(
        REPO_ROOT / "checkpoints" / space.config.image_encoder
    )
    train_sounds, train_pictures = pair_features("train", args.videos, student, space, classifier)
    val_sounds, val_pictures = pair_features(
        "validation", args.val_videos, student, space, classifier
    )
    logger.info("features of %d + %d videos in %.0f s", args.videos, args.val_videos, clock.wall())
    config = SoundToSpaceConfig(in_dim=student.config.pool5_dim, embed_dim=space.config.embed_dim)
    model = SoundToSpace(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    rng = np.random.default_rng(args.seed)
    command = scaffold.command_line("multimodal_core.train.sound_search")
    best: dict = {"score": -1.0}
    model.train()
    for step in range(1, args.steps + 1):
        scaffold.set_lr(optimizer, scaffold.cosine_lr(args.lr, step / args.steps, 0.05))
        picks = torch.from_numpy(rng.choice(len(train_sounds), args.batch_size, replace=False))
        loss = model.loss(train_sounds[picks], train_pictures[picks])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % args.val_every == 0 or step == args.steps:
            r1 = recall_at_1(model, val_sounds, val_pictures)
            logger.info("step %d  loss %.3f  validation R@1 %.3f", step, float(loss.detach()), r1)
            if r1 > best["score"]:
                best = {
                    "score": r1,
                    "validation": {"r1_s2i": r1, "videos": args.val_videos},
                    "step": step,
                    "minutes": round(clock.wall() / 60, 2),
                    "seed": args.seed,
                    "command": command,
                    "args": asdict(args),
                    "parameters": scaffold.parameter_count(model),
                }
                model.save_pretrained(args.out)
                scaffold.write_record(args.out, best)
    return scaffold.finish(args.steps, best, clock)


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
