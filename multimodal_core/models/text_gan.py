"""A text-conditional GAN: a sentence embedding and noise in, a 64 x 64 picture out.

Implements the lecture's GAN-INT-CLS (Reed et al. 2016, "Generative Adversarial Text to Image
Synthesis", arXiv:1605.05396): a frozen sentence embedding is projected and joined with Gaussian
noise z; a convolutional generator draws the picture; a *matching-aware* discriminator is shown
real image + right text (real), real image + wrong text (fake) and generated image + right text
(fake), so it must judge both realism and whether picture and text agree.

What differs from the paper, and why (later stabilisers that let it train on a CPU in an hour):
- The sentence embedding is all-MiniLM-L6-v2 (384-d, frozen), not a char-CNN-RNN trained
  jointly: it ships offline and maps unseen words near known ones ("puppy" ~ "dog").
- Conditioning augmentation (StackGAN, Zhang et al. 2017, arXiv:1612.03242): the text becomes
  a Gaussian c ~ N(mu(t), sigma(t)) with a KL penalty, smoothing the few thousand distinct
  captions of the world into a continuous space; at inference c = mu(t).
- Deep text fusion (DF-GAN, Tao et al. 2022, arXiv:2008.05865): every generator block
  normalises with batch norm whose scale and shift are predicted from [c, z] (conditional
  batch norm, as in BigGAN) instead of seeing the text only at the input.
- The discriminator uses spectral norm on every layer (Miyato et al. 2018), the hinge loss, and
  a projection term <phi(t), h(x)> (Miyato & Koyama 2018) for the text: a wrong-text pair
  reuses the real image's features, so matching-awareness costs no extra convolution.
- An auxiliary classifier on the discriminator's features (TAC-GAN, Dash et al. 2017,
  arXiv:1703.06412) predicts which object classes a picture holds: the generator is rewarded
  when its picture is classified as the classes its text names. It speeds up learning shapes,
  which plain matching-awareness learns last (prototypes on a CPU learned the background
  colour within minutes and the objects' shapes far later).

The generator's public API is :meth:`TextGAN.generate` (embeddings and noise -> pictures in
[0, 1]); the tab, the CLI, the evaluation and the bench all call it through
:func:`sample_images`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel


@dataclass
class TextGANConfig(ConfigMixin):
    """Hyperparameters of :class:`TextGAN`.

    Args:
        text_dim (int, defaults to 384): size of the frozen sentence embedding (MiniLM).
        cond_dim (int, defaults to 128): size of the conditioning-augmentation code c.
        z_dim (int, defaults to 64): size of the Gaussian noise z.
        image_size (int, defaults to 64): side of the generated picture; must be
            ``4 * 2 ** len(g_channels)``.
        g_base (int, defaults to 256): channels of the generator's 4 x 4 starting grid.
        g_channels (tuple[int, ...], defaults to (128, 64, 32, 16)): output channels of the
            generator's upsampling blocks (each doubles the side).
        g_refine_blocks (int, defaults to 2): how many of the first blocks add a 3x3 conv.
        d_channels (tuple[int, ...], defaults to (32, 64, 128, 256)): channels of the
            discriminator's stages (each halves the side).
        num_classes (int, defaults to 0): object classes of the auxiliary classifier; 0 turns
            it off.
    """

    text_dim: int = 384  # all-MiniLM-L6-v2
    cond_dim: int = 128  # StackGAN uses 128 as well
    z_dim: int = 64  # enough for pose, size and skin tone, which the text rarely fixes
    image_size: int = 64  # the paper's size; what a CPU can train in an hour
    g_base: int = 256  # 4 x 4 x 256 from the fully connected layer
    g_channels: tuple[int, ...] = (128, 64, 32, 16)  # 4 -> 64 px
    g_refine_blocks: int = 2  # 3x3 convs after the first two upsamplings (8 and 16 px) only
    d_channels: tuple[int, ...] = (32, 64, 128, 256)  # 64 -> 4 px; D ~1.3 M parameters
    num_classes: int = 0  # the training script sets the world's class count

    def __post_init__(self) -> None:
        self.g_channels = tuple(int(c) for c in self.g_channels)  # JSON gives lists
        self.d_channels = tuple(int(c) for c in self.d_channels)
        for name in ("text_dim", "cond_dim", "z_dim", "g_base"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.g_channels or any(c <= 0 for c in self.g_channels):
            raise ValueError(f"g_channels must be positive, got {self.g_channels}")
        if not self.d_channels or any(c <= 0 for c in self.d_channels):
            raise ValueError(f"d_channels must be positive, got {self.d_channels}")
        if self.image_size != 4 * 2 ** len(self.g_channels):
            raise ValueError(
                f"image_size ({self.image_size}) must be 4 * 2 ** len(g_channels) "
                f"({4 * 2 ** len(self.g_channels)})"
            )
        if self.image_size % 2 ** len(self.d_channels) != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by 2 ** len(d_channels)"
            )
        if not 0 <= self.g_refine_blocks <= len(self.g_channels):
            raise ValueError(f"g_refine_blocks must be in 0..{len(self.g_channels)}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")


class ConditioningAugmentation(nn.Module):
    """t (B, text_dim) -> c (B, cond_dim) ~ N(mu, sigma^2), and the KL to N(0, I)."""

    def __init__(self, config: TextGANConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.text_dim, 2 * config.cond_dim)
        # MiniLM vectors have unit length, so each coordinate is about 1/sqrt(384): scaled back
        # to unit size, mu starts comparable to the noise instead of 30x smaller than it.
        self.scale = math.sqrt(config.text_dim)

    def forward(self, text: torch.Tensor, sample: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = F.leaky_relu(self.fc(text * self.scale), 0.2).chunk(2, dim=-1)  # (B, cond)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()  # per dimension, as StackGAN
        if not sample:
            return mu, kl
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp(), kl


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and shift come from the condition (B, cond) per sample."""

    def __init__(self, channels: int, cond: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond, channels)
        self.bias = nn.Linear(cond, channels)
        nn.init.zeros_(self.gain.weight)  # starts as plain batch norm: gain 1, bias 0
        nn.init.zeros_(self.gain.bias)
        nn.init.zeros_(self.bias.weight)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain = 1.0 + self.gain(cond)[:, :, None, None]  # (B, C, 1, 1)
        return self.bn(x) * gain + self.bias(cond)[:, :, None, None]


