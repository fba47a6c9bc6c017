"""Sound-source localization: visual net + audio net + attention net.

Implements the unsupervised model of Senocak et al. 2018, "Learning to Localize Sound Source in
Visual Scenes" (arXiv:1803.03849): a visual network gives a grid of region features, an audio
network gives one vector per clip, and an attention network scores every region by its cosine
similarity with the sound, normalises the scores into a localization map (softmax over regions)
and pools the attended visual vector, which is matched with the sound. Only audio-visual
correspondence trains it (which clip goes with which picture); boxes are for evaluation only.

What differs from the paper, and why:
- The loss is a symmetric InfoNCE over the batch (every picture against every clip, both ways)
  instead of the paper's triplet loss with one negative: more negatives per step, no margin.
- The visual net is a small U-Net-style CNN trained from scratch (nothing can be downloaded
  here) that climbs back from stride 16 to a fine grid (stride 4 by default: 32 x 32 regions
  on a 128 px picture) with skip connections, instead of VGG's 14 x 14 grid. Every down step is
  a 2 x 2 patch convolution or a 2 x 2 pooling, never a padded stride-2 3 x 3 convolution, so a
  grid cell's centre is exactly where ``F.interpolate(..., align_corners=False)`` puts it and
  the upsampled map lies on the object, not a few pixels beside it.
- The audio net runs 1-D convolutions over time on a log-mel spectrogram (mel bands as
  channels) from :mod:`multimodal_core.audio`, pooled over time (mean and max), so any clip
  length works; the paper used a SoundNet-style net on the waveform.
- Both softmax temperatures (the attention map's and the contrastive logits') are learned.
- An optional second InfoNCE on the mean similarity of each picture's k best regions
  (``topk_regions``): with the attended vector alone the map lit only an object's few most telling
  regions, too small a part of it for cIoU.

Maps: ``attention`` (B, g, g) sums to 1 over the grid (what the attention net pools with);
``similarity`` (B, g, g) is the cosine similarity in [-1, 1]; :func:`pixel_map` upsamples
it to the picture and rescales it to [0, 1] between the picture's typical region (0) and its
peak (1), the map that is shown and thresholded for cIoU.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel

logger = logging.getLogger(__name__)


@dataclass
class LocalizationConfig(ConfigMixin):
    """Hyperparameters of :class:`SoundLocalizer`.

    Args:
        image_size (int, defaults to 128): side of the square RGB input in pixels.
        patch_size (int, defaults to 4): side of the patch convolution that opens the visual
            net (its stride): the first stage works at stride ``patch_size``.
        visual_channels (tuple[int, ...], defaults to (32, 64, 96)): channels of the visual
            encoder's stages at strides patch_size, 2 * patch_size, ... (a 2 x 2 pooling before
            each later stage).
        decoder_channels (int, defaults to 48): width of the top-down path.
        output_stride (int, defaults to 4): stride of the region grid the decoder climbs back
            to (a power of two from patch_size to the deepest stride).
        embed_dim (int, defaults to 64): size of region and audio embeddings.
        sample_rate, n_fft, hop_length, n_mels (int): the log-mel features the audio net reads
            (``audio.FeatureConfig``), stored so the app computes exactly what training did.
        audio_channels (tuple[int, ...], defaults to (128, 128, 192)): 1-D conv stages over time,
            each halving the frame rate after the first.
        attention_temperature (float, defaults to 0.1): initial softmax temperature of the map.
        contrastive_temperature (float, defaults to 0.07): initial temperature of the logits.
        map_threshold (float, defaults to 0.5): threshold on the [0, 1] pixel map that marks
            "the source" for cIoU; training calibrates it on validation scenes.
        map_smoothing (int, defaults to 1): side, in cells, of the neighbourhood each grid
            similarity is averaged over before the map is drawn (1: none); calibrated on
            validation scenes with the threshold.
        confident_similarity (float, defaults to 0.0): peak cosine similarity below which a
            map is reported as low confidence; calibrated on validation scenes too.
    """

    image_size: int = 128  # the world's localization scenes are 128 px
    patch_size: int = 4  # a stride-2 stage at 64 x 64 cost a third of the step for no gain
    visual_channels: tuple[int, ...] = (32, 64, 96)  # strides 4, 8, 16: ~40 M MACs a picture
    decoder_channels: int = 32  # the 32 x 32 level dominates the cost; 32 carries the class
    output_stride: int = 4  # 32 x 32 regions: objects (22-44 px) span 5-11 cells
    embed_dim: int = 64  # 20 sound classes need few dimensions
    sample_rate: int = 16_000  # audio.FeatureConfig defaults: the world's sounds live below 8 kHz
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    audio_channels: tuple[int, ...] = (128, 128, 192)  # 1-D convs: ~15 M MACs for 2 s
    attention_temperature: float = 0.1  # cosine / 0.1: a map that can be sharp but not one-hot
    contrastive_temperature: float = 0.07  # CLIP's initial value
    map_threshold: float = 0.5  # Senocak et al.'s default; calibrated after training
    map_smoothing: int = 1  # calibrated after training
    confident_similarity: float = 0.0  # calibrated after training

    def __post_init__(self) -> None:
        self.visual_channels = tuple(int(c) for c in self.visual_channels)  # JSON gives lists
        self.audio_channels = tuple(int(c) for c in self.audio_channels)
        if len(self.visual_channels) < 2 or any(c <= 0 for c in self.visual_channels):
            raise ValueError(f"visual_channels needs 2+ positive sizes, got {self.visual_channels}")
        if not self.audio_channels or any(c <= 0 for c in self.audio_channels):
            raise ValueError(f"audio_channels must be positive, got {self.audio_channels}")
        if self.patch_size < 1 or self.patch_size & (self.patch_size - 1):
            raise ValueError(f"patch_size must be a power of two, got {self.patch_size}")
        deepest = self.patch_size * 2 ** (len(self.visual_channels) - 1)
        if self.image_size % deepest != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by the deepest stride {deepest}"
            )
        stride = self.output_stride
        if not self.patch_size <= stride <= deepest or stride & (stride - 1):
            raise ValueError(
                f"output_stride must be a power of two in {self.patch_size}..{deepest}, "
                f"got {stride}"
            )
        for name in ("decoder_channels", "embed_dim", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("attention_temperature", "contrastive_temperature"):
            if not 0.0 < getattr(self, name) <= 10.0:
                raise ValueError(f"{name} must be in (0, 10], got {getattr(self, name)}")
        if not 0.0 < self.map_threshold < 1.0:
            raise ValueError(f"map_threshold must be in (0, 1), got {self.map_threshold}")
        if self.map_smoothing < 1 or self.map_smoothing % 2 == 0:
            raise ValueError(f"map_smoothing must be odd and positive, got {self.map_smoothing}")
        if not -1.0 <= self.confident_similarity <= 1.0:
            raise ValueError(
                f"confident_similarity must be in [-1, 1], got {self.confident_similarity}"
            )

    @property
    def grid_size(self) -> int:
        """Side of the region grid: the map's resolution before upsampling."""
        return self.image_size // self.output_stride


