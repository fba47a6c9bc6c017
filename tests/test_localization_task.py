"""The localization task API, CLI and tab, on a tiny random model (fast) and on the shipped
checkpoint (slow: the swap test on the example scenes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from multimodal_core import hub
from multimodal_core.errors import InputError
from multimodal_core.evaluate.metrics import argmax_yx, in_box
from multimodal_core.models.localization import LocalizationConfig, SoundLocalizer
from multimodal_core.tasks import localization

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "localization"
CHECKPOINT = REPO / "checkpoints" / "localization"
TINY = LocalizationConfig(
    image_size=32, patch_size=2, visual_channels=(4, 8, 8), decoder_channels=8, output_stride=2,
    embed_dim=8, audio_channels=(8, 8), confident_similarity=0.99,
)  # fmt: skip


@pytest.fixture()
def tiny_builtin() -> Iterator[SoundLocalizer]:
    """The default hub's built-in localizer replaced by a tiny random one for one test."""
    model = SoundLocalizer(TINY).eval()
    default = hub.default_hub()
    original = default.spec(localization.BUILTIN)
    default.unload(localization.BUILTIN)
    default.register(
        hub.ModelSpec(localization.BUILTIN, "localization", lambda: model, 0.1, "tiny localizer")
    )
    yield model
    default.unload(localization.BUILTIN)
    default.register(original)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("localization-inputs")
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((60, 90, 3)) * 255).astype(np.uint8)).save(folder / "pic.png")
    t = np.arange(16_000 * 2) / 16_000
    soundfile.write(folder / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16_000)
    soundfile.write(folder / "silence.wav", np.zeros(16_000), 16_000)
    soundfile.write(folder / "long.wav", 0.1 * rng.standard_normal(8_000 * 45), 8_000)
    return {p.stem: p for p in folder.iterdir()}


def test_builtin_map_has_the_picture_shape(tiny_builtin, inputs) -> None:
    result = localization.localize(inputs["pic"], inputs["tone"])
    assert result.heat.shape == (60, 90)
    assert result.heat.min() >= 0.0 and result.heat.max() == pytest.approx(1.0)
    assert result.overlay.shape == (60, 90, 3) and result.overlay.dtype == np.uint8
    assert result.spectrogram.ndim == 3
    x, y = result.peak
    assert result.heat[y, x] == result.heat.max()
    payload = result.to_dict()
    json.dumps(payload)
    assert payload["model"] == "builtin" and payload["tag"] is None
    # A random model is far from the calibrated 0.99: an honest low-confidence note.
    assert not result.confident and any("least unlikely" in n for n in result.notes)
    assert "Red = where the sound" in localization.describe(result)


def test_the_spectrogram_is_drawn_from_what_the_model_heard(tiny_builtin, inputs) -> None:
    """The tab draws the picture elsewhere (a worker process): what it gets must be the model's
    own log-mel, and what it draws must be the result's picture."""
    heard: list[localization.Hearing] = []
    drawn = np.zeros((4, 4, 3), np.uint8)
    result = localization.localize(
        inputs["pic"], inputs["tone"], draw=lambda hearing: heard.append(hearing) or drawn
    )
    assert result.spectrogram is drawn
    (hearing,) = heard
    config = tiny_builtin.config
    frames = 2 * config.sample_rate // config.hop_length + 1  # the 2 s tone, centred frames
    assert hearing.mel_db.shape == (config.n_mels, frames)
    assert (hearing.sample_rate, hearing.hop_length) == (config.sample_rate, config.hop_length)
    default = localization.localize(inputs["pic"], inputs["tone"])
    assert np.array_equal(default.spectrogram, localization.hearing_image(hearing))


def test_silent_and_long_recordings(tiny_builtin, inputs) -> None:
    with pytest.raises(InputError, match="silent"):
        localization.localize(inputs["pic"], inputs["silence"])
    result = localization.localize(inputs["pic"], inputs["long"])
    assert any("only its first" in note for note in result.notes)


def test_unknown_model_and_bad_files(inputs) -> None:
    with pytest.raises(InputError, match="Unknown model"):
        localization.localize(inputs["pic"], inputs["tone"], model="magic")
    with pytest.raises(InputError, match="not a picture"):
        localization.localize(inputs["tone"], inputs["tone"])


def test_cli_writes_the_map_and_json(tmp_path: Path, inputs) -> None:
    SoundLocalizer(TINY).save_pretrained(tmp_path / "checkpoints" / "localization")
    env = {**os.environ, "MMC_CHECKPOINTS_DIR": str(tmp_path / "checkpoints")}
    out = tmp_path / "map.png"
    result = subprocess.run(
        [sys.executable, "-m", "multimodal_core", "localization", str(inputs["pic"]),
         str(inputs["tone"]), "--out", str(out), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["map_png"] == str(out) and Image.open(out).size == (90, 60)
    assert 0 <= payload["peak_x"] < 90 and 0 <= payload["peak_y"] < 60
    silent = subprocess.run(
        [sys.executable, "-m", "multimodal_core", "localization", str(inputs["pic"]),
         str(inputs["silence"])],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert silent.returncode == 2 and "silent" in silent.stderr and "Traceback" not in silent.stderr


@pytest.mark.slow
def test_swapping_the_sound_moves_the_peak_on_example_scenes() -> None:
    """The shipped checkpoint: on each example scene the map's maximum lies in the box of the
    object whose sound is played, and moves when the other object's sound is played."""
    entries = [e for e in json.loads((EXAMPLES / "examples.json").read_text()) if e["box"]]
    assert len(entries) >= 8
    hits = 0
    for entry in entries:
        result = localization.localize(EXAMPLES / entry["image"], EXAMPLES / entry["audio"])
        hits += in_box(argmax_yx(result.heat), entry["box"])
    assert hits >= len(entries) - 1, f"{hits} of {len(entries)} peaks in the sounding box"


@pytest.mark.slow
def test_the_tab_answers_over_http() -> None:
    import gradio as gr
    from gradio_client import Client, handle_file

    from multimodal_core.ui import localization as tab

    with gr.Blocks() as demo:
        tab.build_tab()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        entry = json.loads((EXAMPLES / "examples.json").read_text())[0]
        overlay, spectrogram, note = Client(url, verbose=False).predict(
            handle_file(str(EXAMPLES / entry["image"])),
            handle_file(str(EXAMPLES / entry["audio"])),
            "builtin",
            api_name="/localization",
        )
        assert Path(overlay).is_file() and Path(spectrogram).is_file()
        assert "Red = where the sound" in note
    finally:
        demo.close()
