"""Sound separation conditioned on a picture region: the audio net and synthesizer of Sound of
Pixels (Zhao et al. 2018, "The Sound of Pixels", arXiv:1804.03160).

Mix and separate: the soundtracks of several sources are summed; an audio U-Net reads the
mixture's log-magnitude spectrogram on a warped frequency axis and gives ``K`` component maps;
each source's visual vector weighs them (a dot product over the K channels plus a bias, the
paper's synthesizer) into that source's mask logit. The mask times the mixture's magnitude,
with the mixture's phase, is the separated sound. Only "this soundtrack belongs to this
picture" trains it: the targets are the sources' own share of the mixture.

What differs from the paper, and why:
- The visual vector is not learned here: it is the frozen localization model's region embedding
  (``checkpoints/localization``, 64-d, unit length) at a point of the picture, averaged over a
  small window of its grid (:func:`region_feature`); a small MLP maps it to the K weights and
  the bias. The region embeddings were trained to match sounds, so they already say what a
  region sounds like; nothing that needs labels was added.
- The frequency axis is warped onto mel-spaced points by linear interpolation (the paper warps
  onto log-spaced ones): mel spacing near 0 Hz is about one STFT bin, so the low end is not
  stretched over many rows as a pure log warp would.
- The mask target is the ratio mask ``|S_i| / sum_j |S_j|`` (the paper trained a binary one
  and also reports ratio masks), with its weighted binary cross-entropy: weights
  ``log(1 + |mixture|)`` clamped to [1e-3, 10] as in the paper's code.
- The U-Net is smaller (4 levels, 16-128 channels) to train in an hour on one CPU thread.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel

MAGNITUDE_FLOOR = 1e-4  # added before the log: about -80 dB below a loud bin
LEVEL_RMS = 0.1  # a mixture is scaled to this RMS before its spectrogram (the mask is scale-free)
SILENT_RMS = 1e-5  # a mixture quieter than this has no spectrogram worth separating
WEIGHT_RANGE = (1e-3, 10.0)  # the paper's clamp of the loss weights log(1 + |mixture|)


@dataclass
class SeparationConfig(ConfigMixin):
    """Hyperparameters of :class:`SoundOfPixels`.

    Args:
        sample_rate (int, defaults to 16000): the rate the model hears and returns.
        n_fft (int, defaults to 1024): STFT window (64 ms: harmonics of low voices resolved).
        hop_length (int, defaults to 256): STFT hop (16 ms).
        n_bands (int, defaults to 128): rows of the warped (mel-spaced) frequency axis.
        unet_channels (tuple[int, ...], defaults to (16, 32, 64, 128)): channels of the U-Net's
            levels; each later level halves time and frequency.
        components (int, defaults to 32): the K component maps the visual vector weighs.
        visual_dim (int, defaults to 64): size of the visual vector (the localization model's
            region embedding).
        visual_hidden (int, defaults to 128): width of the MLP from the visual vector to the
            K weights and the bias.
        visual_checkpoint (str, defaults to ""): SHA-256 of the localization weights whose region
            embeddings trained this model; another localization checkpoint gives other vectors.
        region_window (int, defaults to 3): side, in grid cells, of the window a point's region
            embeddings are averaged over.
    """

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 256
    n_bands: int = 128
    unet_channels: tuple[int, ...] = (16, 32, 64, 128)
    components: int = 32  # the paper's K
    visual_dim: int = 64  # the localization model's embed_dim
    visual_hidden: int = 128
    visual_checkpoint: str = ""
    region_window: int = 3

    def __post_init__(self) -> None:
        self.unet_channels = tuple(int(c) for c in self.unet_channels)  # JSON gives lists
        if len(self.unet_channels) < 2 or any(c <= 0 for c in self.unet_channels):
            raise ValueError(f"unet_channels needs 2+ positive sizes, got {self.unet_channels}")
        for name in ("sample_rate", "n_fft", "hop_length", "components", "visual_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.visual_hidden <= 0:
            raise ValueError(f"visual_hidden must be positive, got {self.visual_hidden}")
        if self.hop_length > self.n_fft:
            raise ValueError("hop_length larger than n_fft would skip samples")
        if self.n_bands % self.stride or self.n_bands < self.stride:
            raise ValueError(f"n_bands ({self.n_bands}) must be a multiple of {self.stride}")
        if self.region_window < 1 or self.region_window % 2 == 0:
            raise ValueError(f"region_window must be odd and positive, got {self.region_window}")

    @property
    def stride(self) -> int:
        """How much the deepest U-Net level has shrunk time and frequency."""
        return 2 ** (len(self.unet_channels) - 1)

    @property
    def n_bins(self) -> int:
        """Rows of the linear STFT."""
        return self.n_fft // 2 + 1


def warp_matrices(sample_rate: int, n_fft: int, n_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation onto ``n_bands`` mel-spaced frequencies (n_bands, n_bins), and back
    from them onto the STFT's bins (n_bins, n_bands)."""
    n_bins = n_fft // 2 + 1
    nyquist = sample_rate / 2
    mel_top = 2595.0 * math.log10(1.0 + nyquist / 700.0)
    bands_hz = 700.0 * (10 ** (np.linspace(0.0, mel_top, n_bands) / 2595.0) - 1.0)
    bins_hz = np.linspace(0.0, nyquist, n_bins)
    eye_bins, eye_bands = np.eye(n_bins), np.eye(n_bands)
    forward = np.stack([np.interp(bands_hz, bins_hz, row) for row in eye_bins], axis=1)
    backward = np.stack([np.interp(bins_hz, bands_hz, row) for row in eye_bands], axis=1)
    return forward.astype(np.float32), backward.astype(np.float32)


