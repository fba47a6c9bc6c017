"""The pretrained voice-to-face route, offline: tiny random CLAP and Stable Diffusion pipelines of
the real classes (weights random: only the plumbing is tested), and the trait arithmetic."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from multimodal_core import hub
from multimodal_core.backends import shared
from multimodal_core.backends import voice_to_face as backend
from multimodal_core.errors import ModelUnavailableError

WORDS = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "a", "t", "h", "e", "s", "o", "u", "n", "d",
         "Ġ", "Ġthe", "Ġsound", "Ġof", "Ġa"]  # fmt: skip
CLIP_WORDS = ["<|startoftext|>", "<|endoftext|>", "a</w>", "p", "o", "r", "t", "i", "f", "m",
              "n</w>", "e", "s</w>"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random ClapModel with its processor, in a folder (as in the localization tests)."""
    import torch
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizer,
    )

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-clap")
    tokenizer = RobertaTokenizer(
        vocab={w: i for i, w in enumerate(WORDS)}, merges=[], model_max_length=32
    )
    features = ClapFeatureExtractor(
        feature_size=16, sampling_rate=48_000, hop_length=480, max_length_s=1,
        fft_window_size=256, truncation="rand_trunc",
    )  # fmt: skip
    text = dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=40, pad_token_id=2,
                bos_token_id=0, eos_token_id=1)  # fmt: skip
    sound = dict(spec_size=64, num_mel_bins=16, window_size=4, patch_size=4, patch_stride=4,
                 depths=[1, 1], num_heads=[1, 1], hidden_size=16, patch_embeds_hidden_size=8,
                 enable_fusion=False)  # fmt: skip
    ClapModel(ClapConfig(text_config=text, audio_config=sound, projection_dim=8)).save_pretrained(
        folder
    )
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_diffusion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random StableDiffusionPipeline from tiny UNet, VAE and CLIP parts, in a folder."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-sd")
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=16,
        attention_head_dim=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, layers_per_block=1, sample_size=16,
    )  # fmt: skip
    text = CLIPTextModel(
        CLIPTextConfig(vocab_size=len(CLIP_WORDS), hidden_size=16, intermediate_size=32,
                       num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                       bos_token_id=0, eos_token_id=1, pad_token_id=1)
    )  # fmt: skip
    tokenizer = CLIPTokenizer(
        vocab={w: i for i, w in enumerate(CLIP_WORDS)}, merges=[], model_max_length=77
    )
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip
    pipeline.save_pretrained(folder)
    return folder


def test_traits_combine_clap_and_pitch() -> None:
    pitch = backend.PitchTrack(np.zeros(3), np.full(3, 118.0, np.float32), 0.9, 118.0)
    clap = np.array([0.05, 0.05, 0.2, 0.5, 0.05, 0.1, 0.02, 0.02, 0.01])
    traits = backend.combine(clap, pitch)
    assert traits.best == ("adult", "male")
    assert sum(traits.joint.values()) == pytest.approx(1.0)
    assert sum(traits.age.values()) == pytest.approx(1.0)
    assert traits.speech_probability == pytest.approx(0.95)
    assert traits.confident
    # A high pitch alone says child or woman, never man.
    high = backend.combine(None, backend.PitchTrack(np.zeros(1), np.zeros(1), 0.9, 280.0))
    assert high.gender["female"] > 0.5 and high.age["child"] > high.age["older"]
    # Nothing to go on: uniform, and not confident.
    blank = backend.combine(None, None)
    assert not blank.confident and max(blank.joint.values()) == pytest.approx(1 / 6)
    # Music: CLAP's doubt that this is a voice makes it a low-confidence answer.
    music = backend.combine(np.array([0.02] * 6 + [0.8, 0.04, 0.04]), None)
    assert not music.confident


def test_prompt_is_neutral() -> None:
    for age, gender in backend.GROUPS:
        prompt = backend.neutral_prompt(age, gender)
        assert "portrait" in prompt and "neutral" in prompt
        for word in ("skin", "hair", "beautiful", "ethnic", "race"):
            assert word not in prompt


def test_pitch_track_on_a_world_voice() -> None:
    from multimodal_core.world.people import person

    p = person(20_000_001)  # an adult woman
    track = backend.pitch_track(p.voice(2.0, 16_000), 16_000)
    assert track.voiced_fraction > 0.5
    assert 150 < track.median_hz < 320


def test_pretrained_route_runs_on_tiny_models(
    tiny_clap: Path, tiny_diffusion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multimodal_core.backends.localization import load_clap
    from multimodal_core.backends.text_to_image import load_diffusion
    from multimodal_core.tasks import voice_to_face as task
    from multimodal_core.world.people import person

    clap = load_clap(str(tiny_clap)).to("cpu").eval()
    generator = load_diffusion(str(tiny_diffusion)).to("cpu").eval()
    models = {shared.CLAP.name: clap, shared.DIFFUSION.name: generator}
    real_get = hub.get
    monkeypatch.setattr(hub, "get", lambda name: models.get(name) or real_get(name))
    path = tmp_path / "voice.wav"
    sf.write(path, person(20_000_001).voice(2.0, 16_000), 16_000)
    result = task.voice_to_face(path, model="pretrained", seed=3)
    assert result.face.ndim == 3 and result.face.shape[2] == 3 and result.face.dtype == np.uint8
    assert result.prompt and "portrait" in result.prompt
    assert sum(result.age.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.details["sources"][0] == "CLAP zero-shot"
    assert "not the speaker's face" in task.describe(result)
    again = task.voice_to_face(path, model="pretrained", seed=3)
    assert np.array_equal(again.face, result.face)  # same voice, same seed: same portrait


def test_shared_specs_are_declared_once() -> None:
    from multimodal_core.tasks import voice_to_face as task

    hub_ = hub.default_hub()
    assert hub_.spec("clap") is shared.CLAP and hub_.spec("diffusion") is shared.DIFFUSION
    assert shared.CLAP.pretrained and shared.DIFFUSION.task == "shared"
    assert hub_.spec(task.BUILTIN).task == "voice_to_face"


def test_offline_diffusion_fails_fast_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from multimodal_core.backends.text_to_image import load_diffusion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        load_diffusion("stabilityai/sd-turbo")
    assert time.perf_counter() - start < 10
