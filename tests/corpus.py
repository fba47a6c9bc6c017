"""A corpus of uploads a person might send, good and bad, generated into a folder.

Each entry says what a correct intake does with it: decode it (and to what shape) or refuse it
with a sentence. The media tests use it directly; the HTTP tests send the same files to the app.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Upload:
    path: Path
    ok: bool  # True: must decode; False: must raise InputError
    shape: tuple[int, ...] | None = None  # expected (H, W, 3) for pictures, when known
    note: str = ""


def _tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    times = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * times).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave


def _png_bomb(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _m4a(path: Path, seconds: float, rate: int = 44_100) -> None:
    import av

    samples = _tone(seconds, rate)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame_size = 1024
        for start in range(0, len(samples), frame_size):
            block = samples[start : start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def image_corpus(folder: Path) -> dict[str, Upload]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    picture = Image.fromarray(rgb)
    uploads: dict[str, Upload] = {}

    def save(name: str, image: Image.Image, shape: tuple[int, ...], **options) -> None:
        path = folder / name
        image.save(path, **options)
        uploads[name] = Upload(path, True, shape)

    save("photo.jpg", picture, (48, 64, 3), quality=90)
    save("rgba.png", picture.convert("RGBA"), (48, 64, 3))
    save("picture.webp", picture, (48, 64, 3))
    save("picture.bmp", picture, (48, 64, 3))
    save("picture.tiff", picture, (48, 64, 3))
    save("grey.png", picture.convert("L"), (48, 64, 3))
    save("palette.png", picture.convert("P"), (48, 64, 3))
    save("cmyk.jpg", picture.convert("CMYK"), (48, 64, 3))
    deep = Image.fromarray((rng.random((48, 64)) * 65535).astype(np.uint16))
    save("sixteen_bit.png", deep, (48, 64, 3))
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = folder / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    uploads["animated.gif"] = Upload(path, True, (48, 64, 3), "first frame is red")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    save("phone_rotated.jpg", picture, (64, 48, 3), exif=exif.tobytes())
    big = Image.new("RGB", (3000, 2000), (30, 120, 60))
    save("big_photo.jpg", big, (683, 1024, 3), quality=70)
    path = folder / "png_named.jpg"
    picture.save(path, format="PNG")
    uploads["png_named.jpg"] = Upload(path, True, (48, 64, 3), "judged by content")

    bad: dict[str, bytes] = {"empty.png": b"", "random_bytes.png": rng.bytes(4096)}
    bad["text_named.jpg"] = b"Dear friend, this is a letter, not a picture.\n" * 20
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG")
    bad["truncated.jpg"] = buffer.getvalue()[: len(buffer.getvalue()) // 3]
    buffer = io.BytesIO()
    soundfile.write(buffer, _tone(1.0, SAMPLE_RATE), SAMPLE_RATE, format="WAV")
    bad["sound_named.png"] = buffer.getvalue()
    for name, content in bad.items():
        (folder / name).write_bytes(content)
        uploads[name] = Upload(folder / name, False)
    Image.new("RGB", (1, 1)).save(folder / "one_pixel.png")
    uploads["one_pixel.png"] = Upload(folder / "one_pixel.png", False)
    _png_bomb(folder / "bomb.png", 20_000, 20_000)
    uploads["bomb.png"] = Upload(folder / "bomb.png", False)
    return uploads


def audio_corpus(folder: Path) -> dict[str, Upload]:
    """Recordings; ``shape`` is the expected number of samples at 16 kHz when it is known."""
    folder.mkdir(parents=True, exist_ok=True)
    uploads: dict[str, Upload] = {}

    def write(name: str, samples: np.ndarray, rate: int, expected: int | None, **options) -> None:
        path = folder / name
        soundfile.write(path, samples, rate, **options)
        uploads[name] = Upload(path, True, (expected,) if expected else None)

    write("speech.wav", _tone(2.0, SAMPLE_RATE), SAMPLE_RATE, 32_000)
    write("stereo.flac", _tone(1.5, 44_100, 2), 44_100, 24_000)
    write("voice.ogg", _tone(1.0, 22_050), 22_050, None, format="OGG", subtype="VORBIS")
    write("voice.opus", _tone(1.0, 48_000), 48_000, None, format="OGG", subtype="OPUS")
    write("song.mp3", _tone(2.0, 44_100), 44_100, None, format="MP3")
    write("six_channel_192k.wav", _tone(1.0, 192_000, 6), 192_000, 16_000)
    write("telephone_8k.wav", _tone(1.0, 8_000), 8_000, 16_000)
    write("silence.wav", np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE, 16_000)
    write("ten_minutes.wav", _tone(600.0, SAMPLE_RATE), SAMPLE_RATE, None, subtype="PCM_16")
    _m4a(folder / "phone.m4a", 1.5)
    uploads["phone.m4a"] = Upload(folder / "phone.m4a", True)
    path = folder / "mp3_named.wav"
    soundfile.write(path, _tone(1.0, 44_100), 44_100, format="MP3")
    uploads["mp3_named.wav"] = Upload(path, True, note="judged by content")

    rng = np.random.default_rng(1)
    write("five_ms.wav", _tone(0.005, SAMPLE_RATE), SAMPLE_RATE, None)
    uploads["five_ms.wav"] = Upload(folder / "five_ms.wav", False)
    bad: dict[str, bytes] = {"empty.wav": b"", "random_bytes.ogg": rng.bytes(8192)}
    bad["text_named.wav"] = b"This is a shopping list, not a recording.\n" * 30
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buffer, format="PNG")
    bad["picture_named.mp3"] = buffer.getvalue()
    for name, content in bad.items():
        (folder / name).write_bytes(content)
        uploads[name] = Upload(folder / name, False)
    return uploads
