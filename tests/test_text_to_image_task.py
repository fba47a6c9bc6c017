"""The text-to-image task, CLI and evaluation helpers on a tiny random GAN (plumbing, not quality).

The sentence encoder is replaced by a deterministic stand-in so these tests need neither
transformers nor MiniLM; the real encoder is exercised by the slow test at the end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core import hub, viz
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.text_gan import TextGAN, TextGANConfig
from multimodal_core.models.vqa import VOCAB_NAME, QuestionVocabulary
from multimodal_core.settings import get_settings
from multimodal_core.tasks import text_to_image

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "text_to_image"


def fake_embed(texts: list[str]) -> torch.Tensor:
    """A unit vector per text, fixed by its hash: same text, same vector."""
    rows = []
    for t in texts:
        seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
        rows.append(torch.randn(384, generator=torch.Generator().manual_seed(seed)))
    return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


@pytest.fixture()
def tiny_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A random 16 px GAN saved as the built-in checkpoint (an early one), default hub."""
    torch.manual_seed(0)
    config = TextGANConfig(
        cond_dim=8, z_dim=8, image_size=16, g_base=16, g_channels=(8, 4), g_refine_blocks=1,
        d_channels=(4, 8),
    )  # fmt: skip
    folder = tmp_path / "checkpoints" / "text_to_image"
    TextGAN(config).eval().save_pretrained(folder)
    record = {"minutes": 9.5, "object_acc": 0.02, "color_acc": 0.6}
    (folder / "training.json").write_text(json.dumps(record))
    shutil.copy(SHIPPED / VOCAB_NAME, folder / VOCAB_NAME)  # the words of the world's captions
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(text_to_image, "_embed", fake_embed)
    get_settings.cache_clear()
    hub.default_hub().unload(text_to_image.BUILTIN)
    yield folder
    hub.default_hub().unload(text_to_image.BUILTIN)
    monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
    get_settings.cache_clear()


def test_same_seed_same_pictures_other_seed_other_pictures(tiny_checkpoint: Path) -> None:
    result = text_to_image.generate_images("a dog on a blue background", n=3, seed=5)
    assert result.seeds == [5, 6, 7] and len(result.images) == 3
    for image in result.images:
        assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    again = text_to_image.generate_images("  a dog  on a blue background ", n=2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(result.images, again.images, strict=False))
    shifted = text_to_image.generate_images("a dog on a blue background", n=1, seed=6)
    assert np.array_equal(shifted.images[0], result.images[1])  # picture i uses seed + i
    assert not np.array_equal(result.images[0], result.images[1])
    assert "early checkpoint" in result.note and "60%" in result.note
    assert result.to_dict()["size"] == [16, 16]
    assert result.to_dict()["words_used"] == ["a", "dog", "on", "blue", "background"]
    assert result.to_dict()["words_ignored"] == [] and result.to_dict()["word_mappings"] == []


def test_words_it_does_not_know_are_listed_and_a_prompt_without_any_is_refused(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown words are read as a known noun when the encoder puts them close to one ("pooch",
    made to embed as the synonym "puppy", reads as "dog"), else ignored; with no object or
    background left there is nothing for the GAN to draw but blobs, and it says so instead."""

    def embed(texts: list[str]) -> torch.Tensor:
        return fake_embed(["puppy" if t == "pooch" else t for t in texts])

    monkeypatch.setattr(text_to_image, "_embed", embed)
    result = text_to_image.generate_images("A pooch on a blorp background", n=1)
    words = result.to_dict()
    assert words["words_used"] == ["a", "pooch", "on", "background"]
    assert words["words_ignored"] == ["blorp"]
    assert words["word_mappings"] == [
        {"word": "pooch", "read_as": "dog", "close_call": None},
        {"word": "blorp", "read_as": None, "close_call": None},
    ]
    for prompt in ("blorp zzz", "what is on the left?", "the zorblax"):
        with pytest.raises(InputError, match=r"knows no word of .* that names an object"):
            text_to_image.generate_images(prompt, n=1)
    with pytest.raises(InputError, match="English only"):
        text_to_image.generate_images("一只狗", n=1)
    with pytest.raises(InputError, match="knows no word"):
        text_to_image.interpolate("a dog on a blue background", "blorp zzz")
    walk = text_to_image.interpolate("a dog", "a blorp cat", steps=2)
    assert walk.to_dict()["words_used"] == ["a", "dog"]
    assert walk.details["prompt_b_words"]["words_ignored"] == ["blorp"]


def test_the_shipped_vocabulary_is_the_words_of_the_worlds_captions() -> None:
    """``vocab.json`` holds every word the world's captions use (the GAN's training text), and
    its nouns are exactly the objects' forms and the background words."""
    from multimodal_core.world.backgrounds import BACKGROUND_WORDS
    from multimodal_core.world.catalogue import CLASSES
    from multimodal_core.world.language import usable_captions
    from multimodal_core.world.scenes import scene

    vocab = QuestionVocabulary.from_pretrained(SHIPPED)
    said = set()
    for seed in range(150):
        layout = {"layout": "center", "n_objects": (1, 1)} if seed % 2 else {}
        for caption in usable_captions(scene(seed, 32, **layout)):
            said |= set(vocab.tokenize(caption))
    forms = {w for c in CLASSES for w in (c.name, c.plural, *c.synonyms) if " " not in w}
    assert said <= set(vocab.words)
    assert set(vocab.nouns) == forms | set(BACKGROUND_WORDS)
    for c in CLASSES:  # a synonym means its class; the plural is the first other form
        others = [f for f, singular in vocab.nouns.items() if singular == c.name and f != c.name]
        if c.plural != c.name:  # "fish" has no plural form of its own
            assert others[0] == c.plural
        assert {s for s in c.synonyms if " " not in s} <= set(others)
    rare = {w for c in CLASSES for s in c.synonyms for w in s.split()} | {"three", "four"}
    assert set(vocab.words) - said - set(vocab.nouns) <= {"<pad>", "<unk>"} | rare


