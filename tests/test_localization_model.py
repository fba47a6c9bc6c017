"""Tiny-config tests of the sound-source localization model (Senocak et al. 2018)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from multimodal_core.models.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from multimodal_core.models.localization import LocalizationConfig, SoundLocalizer, pixel_map


def tiny_config(**overrides) -> LocalizationConfig:
    values = dict(
        image_size=32,
        patch_size=2,
        visual_channels=(4, 8, 8),
        decoder_channels=8,
        output_stride=2,
        embed_dim=8,
        n_mels=16,
        audio_channels=(8, 8),
    )
    values.update(overrides)
    return LocalizationConfig(**values)


def inputs(config: LocalizationConfig, batch: int = 3, frames: int = 20):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, config.image_size, config.image_size, generator=generator)
    mels = torch.randn(batch, config.n_mels, frames, generator=generator) * 10 - 40
    return images, mels


def test_shapes_and_map_normalisation() -> None:
    config = tiny_config()
    model = SoundLocalizer(config).eval()
    images, mels = inputs(config)
    out = model(images, mels, return_loss=True)
    g = config.grid_size
    assert g == 16
    assert out.similarity.shape == (3, g, g)
    assert out.attention.shape == (3, g, g)
    assert out.logits.shape == (3, 3)
    assert out.loss is not None and out.loss.ndim == 0
    for tensor in (out.similarity, out.attention, out.logits, out.loss):
        assert torch.isfinite(tensor).all()
    # The attention map sums to 1 over the grid; similarities are cosines.
    torch.testing.assert_close(out.attention.sum(dim=(1, 2)), torch.ones(3))
    assert out.similarity.abs().max() <= 1.0 + 1e-5
    # The pixel map has the picture's shape, lies in [0, 1] and peaks at 1.
    heat = pixel_map(out.similarity, config.image_size, config.image_size)
    assert heat.shape == (3, config.image_size, config.image_size)
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    torch.testing.assert_close(heat.amax(dim=(1, 2)), torch.ones(3))


def test_pixel_map_puts_a_warm_background_at_zero_and_a_flat_map_at_zero() -> None:
    grid = torch.full((1, 8, 8), 0.6)  # a warm background...
    grid[0, 0, 0] = -0.5  # ...one cold corner (the minimum would lift the background to 0.7)
    grid[0, 4:6, 4:6] = 0.9  # and the sounding object
    heat = pixel_map(grid, 64, 64)[0]
    assert heat[8:24, 8:24].max() < 1e-5  # background regions are not lit
    assert heat[36:44, 36:44].min() > 0.9
    assert pixel_map(torch.full((2, 8, 8), 0.3), 64, 64).abs().max() < 1e-3  # invisible


def test_map_smoothing_moves_the_peak_from_a_lone_warm_cell_to_the_warm_block() -> None:
    grid = torch.zeros((1, 8, 8))
    grid[0, 4:7, 4:7] = 0.7  # the sounding object: a block of warm cells
    grid[0, 1, 1] = 1.0  # one warmer cell on its own
    sharp, smooth = pixel_map(grid, 64, 64)[0], pixel_map(grid, 64, 64, smoothing=3)[0]
    peak = divmod(int(sharp.argmax()), 64)
    assert 8 <= peak[0] < 16 and 8 <= peak[1] < 16  # unsmoothed: the lone cell wins
    peak = divmod(int(smooth.argmax()), 64)
    assert 40 <= peak[0] < 48 and 40 <= peak[1] < 48  # the block's middle cell
    assert smooth.max() == 1.0 and smooth[:4, 60:].max() == 0.0  # still [0, 1], cold corner
    torch.testing.assert_close(pixel_map(grid, 64, 64, smoothing=1)[0], sharp)


def test_any_clip_length_and_no_loss_by_default() -> None:
    config = tiny_config()
    model = SoundLocalizer(config).eval()
    images, _ = inputs(config, batch=2)
    for frames in (1, 7, 500):
        out = model(images, torch.randn(2, config.n_mels, frames))
        assert out.loss is None and out.similarity.shape == (2, 16, 16)


def test_gradients_reach_every_parameter() -> None:
    config = tiny_config()
    model = SoundLocalizer(config).train()
    images, mels = inputs(config, batch=4)
    model(images, mels, return_loss=True).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reached {missing}"


def test_topk_term_is_info_nce_on_the_mean_of_each_pairs_k_best_regions() -> None:
    config = tiny_config()
    model = SoundLocalizer(config).eval()
    images, mels = inputs(config, batch=3)
    base = model(images, mels, return_loss=True).loss
    with_topk = model(images, mels, True, topk_regions=5, topk_weight=0.5).loss
    regions = model.visual(images).flatten(2).transpose(1, 2)  # (B, N, D)
    similarity = torch.einsum("ind,ad->ian", regions, model.audio(mels))  # picture x sound
    logits = similarity.sort(dim=-1, descending=True).values[..., :5].mean(-1)
    logits = logits * model.log_logit_scale.exp()
    truth = torch.arange(3)
    term = 0.5 * (F.cross_entropy(logits, truth) + F.cross_entropy(logits.t(), truth))
    torch.testing.assert_close(with_topk, base + 0.5 * term)
    # k beyond the grid means every region, not an error
    assert torch.isfinite(model(images, mels, True, topk_regions=10**6).loss)


def test_default_config_grid() -> None:
    config = LocalizationConfig()
    assert config.grid_size == 32  # 128 px at stride 4
    model = SoundLocalizer(config).eval()
    out = model(torch.rand(1, 3, 128, 128), torch.randn(1, 64, 201))
    assert out.similarity.shape == (1, 32, 32)


def test_grid_cells_are_aligned_with_pixels() -> None:
    """With every weight positive the visual net is a blur: the pixels that move one grid
    cell the most must be centred where align_corners=False puts that cell's centre."""
    config = tiny_config(image_size=128)  # receptive fields stay clear of the border
    net = SoundLocalizer(config).visual.eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.fill_(0.05)
    captured = []
    net.embed.register_forward_hook(lambda module, args, out: captured.append(out))
    image = torch.full((1, 3, 128, 128), 0.8, requires_grad=True)  # > 0.5: ReLUs open
    net(image)
    stride, row, col = config.output_stride, 31, 28
    captured[0][0, 0, row, col].backward()  # before the unit normalisation (scale-free)
    weight = image.grad[0].abs().sum(0)  # (H, W)
    assert weight[0].sum() == 0 and weight[:, 0].sum() == 0  # the border is out of reach
    ys, xs = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    centre_y = float((weight * (ys + 0.5)).sum() / weight.sum())  # continuous coordinates
    centre_x = float((weight * (xs + 0.5)).sum() / weight.sum())
    assert centre_y == pytest.approx((row + 0.5) * stride, abs=0.05)
    assert centre_x == pytest.approx((col + 0.5) * stride, abs=0.05)


