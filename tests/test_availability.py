"""Which models can load here: the start-up probe that marks "needs internet" choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_core import hub, tasks
from multimodal_core.settings import get_settings
from multimodal_core.tasks import availability, vqa


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An empty Hugging Face cache, a fresh probe and fresh settings; all restored after."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    availability.reset()
    get_settings.cache_clear()
    yield monkeypatch
    availability.reset()
    get_settings.cache_clear()


def test_every_pretrained_model_names_where_it_comes_from() -> None:
    """Without ``source`` the probe cannot look for a cached copy of the model."""
    tasks.import_all()
    settings = get_settings()
    for spec in hub.specs():
        if spec.pretrained:
            assert spec.source and hasattr(settings, spec.source), spec.name


def test_offline_without_a_copy_every_pretrained_choice_needs_internet(fresh) -> None:
    fresh.setattr(availability, "hub_reachable", lambda: False)
    found = availability.probe_all()
    assert found["vqa"].loads and found["vqa"].how == "shipped"
    assert not found["vqa_vilt"].loads and found["vqa_vilt"].how == availability.NEEDS_INTERNET
    labels = dict((key, label) for label, key in availability.labelled(vqa.CHOICES))
    assert availability.NEEDS_INTERNET in labels["vilt"]
    assert availability.NEEDS_INTERNET not in labels["builtin"]
    sentence = availability.unavailable_choices(vqa.CHOICES)["vilt"]
    assert "cannot be reached" in sentence and "built-in" in sentence


def test_a_reachable_hub_a_local_folder_or_a_cached_copy_can_load(fresh, tmp_path: Path) -> None:
    fresh.setattr(availability, "hub_reachable", lambda: True)
    assert availability.probe_all()["vqa_vilt"].how == "downloads"

    fresh.setattr(availability, "hub_reachable", lambda: False)
    folder = tmp_path / "my-vilt"
    folder.mkdir()
    fresh.setenv("MMC_VQA_MODEL", str(folder))
    get_settings.cache_clear()
    assert availability.probe_all()["vqa_vilt"].how == "local folder"

    # The layout huggingface_hub gives a downloaded repository: refs/main names a snapshot.
    repo = tmp_path / "hub-cache" / "models--someone--vilt-small"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    fresh.setenv("MMC_VQA_MODEL", "someone/vilt-small")
    get_settings.cache_clear()
    found = availability.probe_all()
    assert found["vqa_vilt"].how == "cached" and found["vqa_vilt"].loads
    assert "vilt" not in availability.unavailable_choices(vqa.CHOICES)


def test_the_probe_runs_once_in_the_background(fresh) -> None:
    calls = []
    fresh.setattr(availability, "probe_all", lambda: calls.append(1) or {"x": availability.SHIPPED})
    availability.start()
    first = availability.result(timeout=5)
    second = availability.result(timeout=5)
    assert first == second == {"x": availability.SHIPPED}
    assert calls == [1]


def test_a_probe_that_fails_leaves_every_choice_unmarked(fresh) -> None:
    def broken() -> dict:
        raise RuntimeError("disk on fire")

    fresh.setattr(availability, "probe_all", broken)
    assert availability.result(timeout=5) == {}
    assert availability.labelled(vqa.CHOICES) == vqa.CHOICES.labelled()
