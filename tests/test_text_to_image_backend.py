"""The diffusers adapter on a tiny random Stable Diffusion pipeline (plumbing, not quality):
built from small UNet/VAE/CLIP configs, saved to a folder, loaded offline like a Hub model.
Marked slow: importing diffusers and transformers alone takes several seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core.backends.text_to_image import licence_note, load_diffusion
from multimodal_core.errors import ModelUnavailableError
from multimodal_core.settings import get_settings


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=2, norm_num_groups=4,
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4,
        sample_size=16,
    )  # fmt: skip
    words = ["a", "dog", "on", "blue", "background", "cat"]
    vocab = {w + "</w>": i for i, w in enumerate(words)}
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        )
    )  # fmt: skip
    pipeline = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        scheduler=EulerDiscreteScheduler(timestep_spacing="trailing", steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip  # the safety checker is off in this test only
    folder = tmp_path_factory.mktemp("tiny_sd")
    pipeline.save_pretrained(folder)
    return folder


@pytest.mark.slow  # importing diffusers and transformers takes several seconds
def test_tiny_pipeline_draws_repeatable_pictures_with_progress(tiny_pipeline: Path) -> None:
    generator = load_diffusion(str(tiny_pipeline)).to("cpu").eval()
    steps_seen: list[tuple[int, int]] = []
    images = generator.generate(
        "a dog on a blue background",
        n=2,
        seed=3,
        steps=2,
        progress=lambda s, t: steps_seen.append((s, t)),
    )
    assert len(images) == 2
    for image in images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert steps_seen == [(1, 2), (2, 2)]
    again = generator.generate("a dog on a blue background", n=1, seed=4, steps=2)
    assert np.array_equal(again[0], images[1])  # picture i uses seed + i
    assert not np.array_equal(images[0], images[1])
    assert set(generator.components) >= {"unet", "vae", "text_encoder"}


@pytest.mark.slow
def test_offline_hub_id_fails_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        load_diffusion("stabilityai/sd-turbo")


def test_licence_note_names_the_licence() -> None:
    assert "MIT" in licence_note(get_settings().diffusion_model)  # the default is permissive
    assert "Community License" in licence_note("stabilityai/sd-turbo")
    assert "someone/model" in licence_note("someone/model")