class UpBlock(nn.Module):
    """Transposed 4x4 conv (doubles the side) -> CBN -> ReLU, then maybe 3x3 conv -> CBN -> ReLU.

    Transposed convolutions rather than nearest upsampling: on a CPU the interpolation's copies
    cost more than the convolution itself (measured here). The refining 3x3 conv is kept only
    at low resolution, where it is cheap and where shapes are decided.
    """

    def __init__(self, c_in: int, c_out: int, cond: int, refine: bool) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
        self.norm1 = ConditionalBatchNorm(c_out, cond)
        self.conv = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False) if refine else None
        self.norm2 = ConditionalBatchNorm(c_out, cond) if refine else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.up(x), cond))  # (B, c_out, 2H, 2W)
        if self.conv is not None and self.norm2 is not None:
            h = F.relu(self.norm2(self.conv(h), cond))
        return h


class Generator(nn.Module):
    """(text embedding, z) -> picture (B, 3, S, S) in [-1, 1]."""

    def __init__(self, config: TextGANConfig) -> None:
        super().__init__()
        self.config = config
        cond = config.cond_dim + config.z_dim
        self.augment = ConditioningAugmentation(config)
        self.fc = nn.Linear(cond, config.g_base * 16)
        blocks, c_in = [], config.g_base
        for i, c_out in enumerate(config.g_channels):
            blocks.append(UpBlock(c_in, c_out, cond, refine=i < config.g_refine_blocks))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.fc_norm = nn.BatchNorm1d(config.g_base * 16)
        self.to_rgb = nn.Conv2d(c_in, 3, 3, 1, 1)

    def forward(
        self, text: torch.Tensor, z: torch.Tensor, sample_condition: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> pictures (B, 3, S, S) in [-1, 1] and the conditioning KL (scalar)."""
        c, kl = self.augment(text, sample_condition)
        cond = torch.cat([c, z], dim=-1)  # (B, cond_dim + z_dim)
        x = F.relu(self.fc_norm(self.fc(cond)))  # (B, g_base * 16)
        x = x.view(len(z), self.config.g_base, 4, 4)  # (B, g_base, 4, 4)
        for block in self.blocks:
            x = block(x, cond)
        return torch.tanh(self.to_rgb(x)), kl


class Discriminator(nn.Module):
    """Matching-aware: score(x, t) = psi(h(x)) + <phi(t), h(x)>, plus class logits of h(x)."""

    def __init__(self, config: TextGANConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.d_channels:  # each stage: stride-2 4x4 conv, then a 3x3 conv
            layers += [
                spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)),
                nn.LeakyReLU(0.2, inplace=True),
                spectral_norm(nn.Conv2d(c_out, c_out, 3, 1, 1)),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.psi = spectral_norm(nn.Linear(c_in, 1))
        self.phi = spectral_norm(nn.Linear(config.text_dim, c_in))
        self.classify = nn.Linear(c_in, config.num_classes) if config.num_classes else None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) in [-1, 1] -> h (B, D), summed over positions."""
        return self.cnn(images).sum(dim=(2, 3))

    def score(self, h: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """h (B, D), text (B, text_dim) -> (B,) realness of the pair."""
        return self.psi(h).squeeze(-1) + (self.phi(text) * h).sum(-1)

    def class_logits(self, h: torch.Tensor) -> torch.Tensor | None:
        """(B, num_classes), or None when the auxiliary classifier is off."""
        return None if self.classify is None else self.classify(h)


@dataclass
class DiscriminatorLoss:
    """The discriminator's loss of one step and its parts (floats, for the log)."""

    loss: torch.Tensor
    real: float  # mean hinge on real picture + right text
    wrong: float  # mean hinge on real picture + wrong text
    fake: float  # mean hinge on generated picture + right text
    aux: float  # auxiliary classification loss on real pictures


class TextGAN(PretrainedModel):
    """Generator + matching-aware discriminator; only the generator is needed to draw.

    Only the generator is released (``save_pretrained`` / ``from_pretrained``): the
    discriminator is needed for training alone, and its state lives in the resume file.
    """

    config_class = TextGANConfig

    def __init__(self, config: TextGANConfig, with_discriminator: bool = True) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config) if with_discriminator else None

    def _released_module(self) -> nn.Module:
        return self.generator

    @classmethod
    def _from_config(cls, config: TextGANConfig) -> TextGAN:
        return cls(config, with_discriminator=False)

    def _check(self, text: torch.Tensor, z: torch.Tensor | None = None) -> None:
        if text.dim() != 2 or text.shape[1] != self.config.text_dim:
            raise ValueError(
                f"expected text embeddings of shape (B, {self.config.text_dim}), "
                f"got {tuple(text.shape)}"
            )
        if z is not None and (z.shape != (len(text), self.config.z_dim)):
            raise ValueError(
                f"expected z of shape ({len(text)}, {self.config.z_dim}), got {tuple(z.shape)}"
            )

    def generate(self, text: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """text (B, text_dim), z (B, z_dim) -> pictures (B, 3, S, S) in [0, 1] (c = mu(t))."""
        self._check(text, z)
        images, _ = self.generator(text, z, sample_condition=False)
        return (images + 1.0) * 0.5

    def discriminator_loss(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        text: torch.Tensor,
        wrong_text: torch.Tensor,
        labels: torch.Tensor,
        aux_weight: float = 1.0,
    ) -> DiscriminatorLoss:
        """Hinge, matching-aware, with DF-GAN's weights: real 1, wrong text 0.5, fake 0.5.

        real (B, 3, S, S) in [0, 1]; fake (B, 3, S, S) in [-1, 1] from the generator (detached
        here); text, wrong_text (B, text_dim); labels (B, num_classes) multi-hot of the real
        pictures' classes.
        """
        d = self._require_discriminator()
        self._check(text)
        self._check(wrong_text)
        h_real = d.features(real * 2.0 - 1.0)  # (B, D)
        h_fake = d.features(fake.detach())
        real_hinge = F.relu(1.0 - d.score(h_real, text)).mean()
        wrong_hinge = F.relu(1.0 + d.score(h_real, wrong_text)).mean()  # same features, no conv
        fake_hinge = F.relu(1.0 + d.score(h_fake, text)).mean()
        aux = torch.zeros((), device=real.device)
        logits = d.class_logits(h_real)
        if logits is not None and aux_weight > 0:
            aux = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / len(real)
        loss = real_hinge + 0.5 * (wrong_hinge + fake_hinge) + aux_weight * aux
        parts = [float(t.detach()) for t in (real_hinge, wrong_hinge, fake_hinge, aux)]
        return DiscriminatorLoss(loss, *parts)

    def _require_discriminator(self) -> Discriminator:
        if self.discriminator is None:
            raise ValueError("this TextGAN was built without its discriminator")
        return self.discriminator

    def generator_loss(
        self,
        fake: torch.Tensor,
        text: torch.Tensor,
        labels: torch.Tensor,
        kl: torch.Tensor,
        aux_weight: float,
        kl_weight: float,
    ) -> torch.Tensor:
        """-D(G(z, t), t) + aux_weight * class loss of the fake + kl_weight * KL.

        fake (B, 3, S, S) in [-1, 1], not detached; labels: the classes the text names.
        """
        d = self._require_discriminator()
        h_fake = d.features(fake)
        loss = -d.score(h_fake, text).mean() + kl_weight * kl
        logits = d.class_logits(h_fake)
        if logits is not None and aux_weight > 0:
            loss = loss + aux_weight * F.binary_cross_entropy_with_logits(
                logits, labels, reduction="sum"
            ) / len(fake)
        return loss


def noise(seeds: list[int], z_dim: int) -> torch.Tensor:
    """One z per seed (B, z_dim), the same on every machine: seed s always draws the same z."""
    rows = [torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows)


@torch.inference_mode()
def sample_images(model: TextGAN, text: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Draw pictures (B, 3, S, S) in [0, 1] on the model's device and dtype; returns float32 CPU.

    The one drawing function the tab, the CLI, the evaluation and the bench share.
    """
    param = next(model.generator.parameters())
    images = model.generate(text.to(param.device, param.dtype), z.to(param.device, param.dtype))
    return images.float().clamp(0.0, 1.0).cpu()
