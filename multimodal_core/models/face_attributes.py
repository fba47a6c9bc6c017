"""The judge of drawn faces: a small CNN that reads age group, gender, skin tone and hair.

Not a paper's architecture: a plain VGG-style classifier (Simonyan and Zisserman 2015, much
smaller) with one linear head per attribute, in the role that the face-attribute classifiers
(Face++ in the Speech2Face paper, arXiv:1905.09773, section 4.1) play there: it measures whether
a face drawn from a voice shows the speaker's attributes. It is trained on the world's faces
(random scale, offset and background) and on normalised renders of the same glyphs, blurred at
random, so that it judges the decoder's smooth drawings and real glyphs alike; it never sees a
face drawn from a voice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel

logger = logging.getLogger(__name__)


@dataclass
class FaceAttributesConfig(ConfigMixin):
    """Hyperparameters of :class:`FaceAttributeClassifier`.

    Args:
        image_size (int, defaults to 64): side of the square RGB faces in pixels.
        channels (tuple[int, ...], defaults to (16, 32, 64)): channels of the stages; each
            starts with a stride-2 convolution, then a global average pool.
        attribute_names (tuple[str, ...], defaults to ("age_group", "gender", "skin_tone",
            "hair")): names of the heads, in order.
        attribute_sizes (tuple[int, ...], defaults to (3, 2, 5, 7)): classes of each head.
        dropout (float, defaults to 0.1): dropout before the heads.
    """

    image_size: int = 64  # the world's faces and the decoder's drawings
    channels: tuple[int, ...] = (16, 32, 64)  # 64 px -> 8 x 8: glyph parts are 8-16 px wide
    attribute_names: tuple[str, ...] = ("age_group", "gender", "skin_tone", "hair")
    attribute_sizes: tuple[int, ...] = (3, 2, 5, 7)  # see world.people
    dropout: float = 0.1  # mild: fresh backgrounds every epoch already regularise

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # JSON gives lists
        self.attribute_names = tuple(str(n) for n in self.attribute_names)
        self.attribute_sizes = tuple(int(n) for n in self.attribute_sizes)
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")
        if len(self.attribute_names) != len(self.attribute_sizes) or not self.attribute_names:
            raise ValueError("attribute_names and attribute_sizes must have the same length > 0")
        if any(n < 2 for n in self.attribute_sizes):
            raise ValueError(
                f"every attribute needs at least 2 classes, got {self.attribute_sizes}"
            )
        if self.image_size < 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} is too small for {self.channels}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class FaceAttributesOutput:
    """Logits per attribute, and the mean cross-entropy when labels were given."""

    logits: list[torch.Tensor]  # one (B, n_k) per attribute
    loss: torch.Tensor | None = None


class FaceAttributeClassifier(PretrainedModel):
    """Faces (B, 3, S, S) in [0, 1] -> logits for each attribute."""

    config_class = FaceAttributesConfig

    def __init__(self, config: FaceAttributesConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.channels:
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),  # halve first: cheap
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.Linear(c_in, sum(config.attribute_sizes))

    def forward(
        self, faces: torch.Tensor, labels: torch.Tensor | None = None
    ) -> FaceAttributesOutput:
        """``labels`` (B, n_attributes) long gives the loss: cross-entropy averaged over heads."""
        if faces.ndim != 4 or faces.shape[1] != 3:
            raise ValueError(f"expected faces (B, 3, H, W), got {tuple(faces.shape)}")
        x = self.features(faces * 2.0 - 1.0).mean(dim=(-2, -1))  # (B, C)
        logits = list(self.heads(self.dropout(x)).split(self.config.attribute_sizes, dim=-1))
        if labels is None:
            return FaceAttributesOutput(logits)
        loss = sum(F.cross_entropy(lg, labels[:, k]) for k, lg in enumerate(logits))
        return FaceAttributesOutput(logits, loss / len(logits))

    @torch.inference_mode()
    def predict(self, faces: torch.Tensor) -> dict[str, torch.Tensor]:
        """Class probabilities per attribute name, each (B, n_k)."""
        out = self(faces)
        return {
            name: lg.float().softmax(-1)
            for name, lg in zip(self.config.attribute_names, out.logits, strict=True)
        }
