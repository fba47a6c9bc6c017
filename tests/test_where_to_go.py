"""The out-of-world advice never sends a person to a choice that cannot load here."""

from __future__ import annotations

import pytest

from multimodal_core.tasks import availability, vqa, world_check


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch):
    """Make the start-up probe answer ``loads`` for every pretrained model."""

    def answer(loads: bool) -> None:
        found = {name: availability.Availability(loads, "cached" if loads else "needs internet")
                 for name in (vqa.VILT, vqa.BLIP)}  # fmt: skip
        monkeypatch.setattr(availability, "result", lambda timeout=0: found)

    return answer


def test_online_the_advice_names_a_pretrained_choice(probe) -> None:
    probe(True)
    advice = world_check.where_to_go(vqa.CHOICES, "photos")
    assert advice == f"for photos, choose “{vqa.CHOICES.get('vilt').label}”."


def test_offline_the_advice_says_that_no_choice_can_work_here(probe) -> None:
    probe(False)
    note = vqa.out_of_world_note()
    assert "ViLT" not in note and "can load on this machine now" in note
    assert note.startswith("This picture does not look like the synthetic world")
