"""The out-of-world head: does a picture (or a sound) come from the synthetic world the built-in
models know?

A logistic regression (Cox 1958) on pooled statistics of the frozen world classifier's feature
maps (``WorldClassifier.feature_statistics``: the mean of stages 2 to 4 and the spread of stage
4), trained on world scenes against real photos and other pictures
that are not emoji scenes. The world classifier alone cannot say it: a Gaussian (Mahalanobis)
model of its pooled feature flagged only 16% of photos at a 0.5% world false-alarm rate, and
its top class probability is near 1 on many photos; a boundary learned from real material does
separate them, and better with the earlier stages' statistics than with the last pooled
feature alone (the model card has the figures). This file holds only the head; the task code
feeds it the classifier's statistics.

The same head, fitted on :func:`sound_statistics` of the frozen localization model's audio net
instead, answers two questions about recordings: is this sound from the world's sound world
(``checkpoints/out_of_world_sound``), and is it speech at all (``checkpoints/out_of_world_voice``).

What differs from a textbook logistic regression: the features are standardised inside the
model (their training mean and spread are buffers), so the released weights are all that is
needed, and the decision threshold chosen on validation scenes is stored in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core import audio
from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel


@dataclass
class OutOfWorldConfig(ConfigMixin):
    """Hyperparameters of :class:`OutOfWorldHead`.

    Args:
        feature_dim (int, defaults to 704): size of the statistics it reads (the world
            classifier's ``statistics_dim``: 64 + 128 + 256 means and 256 spreads; for sounds
            :func:`sound_statistics_dim`).
        threshold (float, defaults to 0.5): an input whose world probability is below this is
            out of the world; training replaces it with the value chosen on validation inputs.
    """

    feature_dim: int = 704  # WorldClassifierConfig.statistics_dim of the shipped classifier
    threshold: float = 0.5  # placeholder until calibration: the even-odds point
    reference_dim: int = 0  # > 0: the last features are a unit embedding (sound heads)
    reference_size: int = 0  # world examples' embeddings stored to compare it with; 0 = none
    reference_threshold: float = -1.0  # cosine to the nearest one below this: out of the world

    def __post_init__(self) -> None:
        if self.feature_dim <= 0:
            raise ValueError(f"feature_dim must be positive, got {self.feature_dim}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0 <= self.reference_dim <= self.feature_dim or self.reference_size < 0:
            raise ValueError(
                f"need 0 <= reference_dim <= feature_dim and reference_size >= 0, got "
                f"{self.reference_dim}, {self.reference_size}"
            )
        if self.reference_size and not self.reference_dim:
            raise ValueError("stored reference embeddings need reference_dim > 0")
        if not -1.0 <= self.reference_threshold <= 1.0:
            raise ValueError(
                f"reference_threshold must be in [-1, 1], got {self.reference_threshold}"
            )


@dataclass
class OutOfWorldOutput:
    """logits (B,): log-odds that a picture is from the world; loss when targets are given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None

    @property
    def world_probability(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)


