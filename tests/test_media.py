"""Every upload in the corpus decodes to the right shape or is refused with one clear sentence."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from corpus import SAMPLE_RATE, Upload, audio_corpus, image_corpus

from multimodal_core import media
from multimodal_core.errors import InputError
from multimodal_core.settings import load_settings

SETTINGS = load_settings({"MMC_MAX_AUDIO_SECONDS": "30"})


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Upload]:
    return image_corpus(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Upload]:
    return audio_corpus(tmp_path_factory.mktemp("audio"))


def assert_one_clear_sentence(message: str, folder: Path) -> None:
    assert message.endswith("."), message
    assert "\n" not in message and "Traceback" not in message, message
    assert str(folder) not in message and "/tmp" not in message, message
    assert re.search(r"please|upload", message, re.IGNORECASE), message
    assert len(message) < 220, message


IMAGE_NAMES = [
    "photo.jpg", "rgba.png", "picture.webp", "picture.bmp", "picture.tiff", "grey.png",
    "palette.png", "cmyk.jpg", "sixteen_bit.png", "animated.gif", "phone_rotated.jpg",
    "big_photo.jpg", "png_named.jpg",
]  # fmt: skip
BAD_IMAGES = [
    "empty.png", "random_bytes.png", "text_named.jpg", "truncated.jpg", "sound_named.png",
    "one_pixel.png", "bomb.png",
]  # fmt: skip


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_supported_images_decode_to_rgb_floats(images: dict[str, Upload], name: str) -> None:
    upload = images[name]
    pixels = media.load_image(upload.path, SETTINGS)
    assert pixels.dtype == np.float32
    assert pixels.shape == upload.shape
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0


def test_transparency_is_laid_on_white(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGBA", (32, 32), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.allclose(media.load_image(tmp_path / "clear.png", SETTINGS), 1.0)


def test_gif_gives_its_first_frame(images: dict[str, Upload]) -> None:
    pixels = media.load_image(images["animated.gif"].path, SETTINGS)
    assert pixels[..., 0].mean() > 0.9 and pixels[..., 2].mean() < 0.1


def test_sixteen_bit_keeps_its_range(images: dict[str, Upload]) -> None:
    pixels = media.load_image(images["sixteen_bit.png"].path, SETTINGS)
    assert pixels.max() > 0.9 and pixels.min() < 0.1  # not crushed to black or white


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    from PIL import Image

    picture = np.zeros((40, 80, 3), np.uint8)
    picture[:, :40] = (255, 0, 0)  # left half red, right half blue
    picture[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: left half ends on top
    Image.fromarray(picture).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    upright = media.load_image(tmp_path / "turned.jpg", SETTINGS)
    assert upright.shape == (80, 40, 3)
    assert upright[:30, :, 0].mean() > 0.8 and upright[50:, :, 2].mean() > 0.8


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_bad_images_get_one_sentence(images: dict[str, Upload], name: str) -> None:
    with pytest.raises(InputError) as caught:
        media.load_image(images[name].path, SETTINGS)
    assert_one_clear_sentence(str(caught.value), images[name].path.parent)


def test_wrong_kind_of_file_is_named(images: dict[str, Upload]) -> None:
    with pytest.raises(InputError, match="sound or video recording"):
        media.load_image(images["sound_named.png"].path, SETTINGS)
    with pytest.raises(InputError, match="text file"):
        media.load_image(images["text_named.jpg"].path, SETTINGS)


def test_bomb_is_refused_from_its_header(images: dict[str, Upload]) -> None:
    with pytest.raises(InputError, match="too large"):
        media.load_image(images["bomb.png"].path, SETTINGS)


def test_oversized_upload_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(b"\0" * (2 * 2**20))
    with pytest.raises(InputError, match="MB limit"):
        media.load_image(path, load_settings({"MMC_MAX_UPLOAD_MB": "1"}))


def test_missing_and_empty_paths_are_refused() -> None:
    for path in (None, "", "/no/such/file.png"):
        with pytest.raises(InputError):
            media.load_image(path, SETTINGS)


AUDIO_NAMES = [
    "speech.wav", "stereo.flac", "voice.ogg", "voice.opus", "song.mp3", "six_channel_192k.wav",
    "telephone_8k.wav", "silence.wav", "ten_minutes.wav", "phone.m4a", "mp3_named.wav",
]  # fmt: skip
BAD_AUDIO = ["five_ms.wav", "empty.wav", "random_bytes.ogg", "text_named.wav", "picture_named.mp3"]


@pytest.mark.parametrize("name", AUDIO_NAMES)
def test_supported_audio_decodes_to_mono(recordings: dict[str, Upload], name: str) -> None:
    upload = recordings[name]
    clip = media.load_audio(upload.path, SAMPLE_RATE, SETTINGS)
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.sample_rate == SAMPLE_RATE
    assert np.abs(clip.samples).max() <= 1.0
    if upload.shape:
        assert abs(len(clip.samples) - upload.shape[0]) <= 0.01 * upload.shape[0]
    assert clip.silent == (name == "silence.wav")
    if not clip.silent:  # a 440 Hz tone survives decoding and resampling
        spectrum = np.abs(np.fft.rfft(clip.samples[: SAMPLE_RATE // 2]))
        peak_hz = spectrum.argmax() * SAMPLE_RATE / len(clip.samples[: SAMPLE_RATE // 2])
        assert abs(peak_hz - 440) < 10


def test_long_audio_is_trimmed_and_says_so(recordings: dict[str, Upload]) -> None:
    clip = media.load_audio(recordings["ten_minutes.wav"].path, SAMPLE_RATE, SETTINGS)
    assert clip.trimmed and abs(clip.seconds - 30.0) < 0.01
    assert abs(clip.original_seconds - 600.0) < 0.5
    assert any("first 30 s" in note for note in clip.notes)


def test_multichannel_keeps_its_channel_count(recordings: dict[str, Upload]) -> None:
    clip = media.load_audio(recordings["six_channel_192k.wav"].path, SAMPLE_RATE, SETTINGS)
    assert clip.channels == 6 and clip.source_rate == 192_000


@pytest.mark.parametrize("name", BAD_AUDIO)
def test_bad_audio_gets_one_sentence(recordings: dict[str, Upload], name: str) -> None:
    with pytest.raises(InputError) as caught:
        media.load_audio(recordings[name].path, SAMPLE_RATE, SETTINGS)
    assert_one_clear_sentence(str(caught.value), recordings[name].path.parent)


def test_picture_sent_as_audio_is_named(recordings: dict[str, Upload]) -> None:
    with pytest.raises(InputError, match="is a picture"):
        media.load_audio(recordings["picture_named.mp3"].path, SAMPLE_RATE, SETTINGS)


def test_silence_is_refused_where_sound_is_needed(recordings: dict[str, Upload]) -> None:
    clip = media.load_audio(recordings["silence.wav"].path, SAMPLE_RATE, SETTINGS)
    with pytest.raises(InputError, match="silent"):
        media.require_sound(clip)