def test_save_load_round_trip(tmp_path) -> None:
    config = tiny_config(map_threshold=0.4, confident_similarity=0.2)
    model = SoundLocalizer(config).eval()
    images, mels = inputs(config)
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    loaded = SoundLocalizer.from_pretrained(tmp_path)
    assert not loaded.training
    assert loaded.config == config
    with torch.no_grad():
        a, b = model(images, mels), loaded(images, mels)
    torch.testing.assert_close(a.similarity, b.similarity)
    torch.testing.assert_close(a.logits, b.logits)


def test_load_is_strict(tmp_path) -> None:
    SoundLocalizer(tiny_config()).save_pretrained(tmp_path)
    values = json.loads((tmp_path / CONFIG_NAME).read_text())
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**values, "surprise": 1}))
    with pytest.raises(ValueError, match="surprise"):
        SoundLocalizer.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**values, "embed_dim": 4}))
    with pytest.raises(RuntimeError):
        SoundLocalizer.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "bad",
    [
        {"output_stride": 3},
        {"output_stride": 16},
        {"image_size": 30},
        {"patch_size": 3},
        {"map_threshold": 1.0},
        {"map_smoothing": 2},
        {"map_smoothing": 0},
        {"visual_channels": (4,)},
        {"audio_channels": ()},
    ],
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        tiny_config(**bad)


def test_wrong_inputs_get_clear_errors() -> None:
    config = tiny_config()
    model = SoundLocalizer(config).eval()
    images, mels = inputs(config)
    with pytest.raises(ValueError, match="pictures of shape"):
        model(images[:, :, :16], mels)
    with pytest.raises(ValueError, match="log-mel"):
        model(images, mels[:, :4])
    with pytest.raises(ValueError, match="3 pictures but 2 sounds"):
        model(images, mels[:2])