def test_requests_drawn_in_one_batch_equal_requests_drawn_alone(tiny_checkpoint: Path) -> None:
    requests = [("a dog on a blue background", [5, 6]), ("a red car", [1]), ("a cat", [2, 3, 4])]
    together = text_to_image._draw_batch(requests, None)  # what concurrent requests share
    for request, pictures in zip(requests, together, strict=True):
        (alone,) = text_to_image._draw_batch([request], None)
        assert len(pictures) == len(request[1])
        assert all(np.array_equal(a, b) for a, b in zip(alone, pictures, strict=True))


def test_interpolation_keeps_z_and_moves_between_the_prompts(tiny_checkpoint: Path) -> None:
    a = text_to_image.generate_images("a dog on a blue background", n=1, seed=3).images[0]
    b = text_to_image.generate_images("a car on a red background", n=1, seed=3).images[0]
    walk = text_to_image.interpolate(
        "a dog on a blue background", "a car on a red background", steps=5, seed=3
    )
    assert len(walk.images) == 5 and walk.details["weights"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert np.array_equal(walk.images[0], a) and np.array_equal(walk.images[-1], b)
    sheet = text_to_image.strip(walk.images, scale=2, gap=2)
    assert sheet.shape == (32, 5 * 32 + 4 * 2, 3)
    assert viz.enlarge(a, 64).shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("prompt", "kwargs", "match"),
    [
        ("", {}, "Type a sentence"),
        ("   ", {}, "Type a sentence"),
        ("1234 !!", {}, "Type a sentence"),
        ("a dog " * 200, {}, "characters long"),
        ("a dog", {"n": 0}, "between 1 and 8"),
        ("a dog", {"n": 9}, "between 1 and 8"),
        ("a dog", {"seed": -1}, "seed"),
        ("a dog", {"model": "dall-e"}, "Unknown model"),
    ],
)
def test_bad_requests_get_a_sentence(prompt: str, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        text_to_image.generate_images(prompt, **kwargs)


def test_missing_checkpoint_is_a_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    hub.default_hub().unload(text_to_image.BUILTIN)
    try:
        with pytest.raises(ModelUnavailableError, match="train it with"):
            text_to_image.generate_images("a dog", n=1)
    finally:
        monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
        get_settings.cache_clear()
        hub.default_hub().unload(text_to_image.BUILTIN)


def test_cli_writes_the_pictures(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    from multimodal_core.cli import main

    out = tmp_path / "out"
    prompt = "a dog on a blue background"
    code = main(["text-to-image", prompt, "--n", "2", "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["seeds"] == [0, 1] and len(payload["files"]) == 2
    assert all(Path(f).is_file() for f in payload["files"])
    assert payload["words_used"] == ["a", "dog", "on", "blue", "background"]
    assert main(["text-to-image", "", "--out", str(out)]) == 2
    assert main(["text-to-image", "blorp zzz", "--out", str(out), "--json"]) == 2
    assert "knows no word" in capsys.readouterr().err


def test_evaluation_helpers() -> None:
    from multimodal_core.evaluate.text_to_image import (
        UNSEEN_WORDS,
        frechet_distance,
        mean_pairwise_distance,
        states_background,
        synonym_prompts,
    )
    from multimodal_core.world.catalogue import CLASSES

    known = {w for c in CLASSES for w in (c.name, c.plural, *c.synonyms)}
    assert not set(UNSEEN_WORDS) & known  # unseen words really are new to the world
    prompts = synonym_prompts()
    assert ("a puppy", "dog", True) in prompts and ("a pooch", "dog", False) in prompts
    assert not any(p.endswith(" kid") for p, _, _ in prompts)  # ambiguous: boy or girl
    assert states_background("a dog on an orange background") == "orange"
    assert states_background("a dog in front of a brick wall") == "brick"
    assert states_background("a picture of a dog") is None
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + 3.0) == pytest.approx(36.0, rel=1e-3)
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


@pytest.mark.slow
def test_real_sentence_encoder_maps_synonyms_together() -> None:
    from multimodal_core.backends.sentence_encoder import load_sentence_encoder

    encoder = load_sentence_encoder()
    vectors = encoder.encode(["a puppy", "a dog", "a car"])
    assert vectors.shape == (3, 384)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


def test_tab_serves_the_text_to_image_endpoint(tiny_checkpoint: Path) -> None:
    import gradio as gr
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from multimodal_core.ui import text_to_image as tab

    with gr.Blocks() as demo:
        tab.build_tab()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        gallery, note = client.predict(
            "a dog on a blue background", 3, 7, "builtin", api_name="/text_to_image"
        )
        with pytest.raises(AppError, match="Type a sentence"):
            client.predict("   ", 2, 0, "builtin", api_name="/text_to_image")
        again, _ = client.predict("a cat", 1, 0, "builtin", api_name="/text_to_image")
    finally:
        demo.close()
    assert len(gallery) == 3 and [item["caption"] for item in gallery] == [
        "seed 7",
        "seed 8",
        "seed 9",
    ]
    assert all(Path(item["image"]).is_file() for item in gallery)
    assert "early checkpoint" in note and len(again) == 1
    assert "**Words it used:** a, dog, on, blue, background" in note
