"""SoundNet (Aytar, Vondrick and Torralba 2016, arXiv:1610.09001): a sound network taught by a
picture network, scaled down to the synthetic world.

The student is a stack of 1-D convolutions on the raw waveform, as in the paper's 8-layer
SoundNet: large strided kernels and max pooling first (a learned filter bank), then layers that
see seconds of sound, and a last convolution whose per-step scores are averaged over time into one
distribution over the teacher's classes. It learns from unlabelled "videos" (a picture and its
soundtrack) by matching, with KL divergence, what a frozen visual network (the teacher, here the
world classifier) sees in the picture. The pool5 activations (after the fifth convolution) then
serve other sound tasks through a linear classifier, which is the paper's transfer test.

What differs from the paper, and why: 16 kHz input (the world's rate, the paper's 22 kHz), channels
divided by 2 to 4 (one hour of CPU training), one head over the world's object classes and no
places head (the world's backgrounds are colours and textures that make no sound: a places head
could only learn how often each background is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel

LEVEL_RMS = 0.1
"""The RMS every waveform is scaled to before the first layer (the world's clips sit at -20 dBFS,
RMS 0.1): the student hears what is sounding, not how loud the recording was made."""


@dataclass
class SoundNetConfig(ConfigMixin):
    """Hyperparameters of :class:`SoundNet`.

    Args:
        class_names (tuple[str, ...]): the teacher's object classes, in the order of the logits.
        sample_rate (int, defaults to 16000): the waveform's rate in Hz.
        channels (tuple[int, ...], defaults to (16, 32, 64, 128, 256, 256, 256)): output channels
            of conv1 to conv7 (the paper: 16 to 1024, conv8 being the heads).
        kernels (tuple[int, ...], defaults to (64, 32, 16, 8, 4, 4, 4)): kernel sizes, all
            stride 2, as in the paper.
        pools (tuple[int, ...], defaults to (8, 8, 1, 1, 4, 1, 1)): max pooling after each layer
            (1: none); the paper pools after conv1, conv2 and conv5 (pool5).
        min_seconds (float, defaults to 1.0): shorter sounds are padded with silence to this
            length, so every layer has at least one step to look at.
    """

    class_names: tuple[str, ...]
    sample_rate: int = 16_000
    channels: tuple[int, ...] = (16, 32, 64, 128, 256, 256, 256)
    kernels: tuple[int, ...] = (64, 32, 16, 8, 4, 4, 4)
    pools: tuple[int, ...] = (8, 8, 1, 1, 4, 1, 1)
    min_seconds: float = 1.0

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)  # JSON gives lists
        self.channels = tuple(int(c) for c in self.channels)
        self.kernels = tuple(int(k) for k in self.kernels)
        self.pools = tuple(int(p) for p in self.pools)
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError("class_names must hold at least two distinct names")
        if not len(self.channels) == len(self.kernels) == len(self.pools) >= 5:
            raise ValueError("channels, kernels and pools need one entry per layer, 5 at least")
        if min(self.channels) <= 0 or min(self.kernels) <= 0 or min(self.pools) <= 0:
            raise ValueError("channels, kernels and pools must be positive")
        if self.sample_rate < 4000 or self.min_seconds <= 0:
            raise ValueError("need sample_rate >= 4000 and min_seconds > 0")

    @property
    def pool5_dim(self) -> int:
        """Size of :meth:`SoundNet.pool5`'s vector: the mean and the maximum over time."""
        return 2 * self.channels[4]


@dataclass
class SoundNetOutput:
    """logits (B, C) averaged over time; pool5 (B, pool5_dim); loss (KL) when a teacher is given."""

    logits: torch.Tensor
    pool5: torch.Tensor
    loss: torch.Tensor | None = None


def teacher_distribution(object_logits: torch.Tensor) -> torch.Tensor:
    """(B, C) -> (B, C): the teacher's per-class sigmoid probabilities made one distribution.

    The world classifier says, class by class, how sure it is that each object is in the picture;
    SoundNet's teacher gives one softmax over classes. Normalising the probabilities gives a
    picture of two objects half its mass on each, which is what a soundtrack of both should
    say too.
    """
    p = torch.sigmoid(object_logits.float())
    return p / p.sum(dim=1, keepdim=True).clamp_min(1e-8)


