"""The world classifier: which object classes a picture holds, and its background.

A plain multi-label image classifier (a small VGG-style CNN with batch norm, global average
pooling, one sigmoid per object class and a softmax over background words), in the spirit of the
"Inception score" / FID judges (Salimans et al. 2016; Heusel et al. 2017, arXiv:1706.08500) but
trained on the synthetic world itself, because an ImageNet network cannot be downloaded here and
would not know the world's 58 emoji classes anyway. It is the judge of the text-to-image GAN:
the evaluation reads its object and background predictions for generated pictures and computes
diversity and a Frechet distance on its pooled features. Other tabs may reuse it to tag a picture.

What differs from an ImageNet classifier, and why: 64 x 64 inputs (the GAN's resolution), no
pretrained backbone, and a second head for the background word, so one network judges both
"is there a dog" and "is the background blue".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel


@dataclass
class WorldClassifierConfig(ConfigMixin):
    """Hyperparameters of :class:`WorldClassifier`.

    Args:
        class_names (tuple[str, ...]): object classes, in the order of the object logits.
        background_names (tuple[str, ...]): background words, in the order of their logits.
        image_size (int, defaults to 64): side of the square RGB input in pixels.
        channels (tuple[int, ...], defaults to (32, 64, 128, 256)): channels of the stages; each
            stage halves the resolution, so the last grid is ``image_size / 2 ** len(channels)``.
        dropout (float, defaults to 0.1): dropout on the pooled feature before both heads.
    """

    class_names: tuple[str, ...]
    background_names: tuple[str, ...]
    image_size: int = 64  # the GAN draws 64 px pictures; real scenes are rendered at 64 too
    channels: tuple[int, ...] = (32, 64, 128, 256)  # 64 -> 4 x 4; 1.2 M parameters, 53 M MACs
    dropout: float = 0.1  # mild: fresh scenes every step already regularise

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)  # JSON gives lists
        self.background_names = tuple(str(b) for b in self.background_names)
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError("class_names must hold at least two distinct names")
        if len(self.background_names) < 1 or len(set(self.background_names)) != len(
            self.background_names
        ):
            raise ValueError("background_names must hold distinct names")
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")
        if self.image_size % (2 ** len(self.channels)) != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by 2 ** len(channels) "
                f"({2 ** len(self.channels)})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def feature_dim(self) -> int:
        """Size of the pooled feature that diversity and the Frechet distance use."""
        return self.channels[-1]

    @property
    def statistics_dim(self) -> int:
        """Size of :meth:`WorldClassifier.feature_statistics`: the mean of every stage but the
        first, and the spread of the last."""
        return sum(self.channels[1:]) + self.channels[-1]


@dataclass
class WorldClassifierOutput:
    """object_logits (B, C), background_logits (B, K), features (B, D); loss when targets given."""

    object_logits: torch.Tensor
    background_logits: torch.Tensor
    features: torch.Tensor
    loss: torch.Tensor | None = None


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class WorldClassifier(PretrainedModel):
    """CNN -> pooled feature -> object logits (multi-label) and background logits."""

    config_class = WorldClassifierConfig

    def __init__(self, config: WorldClassifierConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.channels:  # each stage: a stride-2 conv, then a 3x3 conv
            layers += _conv_bn_relu(c_in, c_out, 2) + _conv_bn_relu(c_out, c_out, 1)
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.objects = nn.Linear(c_in, len(config.class_names))
        self.backgrounds = nn.Linear(c_in, len(config.background_names))

    def forward(
        self,
        images: torch.Tensor,
        object_targets: torch.Tensor | None = None,
        background_targets: torch.Tensor | None = None,
    ) -> WorldClassifierOutput:
        """images (B, 3, S, S) in [0, 1]; object_targets (B, C) in {0, 1}; background (B,) ids.

        The loss is the mean binary cross-entropy over classes plus the background
        cross-entropy; both targets are needed for it.
        """
        features = self.feature_map(images).mean(dim=(2, 3))  # (B, D)
        h = self.dropout(features)
        out = WorldClassifierOutput(self.objects(h), self.backgrounds(h), features)
        if object_targets is not None and background_targets is not None:
            # Summed over classes (not averaged): 58 mostly-negative labels would otherwise
            # give the positives a vanishing gradient next to the background term.
            bce = F.binary_cross_entropy_with_logits(
                out.object_logits, object_targets.to(out.object_logits.dtype), reduction="sum"
            ) / len(images)
            out.loss = bce + F.cross_entropy(out.background_logits, background_targets)
        return out

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D, g, g): the last stage's map before pooling, for a reader that needs where
        things are (the joint image-text space, ``models/joint_embedding.py``)."""
        size = self.config.image_size
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-2:] != (size, size):
            raise ValueError(
                f"expected images of shape (B, 3, {size}, {size}), got {tuple(images.shape)}"
            )
        return self.cnn(images * 2.0 - 1.0)

    def feature_statistics(self, images: torch.Tensor) -> torch.Tensor:
        """(B, statistics_dim): the spatial mean of every stage's map but the first, then the
        spatial standard deviation of the last, for the out-of-world head
        (``models/out_of_world.py``). The pooled feature alone does not tell photos from
        scenes; the earlier stages' textures and the last map's unevenness do (see the head's
        model card)."""
        x = images * 2.0 - 1.0
        stats = []
        per_stage = len(self.cnn) // len(self.config.channels)  # 6 modules: two conv-bn-relu
        for start in range(0, len(self.cnn), per_stage):
            x = self.cnn[start : start + per_stage](x)  # (B, C_s, g_s, g_s)
            if start:
                stats.append(x.mean(dim=(2, 3)))
        stats.append(x.std(dim=(2, 3)))
        return torch.cat(stats, dim=1)
