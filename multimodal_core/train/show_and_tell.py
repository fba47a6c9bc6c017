"""Train Show and Tell on the world: ``python -m multimodal_core.train.show_and_tell``.

The ablation of the attention captioner, trained the way ``multimodal_core.train.captioning``
trains it: the same replay buffer of freshly rendered training scenes, one random reference per
scene per step, the same vocabulary code, seed, optimiser, schedule, region head, validation
(greedy BLEU-4 on the validation scenes; the best is written to ``--out``) and resume state in
``--run-dir``. Only the decoder differs: the encoder is the attention model's trained one
(``--encoder-from``), frozen, as the paper's CNN is pretrained; ``--train-encoder`` trains one
from scratch with the region head instead. ``--minutes`` is CPU time of this process,
``--max-wall-minutes`` caps the wall-clock time as well.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from multimodal_core.models.show_and_tell import ShowAndTell, ShowAndTellConfig
from multimodal_core.models.show_attend_tell import Vocabulary
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import captioning, scaffold

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs(captioning.TrainArgs):
    """The attention captioner's arguments (see ``python -m multimodal_core.train.captioning
    --help``), with this model's folders."""

    out: Path = REPO_ROOT / "checkpoints" / "show_and_tell"  # where the best checkpoint goes
    run_dir: Path = REPO_ROOT / "runs" / "show_and_tell"  # resume state (git-ignored)
    encoder_from: Path = REPO_ROOT / "checkpoints" / "captioning"  # the attention model's folder
    train_encoder: bool = False  # train an encoder from scratch (region head on) instead


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def train(args: TrainArgs) -> dict:
    """Run (or resume) training; returns the record of the best checkpoint."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    resume = scaffold.load_state(args.run_dir, args.resume)
    if resume is not None:
        vocab = Vocabulary(resume.record["vocab"])
        config = ShowAndTellConfig.from_dict(resume.record["config"])
    else:
        vocab = captioning.build_vocabulary(args.vocab_scenes)
        heads = args.train_encoder and args.region_loss_weight > 0
        config = ShowAndTellConfig(
            vocab_size=len(vocab),
            image_size=args.image_size,
            region_classes=len(captioning.CLASS_INDEX) + 1 if heads else 0,
            region_loss_weight=args.region_loss_weight,
            freeze_encoder=not args.train_encoder,
        )
    model = ShowAndTell(config).to(memory_format=torch.channels_last)
    if resume is None and config.freeze_encoder:
        load_encoder(model, args.encoder_from)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    if resume is not None:
        model.load_state_dict(resume.weights["model"])
        optimizer.load_state_dict(resume.weights["optimizer"])
    return captioning.fit(
        args, model, vocab, config, optimizer, resume, "multimodal_core.train.show_and_tell"
    )


def load_encoder(model: ShowAndTell, folder: Path) -> None:
    """The encoder's weights from the attention model's checkpoint in ``folder`` (the
    decoder's vocabulary is built here by the same code from the same scenes)."""
    prefix = "encoder."
    weights = load_file(folder / "model.safetensors")
    encoder = {k[len(prefix) :]: v.float() for k, v in weights.items() if k.startswith(prefix)}
    if not encoder:
        raise ValueError(f"{folder} holds no encoder weights (expected {prefix}* tensors)")
    model.encoder.load_state_dict(encoder)  # strict: the two encoders must be the same design


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
