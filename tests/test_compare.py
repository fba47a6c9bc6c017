"""Two models on one input, side by side: the plumbing, offline, with a tiny random BLIP."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_captioning_backend import tiny_blip  # noqa: F401 - the fixture, shared

from multimodal_core import hub
from multimodal_core.errors import InputError
from multimodal_core.settings import get_settings
from multimodal_core.tasks import captioning, compare

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scene_20000001.png"


@pytest.fixture
def blip_from(monkeypatch: pytest.MonkeyPatch):
    """Point the pretrained BLIP choice at a folder or an id; the hub forgets it around each use."""

    def point(model_id: str) -> None:
        monkeypatch.setenv("MMC_CAPTION_MODEL", model_id)
        get_settings.cache_clear()
        hub.default_hub().unload(captioning.BLIP)

    yield point
    monkeypatch.delenv("MMC_CAPTION_MODEL")
    get_settings.cache_clear()
    hub.default_hub().unload(captioning.BLIP)


def caption_with(key: str) -> captioning.CaptionResult:
    return captioning.caption_image(EXAMPLE, 2, key)


def test_the_built_in_and_a_pretrained_captioner_answer_the_same_picture(
    blip_from,
    tiny_blip: Path,  # noqa: F811 - the fixture
) -> None:
    blip_from(str(tiny_blip))
    first, second = compare.side_by_side(caption_with, captioning.CHOICES, "builtin", "blip")
    assert (first.key, second.key) == ("builtin", "blip")
    assert first.label == captioning.CHOICES.get("builtin").label
    for run in (first, second):
        assert isinstance(run.result, captioning.CaptionResult) and not run.error
        assert len(run.result.beams) == 2 and run.seconds > 0
    assert first.result.model != second.result.model  # each ran its own model
    assert first.result.in_world is True and second.result.in_world is None


def test_a_compared_model_that_cannot_load_gets_a_sentence_and_the_first_answer_stays(
    blip_from, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    blip_from("nobody/no-such-captioner")
    first, second = compare.side_by_side(caption_with, captioning.CHOICES, "builtin", "blip")
    assert first.result is not None and first.result.caption
    assert second.result is None and "cannot be reached" in second.error


def test_a_bad_input_fails_once_for_both() -> None:
    asked: list[str] = []

    def refuse(key: str) -> None:
        asked.append(key)
        raise InputError("This file is empty; please upload a picture.")

    with pytest.raises(InputError, match="empty"):
        compare.side_by_side(refuse, captioning.CHOICES, "builtin", "blip")
    assert asked == ["builtin"]
