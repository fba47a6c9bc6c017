"""Settings come from MMC_* variables, are typed and clamped, and bad choices fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_core.settings import Settings, load_settings


def test_defaults_without_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.device == "auto" and settings.preset == "builtin"


def test_values_are_parsed_and_clamped() -> None:
    settings = load_settings(
        {
            "MMC_DEVICE": "CPU",
            "MMC_PRESET": "pretrained",
            "MMC_MAX_AUDIO_SECONDS": "12.5",
            "MMC_MAX_IMAGE_PIXELS": "5",  # clamped up to the lowest sensible value
            "MMC_CONCURRENCY": "1000",
            "MMC_HALF_PRECISION": "off",
            "MMC_CHECKPOINTS_DIR": "/data/ckpt",
            "MMC_CAPTION_MODEL": "someone/blip-small",
        }
    )
    assert settings.device == "cpu" and settings.preset == "pretrained"
    assert settings.max_audio_seconds == 12.5
    assert settings.max_image_pixels == 1_000_000
    assert settings.concurrency == 64
    assert settings.half_precision is False
    assert settings.checkpoints_dir == Path("/data/ckpt")
    assert settings.caption_model == "someone/blip-small"


@pytest.mark.parametrize(
    ("name", "value"),
    [("MMC_DEVICE", "tpu"), ("MMC_PRESET", "magic"), ("MMC_CONCURRENCY", "many")],
)
def test_bad_values_raise(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        load_settings({name: value})


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for field in Settings.__dataclass_fields__:
        assert f"`MMC_{field.upper()}`" in readme, field


def test_settings_survive_the_trip_through_the_environment(tmp_path: Path) -> None:
    custom = load_settings(
        {
            "MMC_DEVICE": "cpu",
            "MMC_CHECKPOINTS_DIR": str(tmp_path),
            "MMC_MAX_AUDIO_SECONDS": "7.5",
            "MMC_WORKERS": "0",
            "MMC_HALF_PRECISION": "false",
            "MMC_SENTENCE_ENCODER": "",
        }
    )
    assert load_settings(custom.as_environ()) == custom
    assert load_settings(load_settings({}).as_environ()) == load_settings({})