def region_feature(
    grid: torch.Tensor, x: float, y: float, width: int, height: int, window: int = 3
) -> torch.Tensor:
    """The unit visual vector (D,) at pixel (x, y) of a ``width`` x ``height`` picture: the
    mean of the region embeddings (D, g, g) over the ``window`` x ``window`` cells around the
    pixel's cell (shrunk at the border), normalised."""
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"pixel ({x}, {y}) lies outside a {width} x {height} picture")
    g_h, g_w = grid.shape[-2:]
    row, col = int(y * g_h / height), int(x * g_w / width)
    half = window // 2
    patch = grid[:, max(0, row - half) : row + half + 1, max(0, col - half) : col + half + 1]
    return F.normalize(patch.float().mean(dim=(1, 2)), dim=0)


def weights_fingerprint(folder: str | os.PathLike) -> str:
    """SHA-256 of a checkpoint folder's weights: which localization model gave the vectors."""
    return hashlib.sha256((Path(folder) / "model.safetensors").read_bytes()).hexdigest()


def check_visual_checkpoint(config: SeparationConfig, folder: str | os.PathLike) -> None:
    """ValueError unless ``folder`` holds the localization weights this model was trained on:
    another localization model's region vectors mean other things."""
    if config.visual_checkpoint and weights_fingerprint(folder) != config.visual_checkpoint:
        raise ValueError(
            f"{folder} is not the localization model this separator was trained with; "
            "retrain the separator (python -m multimodal_core.train.separation)"
        )


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class AudioUNet(nn.Module):
    """Log-magnitude (B, 1, bands, T) -> K component maps (B, K, bands, T).

    Each level: a 3 x 3 conv (a 2 x 2 max-pool before every level but the first); up: nearest
    x2, concatenation with the skip of the same level, a 3 x 3 conv; a 1 x 1 conv to K.
    T must be a multiple of ``config.stride`` (:meth:`SoundOfPixels.components` pads it).
    """

    def __init__(self, config: SeparationConfig) -> None:
        super().__init__()
        channels = config.unet_channels
        self.normalise = nn.BatchNorm2d(1)
        self.down = nn.ModuleList(
            [_conv_bn_relu(1, channels[0])]
            + [_conv_bn_relu(a, b) for a, b in itertools.pairwise(channels)]
        )
        self.up = nn.ModuleList(
            _conv_bn_relu(channels[i + 1] + channels[i], channels[i])
            for i in reversed(range(len(channels) - 1))
        )
        self.out = nn.Conv2d(channels[0], config.components, 1)

    def forward(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        x = self.normalise(log_magnitude)
        skips = []
        for i, level in enumerate(self.down):
            x = level(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for up, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = up(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], dim=1))
        return self.out(x)


