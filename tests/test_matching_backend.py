"""The pretrained CLIP backend of the Search tab, offline: a tiny random CLIPModel of the real
class with its processor, saved to a folder. Weights are random, so only the plumbing is tested
(loading, unit embeddings, search over the world gallery and uploads, zero-shot probabilities,
errors), not quality."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core import hub
from multimodal_core.backends import loading
from multimodal_core.backends.matching import ClipSpace, load_clip
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.settings import get_settings
from multimodal_core.tasks import matching

REPO = Path(__file__).resolve().parent.parent
SCENE = REPO / "examples" / "matching" / "scene_000.png"
CLIP_WORDS = ["<|startoftext|>", "<|endoftext|>", "a</w>", "c", "a", "t</w>", "d", "o", "g</w>",
              "r</w>", "b", "l", "u", "e</w>", "n", "k", "y</w>"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIPModel (16-d, one layer, 32 px) with its processor, in a folder."""
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    torch.manual_seed(0)
    text = dict(vocab_size=len(CLIP_WORDS), hidden_size=16, intermediate_size=32,
                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                bos_token_id=0, eos_token_id=1, pad_token_id=1)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=8)  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(
        folder
    )
    tokenizer = CLIPTokenizer(
        vocab={w: i for i, w in enumerate(CLIP_WORDS)}, merges=[], model_max_length=77
    )
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture()
def served(tiny_clip: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tab's CLIP choice served from the tiny model."""
    monkeypatch.setenv("MMC_CLIP_MODEL", str(tiny_clip))
    get_settings.cache_clear()
    hub.default_hub().unload(matching.CLIP)
    yield
    hub.default_hub().unload(matching.CLIP)
    monkeypatch.delenv("MMC_CLIP_MODEL")
    get_settings.cache_clear()


def test_clip_embeds_pictures_and_texts_as_unit_vectors(tiny_clip: Path) -> None:
    clip = load_clip(str(tiny_clip)).to("cpu").eval()
    assert isinstance(clip, ClipSpace) and not clip.model.training
    rng = np.random.default_rng(0)
    pictures = [rng.random((48, 80, 3), dtype=np.float32), (rng.random((20, 20, 3)) * 255).astype(
        np.uint8)] * 20  # fmt: skip
    images = clip.embed_pictures(pictures)  # 40: two batches
    texts = clip.embed_texts(["a cat", "a dog on a blue background", "a"])
    assert images.shape == (40, 8) and texts.shape == (3, 8)
    assert torch.allclose(images.norm(dim=1), torch.ones(40), atol=1e-5)
    assert torch.allclose(texts.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(images[0], images[2], atol=1e-5)  # the same picture, another batch
    assert clip.embed_pictures([]).shape == (0, 8)
    assert 0.0 < clip.logit_scale <= 100.0


def test_the_clip_choice_searches_the_world_and_uploads(served: None) -> None:
    result = matching.search_text("a dog on a blue background", model="clip", picture=False)
    assert result.model == "clip" and len(result.hits) == matching.TOP_K
    assert result.in_world is None and not result.tags  # no world check, no world tags
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    again = matching.search_picture(SCENE, "dog", "cat", model="clip", picture=False)
    assert again.by == "arithmetic" and again.in_world is None
    alone = matching.search_picture(SCENE, model="clip", picture=False)
    assert alone.hits[0].name == SCENE.name  # itself, at cosine 1
    gallery = matching.load_gallery([SCENE, SCENE.with_name("scene_001.png")])
    mine = matching.search_text("qqqzx blorp", gallery, model="clip", picture=False)
    assert len(mine.hits) == 2 and not mine.notes  # CLIP's tokenizer reads any word


def test_zero_shot_probabilities_sum_to_one(served: None) -> None:
    result = matching.classify(SCENE, "a cat, a dog, a car, a dog", model="clip")
    assert [label for label, _ in result.labels] != [] and len(result.labels) == 3
    assert sum(p for _, p in result.labels) == pytest.approx(1.0, abs=1e-5)
    assert result.labels == sorted(result.labels, key=lambda lp: -lp[1])
    assert result.to_dict()["model"] == "clip"
    with pytest.raises(InputError, match="at least two labels"):
        matching.classify(SCENE, "a cat", model="clip")
    with pytest.raises(InputError, match="at most"):
        matching.classify(
            SCENE,
            ", ".join(f"thing {chr(97 + i % 26) * (1 + i // 26)}" for i in range(30)),
            model="clip",
        )
    with pytest.raises(InputError, match="type the labels"):
        matching.tag_picture(SCENE, model="clip")


def test_the_built_in_model_classifies_in_its_own_words() -> None:
    if not (REPO / "checkpoints" / "matching" / "model.safetensors").is_file():
        pytest.skip("the shipped joint space is not in checkpoints/")
    result = matching.classify(SCENE, "a dog, a cat, a piano", model="builtin")
    assert result.labels[0][0] == "a dog" and result.in_world is True


def test_offline_and_uncached_fails_fast_with_one_sentence(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=2.0: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="cannot be reached") as error:
        load_clip("openai/clip-vit-base-patch32")
    assert time.perf_counter() - start < 10.0
    assert "\n" not in str(error.value)