def _conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """A centred convolution (odd kernel, 'same' padding) or a 2 x 2 patch convolution."""
    padding = kernel // 2 if kernel % 2 else 0  # even kernels are patch convs (kernel == stride)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class VisualNet(nn.Module):
    """U-Net-style CNN: pictures (B, 3, H, W) -> unit region embeddings (B, D, g, g).

    Down: a ``patch_size`` patch conv and a 3 x 3 conv, then per stage a 2 x 2 average pool
    and two 3 x 3 convs. Up: bilinear x2 (align_corners=False), a 1 x 1 lateral from the
    encoder stage of the same stride, a 3 x 3 conv; until ``output_stride``. Every step keeps
    cell centres where ``align_corners=False`` expects them.
    """

    def __init__(self, config: LocalizationConfig) -> None:
        super().__init__()
        channels = config.visual_channels
        self.image_size = config.image_size
        stages = [
            nn.Sequential(
                _conv_bn_relu(3, channels[0], config.patch_size, config.patch_size),
                _conv_bn_relu(channels[0], channels[0]),
            )
        ]
        for c_in, c_out in itertools.pairwise(channels):
            stages.append(
                nn.Sequential(
                    nn.AvgPool2d(2), _conv_bn_relu(c_in, c_out), _conv_bn_relu(c_out, c_out)
                )
            )
        self.stages = nn.ModuleList(stages)  # stage i has stride patch_size * 2 ** i
        deepest = config.patch_size * 2 ** (len(channels) - 1)
        n_up = int(math.log2(deepest // config.output_stride))
        width = config.decoder_channels
        self.top = nn.Conv2d(channels[-1], width, 1)
        # Laterals from the stages at strides deepest/2, deepest/4, ... down to output_stride.
        self.laterals = nn.ModuleList(nn.Conv2d(channels[-2 - i], width, 1) for i in range(n_up))
        self.smooth = nn.ModuleList(_conv_bn_relu(width, width) for _ in range(n_up))
        self.embed = nn.Conv2d(width, config.embed_dim, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-2:] != (self.image_size,) * 2:
            raise ValueError(
                f"expected pictures of shape (B, 3, {self.image_size}, {self.image_size}) "
                f"in [0, 1], got {tuple(images.shape)}"
            )
        x = images * 2.0 - 1.0
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)  # strides patch_size, 2 * patch_size, ...
        x = self.top(x)  # (B, W, H/deepest, W/deepest)
        for i, (lateral, smooth) in enumerate(zip(self.laterals, self.smooth, strict=True)):
            skip = skips[-2 - i]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = smooth(x + lateral(skip))  # (B, W, h, w) one level finer
        return F.normalize(self.embed(x), dim=1)  # (B, D, g, g)


class AudioNet(nn.Module):
    """1-D CNN over time: log-mel dB (B, n_mels, T) -> unit audio embedding (B, D).

    Each clip is scaled by its own peak ((dB - peak) / 40 + 1), so loudness does not matter;
    mean and max pooling over time make any length work.
    """

    def __init__(self, config: LocalizationConfig) -> None:
        super().__init__()
        self.n_mels = config.n_mels
        layers: list[nn.Module] = [nn.BatchNorm1d(config.n_mels)]
        c_in = config.n_mels
        for i, c_out in enumerate(config.audio_channels):
            if i > 0:
                layers.append(nn.MaxPool1d(2, ceil_mode=True))
            layers += [
                nn.Conv1d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Sequential(
            nn.Linear(2 * c_in, c_in), nn.ReLU(inplace=True), nn.Linear(c_in, config.embed_dim)
        )

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        if mels.dim() != 3 or mels.shape[1] != self.n_mels or mels.shape[2] < 1:
            raise ValueError(
                f"expected log-mel spectrograms of shape (B, {self.n_mels}, T), "
                f"got {tuple(mels.shape)}"
            )
        peak = mels.amax(dim=(1, 2), keepdim=True)
        x = self.cnn((mels - peak) / 40.0 + 1.0)  # (B, C, T')
        pooled = torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)  # (B, 2C)
        return F.normalize(self.project(pooled), dim=1)  # (B, D)


class AttentionNet(nn.Module):
    """Cosine similarity of a sound with every region -> softmax map -> attended visual vector."""

    def __init__(self, config: LocalizationConfig) -> None:
        super().__init__()
        self.log_attention_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / config.attention_temperature))
        )

    def forward(
        self, regions: torch.Tensor, sounds: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """regions (Bi, N, D), sounds (Ba, D) -> every picture with every sound:
        similarity (Bi, Ba, N), attention (Bi, Ba, N) summing to 1 over N, attended (Bi, Ba, D).
        """
        similarity = torch.einsum("ind,ad->ian", regions, sounds)  # (Bi, Ba, N) cosine
        scale = self.log_attention_scale.clamp(max=math.log(100.0)).exp()
        attention = torch.softmax(similarity * scale, dim=-1)
        attended = torch.bmm(attention, regions)  # (Bi, Ba, D)
        return similarity, attention, attended


@dataclass
class LocalizationOutput:
    """Matched pairs (picture b with sound b): similarity and attention (B, g, g);
    logits (B, B) of every picture against every sound; loss when asked for."""

    similarity: torch.Tensor
    attention: torch.Tensor
    logits: torch.Tensor
    loss: torch.Tensor | None = None


def symmetric_info_nce(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every picture over the sounds and of every sound over the pictures of
    a batch (B, B) whose matched pairs lie on the diagonal."""
    index = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, index) + F.cross_entropy(logits.t(), index))


class SoundLocalizer(PretrainedModel):
    """Where in the picture does the sound come from: :class:`VisualNet` + :class:`AudioNet` +
    :class:`AttentionNet`, trained with a symmetric InfoNCE over the batch."""

    config_class = LocalizationConfig

    def __init__(self, config: LocalizationConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = VisualNet(config)
        self.audio = AudioNet(config)
        self.attention = AttentionNet(config)
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / config.contrastive_temperature))
        )

    def scores(
        self, regions: torch.Tensor, sounds: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """regions (Bi, N, D), sounds (Ba, D) -> logits (Bi, Ba), similarity and attention
        (Bi, Ba, N): the attended vector of each picture for each sound, matched with it."""
        similarity, attention, attended = self.attention(regions, sounds)
        attended = F.normalize(attended, dim=-1)  # (Bi, Ba, D)
        scale = self.log_logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * (attended * sounds[None]).sum(-1)  # (Bi, Ba)
        return logits, similarity, attention

    def forward(
        self,
        images: torch.Tensor,
        mels: torch.Tensor,
        return_loss: bool = False,
        topk_regions: int = 0,
        topk_weight: float = 1.0,
    ) -> LocalizationOutput:
        """images (B, 3, H, W) in [0, 1] and log-mels (B, n_mels, T) of their sounds, in pairs.

        With ``return_loss`` the symmetric InfoNCE treats the other B - 1 sounds (pictures) of
        the batch as negatives for each picture (sound). ``topk_regions`` > 0 adds, with weight
        ``topk_weight``, the same InfoNCE on the mean similarity of each picture's k regions
        most similar to the sound: the attended vector is satisfied by an object's few most
        telling regions, while this term needs k of them to match, about an object's area.
        """
        if images.shape[0] != mels.shape[0]:
            raise ValueError(f"{images.shape[0]} pictures but {mels.shape[0]} sounds")
        grid = self.visual(images)  # (B, D, g, g)
        b, _, g, _ = grid.shape
        regions = grid.flatten(2).transpose(1, 2)  # (B, N, D)
        sounds = self.audio(mels)  # (B, D)
        logits, similarity, attention = self.scores(regions, sounds)
        index = torch.arange(b, device=images.device)
        matched_similarity = similarity[index, index].view(b, g, g)
        matched_attention = attention[index, index].view(b, g, g)
        loss = None
        if return_loss:
            loss = symmetric_info_nce(logits)
            if topk_regions > 0:
                k = min(topk_regions, similarity.shape[-1])
                scale = self.log_logit_scale.clamp(max=math.log(100.0)).exp()
                region_logits = scale * similarity.topk(k, dim=-1).values.mean(-1)  # (Bi, Ba)
                loss = loss + topk_weight * symmetric_info_nce(region_logits)
        return LocalizationOutput(matched_similarity, matched_attention, logits, loss)


BACKGROUND_QUANTILE = 0.8
"""The level of a picture's typical region: objects cover a small part of a scene, so most
regions are background. Measured on 300 validation scenes at the same threshold calibration,
cIoU@0.5 was 0.10 with the minimum as the floor and 0.19 with this quantile."""

FLAT_SPAN = 1e-3
"""Cosine differences below this are rounding noise, not a region that stands out."""


def smoothed_grid(similarity: torch.Tensor, smoothing: int = 1) -> torch.Tensor:
    """Grid similarities (B, g, g) -> (B, 1, g, g), each cell averaged with its neighbours in a
    smoothing x smoothing window shrunk at the border (1: unchanged): the map's cells as
    :func:`pixel_map` ranks them."""
    grid = similarity[:, None].float()
    if smoothing > 1:
        grid = F.avg_pool2d(grid, smoothing, 1, smoothing // 2, count_include_pad=False)
    return grid


def pixel_map(
    similarity: torch.Tensor, height: int, width: int, smoothing: int = 1
) -> torch.Tensor:
    """Grid similarities (B, g, g) -> maps (B, height, width) in [0, 1], peak 1.

    ``smoothing`` > 1 first averages each cell with its neighbours (a smoothing x smoothing
    window, shrunk at the border): a single warm cell on an object's edge then no longer
    outshines the object's middle, where its neighbours are warm too. Bilinear with
    ``align_corners=False``: each value sits at its cell's centre, which is where the visual
    net's aligned down steps put it. Each map is rescaled between its own
    ``BACKGROUND_QUANTILE`` level (0 and below) and its peak (1): the map says where the sound
    comes from *relative to the rest of the picture*, and a picture whose background is as warm
    as its objects is not lit all over. A flat map (no region stands out) becomes all zeros.
    """
    grid = smoothed_grid(similarity, smoothing)  # (B, 1, g, g)
    up = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    low = grid.flatten(1).quantile(BACKGROUND_QUANTILE, dim=1)[:, None, None]
    high = up.amax(dim=(1, 2), keepdim=True)
    return ((up - low) / (high - low).clamp_min(FLAT_SPAN)).clamp(0.0, 1.0)
