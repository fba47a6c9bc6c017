"""Shared tab pieces: raw-path image uploads reach media.py, and failures become sentences."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from corpus import image_corpus
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from multimodal_core import media
from multimodal_core.errors import InputError
from multimodal_core.ui.common import ImageUpload, ResultGallery, ResultImage, user_errors


def test_input_errors_become_gr_errors_with_the_same_sentence() -> None:
    @user_errors("testing")
    def refuse() -> None:
        raise InputError("This file is empty; please upload a picture.")

    with pytest.raises(gr.Error) as caught:
        refuse()
    assert caught.value.message == "This file is empty; please upload a picture."


def test_unexpected_errors_are_logged_and_shown_as_one_generic_sentence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @user_errors("drawing the map")
    def crash() -> None:
        raise RuntimeError("CUDA error at /srv/app/secret.py line 12")

    with caplog.at_level(logging.ERROR), pytest.raises(gr.Error) as caught:
        crash()
    assert caught.value.message.startswith("Something went wrong on our side while drawing the map")
    assert "secret" not in caught.value.message
    assert "RuntimeError" in caplog.text  # the traceback stays on the server


def test_image_upload_uses_the_image_front_end() -> None:
    assert ImageUpload().get_block_name() == "image"  # otherwise the page shows "Loading..."


def test_result_image_uses_the_image_front_end() -> None:
    assert ResultImage().get_block_name() == "image"


def test_result_image_is_a_lossless_png_in_gradios_cache() -> None:
    rows = np.linspace(0, 255, 280, dtype=np.uint8)
    picture = np.stack([np.tile(rows[:, None], (1, 720))] * 3, axis=2)  # a plot-like gradient
    picture[100:110, 50:400] = (20, 40, 200)
    component = ResultImage()
    saved = component.postprocess(picture)
    assert saved is not None and saved.path.endswith(".png")
    assert Path(saved.path).is_relative_to(Path(component.GRADIO_CACHE))
    with Image.open(saved.path) as reopened:
        assert reopened.format == "PNG"
        assert np.array_equal(np.asarray(reopened.convert("RGB")), picture)
    # The same picture from PIL lands in the same file; nothing to show stays nothing.
    assert component.postprocess(Image.fromarray(picture)).path == saved.path
    assert component.postprocess(None) is None


def test_result_gallery_sends_lossless_pngs_with_their_captions() -> None:
    assert ResultGallery().get_block_name() == "gallery"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    flat = np.full((32, 48, 3), (200, 30, 90), np.uint8)
    component = ResultGallery()
    saved = component.postprocess([(noise, "seed 0"), flat]).root
    assert [item.caption for item in saved] == ["seed 0", None]
    for item, picture in zip(saved, (noise, flat), strict=True):
        assert Path(item.image.path).is_relative_to(Path(component.GRADIO_CACHE))
        with Image.open(item.image.path) as reopened:
            assert reopened.format == "PNG"
            assert np.array_equal(np.asarray(reopened.convert("RGB")), picture)
    with io.BytesIO() as quick:  # compressed at zlib level 1, not Gradio's 6
        Image.fromarray(noise).save(quick, format="png", compress_level=1)
        assert Path(saved[0].image.path).read_bytes() == quick.getvalue()
    assert component.postprocess(None).root == []


def test_image_upload_hands_the_raw_file_to_media(tmp_path: Path) -> None:
    uploads = image_corpus(tmp_path / "corpus")

    @user_errors("reading the picture")
    def shape(path: str) -> str:
        return "x".join(map(str, media.load_image(path).shape))

    with gr.Blocks() as demo:
        picture = ImageUpload(type="filepath")
        answer = gr.Textbox()
        gr.Button().click(shape, picture, answer, api_name="shape")
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        for name in ("bomb.png", "truncated.jpg", "text_named.jpg"):
            with pytest.raises(AppError, match="please upload"):
                client.predict(handle_file(str(uploads[name].path)), api_name="/shape")
        good = client.predict(
            handle_file(str(uploads["phone_rotated.jpg"].path)), api_name="/shape"
        )
        assert good == "64x48x3"
    finally:
        demo.close()
