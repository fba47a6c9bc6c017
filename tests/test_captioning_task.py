"""The captioning task, CLI and tab on a tiny random checkpoint (plumbing, not quality)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal_core import hub, media, viz
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.models.show_and_tell import ShowAndTell, ShowAndTellConfig
from multimodal_core.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig, Vocabulary
from multimodal_core.settings import get_settings
from multimodal_core.tasks import captioning, world_check


@pytest.fixture()
def tiny_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A random 32 px captioner saved as the built-in checkpoint, served by the default hub."""
    torch.manual_seed(0)
    vocab = Vocabulary.build(["a dog on a red background", "two cats on the grass"])
    config = ShowAttendTellConfig(
        vocab_size=len(vocab), image_size=32, encoder_channels=(4, 8), encoder_dim=8,
        embed_dim=8, attention_dim=8, decoder_dim=16, max_length=6,
    )  # fmt: skip
    folder = tmp_path / "checkpoints" / "captioning"
    ShowAttendTell(config).save_pretrained(folder)
    vocab.save(folder)
    (folder / "generation_config.json").write_text(
        json.dumps({"beam_size": 5, "length_alpha": 0.7, "out_of_world_mean_log_prob": 0.0})
    )
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    get_settings.cache_clear()
    hub.default_hub().unload(captioning.BUILTIN)
    yield folder
    hub.default_hub().unload(captioning.BUILTIN)
    monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
    get_settings.cache_clear()


REAL_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
WORLD_CHECK = tuple(REAL_CHECKPOINTS / name for name in world_check.FOLDERS)


@pytest.fixture()
def tiny_show_and_tell(tiny_checkpoint: Path) -> Iterator[Path]:
    """A random Show and Tell beside the tiny attention model, with the real out-of-world check
    (when it is shipped) in the same checkpoints folder."""
    torch.manual_seed(1)
    vocab = Vocabulary.from_pretrained(tiny_checkpoint)
    config = ShowAndTellConfig(
        vocab_size=len(vocab), image_size=32, encoder_channels=(4, 8), encoder_dim=8,
        embed_dim=8, decoder_dim=16, max_length=6, image_dim=16,
    )  # fmt: skip
    folder = tiny_checkpoint.parent / "show_and_tell"
    ShowAndTell(config).save_pretrained(folder)
    vocab.save(folder)
    for real in WORLD_CHECK:
        if (real / "model.safetensors").is_file():
            (tiny_checkpoint.parent / real.name).symlink_to(real)
    names = (captioning.SHOW_AND_TELL, world_check.NAME)
    for name in names:
        hub.default_hub().unload(name)
    yield folder
    for name in names:
        hub.default_hub().unload(name)