@dataclass
class SeparationOutput:
    """Mask logits (B, N, bands, T) on the warped axis for N visual vectors; loss when asked."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class SoundOfPixels(PretrainedModel):
    """:class:`AudioUNet` + the synthesizer: a visual vector picks its sound from a mixture."""

    config_class = SeparationConfig

    def __init__(self, config: SeparationConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = AudioUNet(config)
        self.synthesizer = nn.Sequential(
            nn.Linear(config.visual_dim, config.visual_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.visual_hidden, config.components + 1),
        )
        forward, backward = warp_matrices(config.sample_rate, config.n_fft, config.n_bands)
        self.register_buffer("warp", torch.from_numpy(forward), persistent=False)
        self.register_buffer("unwarp", torch.from_numpy(backward), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    # ----- signal -> spectrogram -> signal ----------------------------------------------------

    def stft(self, waves: torch.Tensor) -> torch.Tensor:
        """Waveforms (..., samples) -> complex STFT (..., n_bins, frames)."""
        shape = waves.shape[:-1]
        spec = torch.stft(
            waves.reshape(-1, waves.shape[-1]).float(),
            self.config.n_fft,
            self.config.hop_length,
            window=self.window,
            return_complex=True,
        )
        return spec.reshape(*shape, *spec.shape[-2:])

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Complex STFT (B, n_bins, frames) -> waveforms (B, length)."""
        return torch.istft(
            spec, self.config.n_fft, self.config.hop_length, window=self.window, length=length
        )

    def warped(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Linear magnitudes (..., n_bins, T) -> warped (..., bands, T)."""
        return torch.einsum("mf,...ft->...mt", self.warp, magnitude)

    def unwarped(self, mask: torch.Tensor) -> torch.Tensor:
        """Warped masks (..., bands, T) -> masks on the STFT's bins (..., n_bins, T)."""
        return torch.einsum("fm,...mt->...ft", self.unwarp, mask)

    # ----- the network ------------------------------------------------------------------------

    def components(self, mixture_magnitude: torch.Tensor) -> torch.Tensor:
        """Linear mixture magnitudes (B, n_bins, T) -> component maps (B, K, bands, T): the
        warped log-magnitude through the U-Net, time padded to a multiple of its stride."""
        frames = mixture_magnitude.shape[-1]
        pad = -frames % self.config.stride
        log_mag = torch.log(self.warped(mixture_magnitude) + MAGNITUDE_FLOOR)
        log_mag = F.pad(log_mag, (0, pad), value=math.log(MAGNITUDE_FLOOR))
        return self.unet(log_mag[:, None])[..., :frames]

    def synthesize(self, components: torch.Tensor, visuals: torch.Tensor) -> torch.Tensor:
        """Components (B, K, bands, T) and visual vectors (B, N, D) -> logits (B, N, bands, T):
        each vector's K weights and bias, a dot product over the K channels."""
        if visuals.dim() != 3 or visuals.shape[-1] != self.config.visual_dim:
            raise ValueError(
                f"expected visual vectors (B, N, {self.config.visual_dim}), "
                f"got {tuple(visuals.shape)}"
            )
        weights = self.synthesizer(visuals)  # (B, N, K + 1)
        logits = torch.einsum("bnk,bkmt->bnmt", weights[..., :-1], components)
        return logits + weights[..., -1, None, None]

    def forward(
        self,
        mixture_magnitude: torch.Tensor,
        visuals: torch.Tensor,
        source_magnitudes: torch.Tensor | None = None,
    ) -> SeparationOutput:
        """Mixture magnitudes (B, n_bins, T), visual vectors (B, N, D) -> mask logits for each
        vector; with the sources' magnitudes (B, N, n_bins, T), the weighted BCE against their
        ratio masks (each source's share of the sum of the sources' magnitudes)."""
        if mixture_magnitude.dim() != 3 or mixture_magnitude.shape[1] != self.config.n_bins:
            raise ValueError(
                f"expected magnitudes (B, {self.config.n_bins}, T), "
                f"got {tuple(mixture_magnitude.shape)}"
            )
        if visuals.shape[0] != mixture_magnitude.shape[0]:
            raise ValueError(f"{mixture_magnitude.shape[0]} mixtures but {visuals.shape[0]} rows")
        logits = self.synthesize(self.components(mixture_magnitude), visuals)
        loss = None
        if source_magnitudes is not None:
            sources = self.warped(source_magnitudes)  # (B, N, bands, T)
            target = sources / sources.sum(dim=1, keepdim=True).clamp_min(1e-8)
            weight = torch.log1p(self.warped(mixture_magnitude)).clamp(*WEIGHT_RANGE)
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            loss = (bce * weight[:, None]).mean()
        return SeparationOutput(logits, loss)

    @torch.no_grad()
    def separate(
        self, mixture: torch.Tensor, visuals: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One mixture (samples,) and N visual vectors (N, D) -> masks on the STFT's bins
        (N, n_bins, frames) in [0, 1] and the separated waveforms (N, samples): each mask times
        the mixture's STFT (its phase kept), inverted. The mixture's level is restored."""
        rms = mixture.float().square().mean().sqrt()
        if not torch.isfinite(rms) or rms < SILENT_RMS:
            raise ValueError("the mixture is silent")
        scaled = mixture.float() * (LEVEL_RMS / rms)
        spec = self.stft(scaled)  # (n_bins, frames)
        logits = self(spec.abs()[None], visuals[None]).logits[0]  # (N, bands, frames)
        masks = self.unwarped(torch.sigmoid(logits)).clamp(0.0, 1.0)
        waves = self.istft(masks * spec[None], mixture.shape[-1]) * (rms / LEVEL_RMS)
        return masks, waves
