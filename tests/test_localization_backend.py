"""The zero-shot localization backend, offline: tiny random CLAP and CLIPSeg of the real classes.

Weights are random, so only the plumbing is tested (loading, tagging, maps, errors), not quality.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from multimodal_core import hub
from multimodal_core.backends import shared
from multimodal_core.backends.localization import (
    CLAP_SAMPLE_RATE,
    TAGS,
    ClapTagger,
    ClipSegmenter,
    load_clap,
    load_clipseg,
    localize_zero_shot,
)
from multimodal_core.errors import ModelUnavailableError

WORDS = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "a", "t", "h", "e", "s", "o", "u", "n", "d",
         "Ġ", "Ġthe", "Ġsound", "Ġof", "Ġa"]  # fmt: skip
CLIP_WORDS = ["<|startoftext|>", "<|endoftext|>", "a</w>", "p", "i", "n", "o</w>", "b", "r",
              "d</w>", "e", "s", "t", "m</w>"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Random ClapModel and CLIPSegForImageSegmentation with their processors, in folders."""
    import torch
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPTokenizer,
        RobertaTokenizer,
        ViTImageProcessor,
    )

    torch.manual_seed(0)
    clap_dir = tmp_path_factory.mktemp("tiny-clap")
    tokenizer = RobertaTokenizer(
        vocab={w: i for i, w in enumerate(WORDS)}, merges=[], model_max_length=32
    )
    features = ClapFeatureExtractor(
        feature_size=16, sampling_rate=CLAP_SAMPLE_RATE, hop_length=480, max_length_s=1,
        fft_window_size=256, truncation="rand_trunc",
    )  # fmt: skip
    text = dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=40, pad_token_id=2,
                bos_token_id=0, eos_token_id=1)  # fmt: skip
    sound = dict(spec_size=64, num_mel_bins=16, window_size=4, patch_size=4, patch_stride=4,
                 depths=[1, 1], num_heads=[1, 1], hidden_size=16, patch_embeds_hidden_size=8,
                 enable_fusion=False)  # fmt: skip
    ClapModel(ClapConfig(text_config=text, audio_config=sound, projection_dim=8)).save_pretrained(
        clap_dir
    )
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(clap_dir)

    seg_dir = tmp_path_factory.mktemp("tiny-clipseg")
    clip_tokenizer = CLIPTokenizer(
        vocab={w: i for i, w in enumerate(CLIP_WORDS)}, merges=[], model_max_length=77
    )
    images = ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    text = dict(vocab_size=len(CLIP_WORDS), hidden_size=16, intermediate_size=32,
                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                bos_token_id=0, eos_token_id=1)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                  num_attention_heads=2, image_size=32, patch_size=8)  # fmt: skip
    config = CLIPSegConfig(
        text_config=text, vision_config=vision, projection_dim=8, extract_layers=[1],
        reduce_dim=8, decoder_num_attention_heads=2, decoder_intermediate_size=16,
    )  # fmt: skip
    CLIPSegForImageSegmentation(config).save_pretrained(seg_dir)
    CLIPSegProcessor(image_processor=images, tokenizer=clip_tokenizer).save_pretrained(seg_dir)
    return clap_dir, seg_dir


def test_zero_shot_localization_runs_on_tiny_models(tiny_models: tuple[Path, Path]) -> None:
    clap_dir, seg_dir = tiny_models
    tagger = load_clap(str(clap_dir)).to("cpu").eval()
    segmenter = load_clipseg(str(seg_dir)).to("cpu").eval()
    assert isinstance(tagger, ClapTagger) and isinstance(segmenter, ClipSegmenter)
    rng = np.random.default_rng(0)
    image = rng.random((48, 80, 3), dtype=np.float32)
    samples = (0.1 * rng.standard_normal(CLAP_SAMPLE_RATE * 2)).astype(np.float32)
    result = localize_zero_shot(tagger, segmenter, image, samples)
    assert result.heat.shape == (48, 80)
    assert result.heat.min() >= 0.0 and result.heat.max() <= 1.0
    assert result.tag in {t.name for t in TAGS}
    assert len(result.tags) == len(TAGS)
    assert sum(p for _, p in result.tags) == pytest.approx(1.0, abs=1e-4)
    assert result.tags[0] == (result.tag, pytest.approx(result.probability))
    # A short clip (shorter than CLAP's window) works too, and the prompts are cached.
    again = localize_zero_shot(tagger, segmenter, image, samples[:4800])
    assert again.heat.shape == (48, 80)
    assert len(tagger._text_cache) == 1


def test_offline_missing_model_fails_fast_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    for load, name in ((load_clap, "laion/clap-htsat-unfused"), (load_clipseg, "CIDAS/clipseg")):
        start = time.perf_counter()
        with pytest.raises(ModelUnavailableError) as error:
            load(name)
        assert time.perf_counter() - start < 10
        message = str(error.value)
        assert name in message and "cannot be reached" in message
        assert "Traceback" not in message and "\n" not in message


def test_clap_is_one_shared_spec() -> None:
    """Both tabs that use CLAP register the same spec: registering it twice changes nothing."""
    local = hub.Hub("cpu")
    local.register(shared.CLAP)
    local.register(shared.CLAP)
    assert local.spec("clap") is shared.CLAP and shared.CLAP.pretrained