class OutOfWorldHead(PretrainedModel):
    """Standardised features -> one linear unit -> the log-odds of "from the world"."""

    config_class = OutOfWorldConfig

    def __init__(self, config: OutOfWorldConfig) -> None:
        super().__init__()
        self.config = config
        # Set from the training features by fit_standardisation; saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        if config.reference_size:  # set by fit_reference; the picture head has none
            self.register_buffer(
                "reference", torch.zeros(config.reference_size, config.reference_dim)
            )
        self.linear = nn.Linear(config.feature_dim, 1)

    @torch.no_grad()
    def fit_standardisation(self, features: torch.Tensor) -> None:
        """Store the mean and spread of the training features (B, D), so that one weight decay
        suits every feature whatever its scale."""
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0).clamp_min(1e-6))

    @torch.no_grad()
    def fit_reference(self, features: torch.Tensor) -> None:
        """Store the unit embeddings (the last ``reference_dim`` features) of world examples."""
        self.reference.copy_(features[:, -self.config.reference_dim :])

    def nearest_similarity(self, features: torch.Tensor) -> torch.Tensor | None:
        """(B,) cosine of each input's embedding to the nearest stored world example; None when
        the head stores none."""
        if not self.config.reference_size:
            return None
        embedding = features[:, -self.config.reference_dim :]
        return (embedding @ self.reference.to(embedding.dtype).t()).amax(dim=1)

    def forward(
        self, features: torch.Tensor, targets: torch.Tensor | None = None
    ) -> OutOfWorldOutput:
        """features (B, D) world-classifier statistics; targets (B,) 1 = world, 0 = not.

        The loss is the binary cross-entropy, each class weighted by half the inverse of its
        share, so that many more scenes than photos do not drown the photos.
        """
        if features.dim() != 2 or features.shape[1] != self.config.feature_dim:
            raise ValueError(
                f"expected features of shape (B, {self.config.feature_dim}), "
                f"got {tuple(features.shape)}"
            )
        x = (features - self.feature_mean) / self.feature_std  # (B, D)
        out = OutOfWorldOutput(self.linear(x).squeeze(1))
        if targets is not None:
            targets = targets.to(out.logits.dtype)
            share = targets.mean().clamp(1e-6, 1 - 1e-6)
            weights = torch.where(targets > 0.5, 0.5 / share, 0.5 / (1 - share))
            out.loss = nn.functional.binary_cross_entropy_with_logits(
                out.logits, targets, weight=weights
            )
        return out

    def is_in_world(self, features: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the world probability reaches the calibrated threshold and, for a head
        with stored world examples, the input lies near one of them too."""
        decided = self(features).world_probability >= self.config.threshold
        nearest = self.nearest_similarity(features)
        if nearest is not None:
            decided &= nearest >= self.config.reference_threshold
        return decided


class AudioFeatureNet(Protocol):
    """What the sound statistics read of the localization model's ``AudioNet`` (a model file
    imports no other model file): its mel bands, its 1-D CNN and its projection."""

    n_mels: int
    cnn: nn.Sequential
    project: nn.Sequential

    def parameters(self) -> Any: ...


def sound_statistics_dim(net: AudioFeatureNet) -> int:
    """Size of :func:`sound_statistics` for ``net``: every stage's mean, the last one's spread
    and maximum, and the net's embedding."""
    widths = [m.num_features for m in net.cnn if isinstance(m, nn.BatchNorm1d)][1:]
    return sum(widths) + 2 * widths[-1] + embedding_dim(net)


def embedding_dim(net: AudioFeatureNet) -> int:
    """Size of the audio net's unit embedding, the last part of :func:`sound_statistics`."""
    return net.project[-1].out_features


def sound_statistics(net: AudioFeatureNet, mels: torch.Tensor) -> torch.Tensor:
    """Log-mels in dB (B, n_mels, T) -> (B, D) pooled statistics of the frozen audio net's
    stages: the time mean of each stage's activations, and the time spread and maximum of the
    last; then the net's own unit embedding (what it matches with pictures), which a sound head
    compares with stored world examples. The input is scaled by its peak as the net's own
    forward does, so loudness does not count.
    """
    if mels.dim() != 3 or mels.shape[1] != net.n_mels:
        raise ValueError(
            f"expected log-mel spectrograms of shape (B, {net.n_mels}, T), got {tuple(mels.shape)}"
        )
    x = (mels - mels.amax(dim=(1, 2), keepdim=True)) / 40.0 + 1.0
    parts = []
    for layer in net.cnn:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            parts.append(x.mean(dim=2))
    top = x.amax(dim=2)
    embedding = F.normalize(net.project(torch.cat([parts[-1], top], dim=1)), dim=1)
    parts += [x.std(dim=2, correction=0), top, embedding]
    return torch.cat(parts, dim=1)


def hearing_config(config: Any) -> audio.FeatureConfig:
    """The log-mel the localization model hears (its ``LocalizationConfig``'s rate, FFT size, hop
    and bands)."""
    return audio.FeatureConfig(
        sample_rate=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
    )


@torch.inference_mode()
def recording_statistics(
    net: AudioFeatureNet, features: audio.FeatureConfig, recordings: list[np.ndarray]
) -> torch.Tensor:
    """(N, D) :func:`sound_statistics` of mono recordings at ``features.sample_rate``, one at a
    time: their lengths differ, and padding would change the statistics."""
    param = next(net.parameters())
    parts = [
        sound_statistics(net, audio.log_mel(r, features)[None].to(param.device, param.dtype))
        for r in recordings
    ]
    return torch.cat(parts).float().cpu()