@pytest.fixture()
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"
    pixels = (np.random.default_rng(0).random((80, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_caption_image_returns_sorted_beams_and_maps(tiny_checkpoint: Path, picture: Path) -> None:
    result = captioning.caption_image(picture, beam_size=3)
    assert result.model == "builtin" and len(result.beams) == 3
    scores = [b.score for b in result.beams]
    assert scores == sorted(scores, reverse=True)
    best = result.beams[0]
    assert result.caption == best.text
    assert len(best.tokens) == len(best.token_probs)
    assert all(0.0 < p <= 1.0 for p in best.token_probs)
    assert best.log_prob == pytest.approx(float(np.log(best.token_probs).sum()), abs=1e-4)
    assert result.attention_grid.dtype == np.uint8 and result.attention_grid.ndim == 3
    assert result.details["length_alpha"] == 0.7  # the checkpoint's default
    assert captioning.out_of_world_note() in result.note  # threshold 0: every caption "unsure"
    json.dumps(result.to_dict())


def test_the_attention_sheet_is_drawn_from_the_best_beams_maps(
    tiny_checkpoint: Path, picture: Path
) -> None:
    """The tab draws the sheet elsewhere (a worker process): what it gets must be the best
    beam's words and maps with the picture at tile size, and what it draws must be the result's
    sheet; drawn in place, the sheet is the same as from the full picture."""
    seen: list[captioning.AttentionMaps] = []
    drawn = np.zeros((4, 4, 3), np.uint8)
    result = captioning.caption_image(picture, 3, draw=lambda maps: seen.append(maps) or drawn)
    assert result.attention_grid is drawn
    (maps,) = seen
    assert maps.words == result.beams[0].tokens and len(maps.heats) == len(maps.words)
    grid = hub.get(captioning.BUILTIN).model.config.grid_size
    assert all(heat.shape == (grid, grid) for heat in maps.heats)
    tile = captioning.SHEET_TILE
    assert maps.picture.shape == (tile, tile, 3) and maps.picture.dtype == np.uint8
    default = captioning.caption_image(picture, 3)
    assert np.array_equal(default.attention_grid, captioning.attention_sheet(maps))
    full = media.load_image(picture)  # the sheet of the full picture, as drawn before
    columns = captioning.SHEET_COLUMNS
    by_hand = viz.overlay_grid(full, maps.heats, maps.words, columns=columns, tile=tile)
    assert np.array_equal(default.attention_grid, by_hand)


def test_batch_api_matches_single_calls(tiny_checkpoint: Path) -> None:
    rng = np.random.default_rng(1)
    images = [rng.random((32, 32, 3), dtype=np.float32) for _ in range(3)]
    batched = captioning.caption_images(images, beam_size=2)
    for image, beams in zip(images, batched, strict=True):
        (alone,) = captioning.caption_images([image], beam_size=2)
        assert [b.text for b in alone] == [b.text for b in beams]


def test_bad_choices_and_files_get_sentences(
    tiny_checkpoint: Path, picture: Path, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="beam size"):
        captioning.caption_image(picture, beam_size=11)
    with pytest.raises(InputError, match="Unknown model"):
        captioning.caption_image(picture, model="gpt")
    fake = tmp_path / "photo.png"
    fake.write_text("not a picture")
    with pytest.raises(InputError):
        captioning.caption_image(fake)


def test_missing_checkpoint_is_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, picture: Path
) -> None:
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    hub.default_hub().unload(captioning.BUILTIN)
    try:
        with pytest.raises(ModelUnavailableError, match="missing"):
            captioning.caption_image(picture)
    finally:
        monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
        get_settings.cache_clear()


def test_pretrained_offline_fails_fast(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, picture: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hub.default_hub().unload(captioning.BLIP)
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        captioning.caption_image(picture, model="blip")


def test_cli_prints_json(
    tiny_checkpoint: Path, picture: Path, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    from multimodal_core.cli import main

    maps = tmp_path / "maps.png"
    code = main(["captioning", str(picture), "--beam", "2", "--json", "--attention", str(maps)])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(result["beams"]) == 2 and result["caption"] == result["beams"][0]["text"]
    assert maps.is_file()


def test_tab_serves_the_caption_endpoint(tiny_checkpoint: Path, picture: Path) -> None:
    import gradio as gr
    from gradio_client import Client, handle_file

    from multimodal_core.ui import captioning as tab

    with gr.Blocks() as demo:
        tab.build_tab()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        headline, note, beams, grid = Client(url, verbose=False).predict(
            handle_file(str(picture)), 3, "builtin", api_name="/captioning"
        )
    finally:
        demo.close()
    assert headline.startswith("## ")
    assert "does not look like the synthetic world" in str(note)
    assert len(beams["data"]) == 3 and beams["headers"][:2] == ["rank", "caption"]
    assert Path(grid).is_file()


def test_stated_object_count() -> None:
    assert captioning.stated_object_count("a picture of three balls and a piano") == 4
    assert captioning.stated_object_count("there are two dogs and an egg on gravel") == 3
    assert captioning.stated_object_count("a dog to the left of a cat on the grass") == 1


def test_show_and_tell_captions_a_picture_without_attention(
    tiny_show_and_tell: Path, picture: Path
) -> None:
    drawn: list[captioning.AttentionMaps] = []
    result = captioning.caption_image(
        picture, beam_size=3, model="show_and_tell", draw=lambda maps: drawn.append(maps)
    )
    assert result.model == "show_and_tell" and len(result.beams) == 3
    assert isinstance(hub.get(captioning.SHOW_AND_TELL).model, ShowAndTell)
    assert result.attention_grid is None and drawn == []  # nothing to draw, nothing drawn
    assert result.note.endswith(captioning.NO_ATTENTION_NOTE)
    best = result.beams[0]
    assert best.log_prob == pytest.approx(float(np.log(best.token_probs).sum()), abs=1e-4)
    payload = result.to_dict()
    assert "in_world" in payload and "in_world_score" in payload
    json.dumps(payload)
    attention = captioning.caption_image(picture, beam_size=3, model="builtin")
    assert attention.attention_grid is not None
    assert captioning.NO_ATTENTION_NOTE not in attention.note
    assert (result.in_world, result.in_world_score) == (
        attention.in_world,
        attention.in_world_score,
    )  # the same out-of-world check for both built-in models


def test_show_and_tell_takes_the_out_of_world_check(
    tiny_show_and_tell: Path, picture: Path
) -> None:
    if not all((real / "model.safetensors").is_file() for real in WORLD_CHECK):
        pytest.skip("the out-of-world check is not shipped in checkpoints/")
    noise = captioning.caption_image(picture, beam_size=2, model="show_and_tell")
    assert noise.in_world is False and 0.0 <= noise.in_world_score < 1.0
    assert noise.note.startswith(captioning.out_of_world_note())
    scene = REAL_CHECKPOINTS.parent / "examples" / "captioning" / "scene_00.png"
    if scene.is_file():
        world = captioning.caption_image(scene, beam_size=2, model="show_and_tell")
        assert world.in_world is True and world.note == captioning.NO_ATTENTION_NOTE


def test_show_and_tell_is_listed_after_the_attention_model(tiny_show_and_tell: Path) -> None:
    keys = captioning.CHOICES.keys
    assert keys.index("show_and_tell") == keys.index("builtin") + 1
    choice = captioning.CHOICES.get("show_and_tell")
    assert choice.label == "Built-in: Show and Tell, no attention (synthetic world, offline)"
    assert not choice.pretrained
    rng = np.random.default_rng(2)
    images = [rng.random((32, 32, 3), dtype=np.float32) for _ in range(2)]
    batched = captioning.caption_images(images, beam_size=2, model="show_and_tell")
    for image, beams in zip(images, batched, strict=True):
        (alone,) = captioning.caption_images([image], beam_size=2, model="show_and_tell")
        assert [b.text for b in alone] == [b.text for b in beams]
    with pytest.raises(InputError, match="not a built-in"):
        captioning.caption_images(images, model="blip")


def test_missing_show_and_tell_names_its_trainer(tiny_checkpoint: Path, picture: Path) -> None:
    hub.default_hub().unload(captioning.SHOW_AND_TELL)
    with pytest.raises(ModelUnavailableError, match=r"train\.show_and_tell"):
        captioning.caption_image(picture, model="show_and_tell")