class SoundNet(PretrainedModel):
    """Raw waveform -> 1-D conv stack -> per-step object scores, averaged over time."""

    config_class = SoundNetConfig

    def __init__(self, config: SoundNetConfig) -> None:
        super().__init__()
        self.config = config
        layers = []
        c_in = 1
        for c_out, kernel, pool in zip(config.channels, config.kernels, config.pools, strict=True):
            block: list[nn.Module] = [
                nn.Conv1d(c_in, c_out, kernel, stride=2, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
            ]
            if pool > 1:
                block.append(nn.MaxPool1d(pool, ceil_mode=True))
            layers.append(nn.Sequential(*block))
            c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.objects = nn.Conv1d(c_in, len(config.class_names), 1)  # conv8: scores per step

    def _prepared(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, 1, T'): scaled to :data:`LEVEL_RMS`, padded to ``min_seconds``."""
        if waveforms.dim() != 2 or waveforms.shape[1] == 0:
            raise ValueError(f"expected waveforms of shape (B, T), got {tuple(waveforms.shape)}")
        rms = waveforms.float().square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-6)
        x = waveforms.float() * (LEVEL_RMS / rms)
        short = round(self.config.min_seconds * self.config.sample_rate) - x.shape[1]
        if short > 0:
            x = F.pad(x, (0, short))
        return x[:, None]

    def forward(
        self, waveforms: torch.Tensor, teacher: torch.Tensor | None = None
    ) -> SoundNetOutput:
        """waveforms (B, T) at ``sample_rate``; teacher (B, C) a distribution over the classes
        (:func:`teacher_distribution`). The loss is KL(teacher || student), batch mean."""
        x = self._prepared(waveforms)
        pool5 = None
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index == 4:
                pool5 = torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)
        assert pool5 is not None  # the config has five layers at least
        logits = self.objects(x).mean(dim=2)
        out = SoundNetOutput(logits, pool5)
        if teacher is not None:
            out.loss = F.kl_div(F.log_softmax(logits, dim=1), teacher, reduction="batchmean")
        return out


@dataclass
class SoundToSpaceConfig(ConfigMixin):
    """Hyperparameters of :class:`SoundToSpace`.

    Args:
        in_dim (int): size of the student's pool5 vector (:attr:`SoundNetConfig.pool5_dim`).
        embed_dim (int): size of the joint image-text space it maps into.
        hidden (int, defaults to 512): the hidden layer's width.
        temperature (float, defaults to 0.05): the InfoNCE softmax temperature of its training.
    """

    in_dim: int
    embed_dim: int
    hidden: int = 512
    temperature: float = 0.05

    def __post_init__(self) -> None:
        if min(self.in_dim, self.embed_dim, self.hidden) <= 0 or self.temperature <= 0:
            raise ValueError("dimensions and the temperature must be positive")


class SoundToSpace(PretrainedModel):
    """The student's pool5 vector -> a unit vector of the Search tab's joint space, so that a
    sound queries the same gallery a sentence or a picture does. Trained from picture-sound
    pairs alone: the picture side is the frozen space's image embedding."""

    config_class = SoundToSpaceConfig

    def __init__(self, config: SoundToSpaceConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.LayerNorm(config.in_dim),
            nn.Linear(config.in_dim, config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, config.embed_dim),
        )

    def forward(self, pool5: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, embed_dim) unit vectors."""
        return F.normalize(self.net(pool5), dim=-1)

    def loss(self, pool5: torch.Tensor, picture_embeddings: torch.Tensor) -> torch.Tensor:
        """InfoNCE from each sound to the pictures of the batch: its own picture is the match."""
        logits = self(pool5) @ picture_embeddings.T / self.config.temperature
        return F.cross_entropy(logits, torch.arange(len(pool5), device=pool5.device))
