"""Tiny-config tests of the Sound of Pixels separator: shapes, masks, gradients, checkpoints."""

from __future__ import annotations

import pytest
import torch

from multimodal_core.models.sound_of_pixels import (
    SeparationConfig,
    SoundOfPixels,
    region_feature,
    warp_matrices,
)

TINY = SeparationConfig(n_fft=256, hop_length=64, n_bands=32, unet_channels=(4, 8),
                        components=4, visual_dim=8, visual_hidden=8)  # fmt: skip


def _model() -> SoundOfPixels:
    torch.manual_seed(0)
    return SoundOfPixels(TINY)


def test_logits_have_one_map_per_visual_vector_and_the_loss_has_gradients() -> None:
    model = _model()
    clips = torch.randn(2, 3, 4000) * 0.1
    spec = model.stft(clips)  # (2, 3, bins, T)
    out = model(spec.sum(1).abs(), torch.randn(2, 3, 8), spec.abs())
    assert out.logits.shape == (2, 3, TINY.n_bands, spec.shape[-1])
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad)  # fmt: skip


def test_separate_gives_masks_in_unit_range_and_waves_of_the_mixture_length() -> None:
    model = _model().eval()
    masks, waves = model.separate(torch.randn(5000) * 0.1, torch.randn(2, 8))
    assert masks.min() >= 0 and masks.max() <= 1
    assert waves.shape == (2, 5000)
    with pytest.raises(ValueError, match="silent"):
        model.separate(torch.zeros(5000), torch.randn(1, 8))


def test_a_full_mask_gives_the_mixture_back() -> None:
    model = _model()
    wave = torch.randn(4000) * 0.1
    spec = model.stft(wave)
    assert torch.allclose(model.istft(spec[None], 4000)[0], wave, atol=1e-4)
    assert torch.allclose(model.unwarped(torch.ones(TINY.n_bands, 3)), torch.ones(TINY.n_bins, 3))


def test_warp_rows_interpolate() -> None:
    forward, backward = warp_matrices(16000, 256, 32)
    assert forward.shape == (32, 129) and backward.shape == (129, 32)
    assert abs(forward.sum(1) - 1).max() < 1e-5 and abs(backward.sum(1) - 1).max() < 1e-5


def test_region_feature_is_unit_length_and_refuses_points_outside() -> None:
    grid = torch.randn(8, 4, 4)
    assert torch.isclose(region_feature(grid, 10, 20, 32, 32).norm(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="outside"):
        region_feature(grid, 32, 0, 32, 32)


def test_save_and_load_round_trip_strictly(tmp_path) -> None:
    model = _model().eval()
    model.save_pretrained(tmp_path)
    loaded = SoundOfPixels.from_pretrained(tmp_path)
    visual = torch.randn(1, 8)
    wave = torch.randn(3000) * 0.1
    assert torch.allclose(model.separate(wave, visual)[0], loaded.separate(wave, visual)[0],
                          atol=1e-2)  # fmt: skip
    state = loaded.state_dict()
    state["extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError):
        loaded.load_state_dict(state, strict=True)
