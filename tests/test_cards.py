"""Model cards keep what people wrote when an evaluation rewrites the figures."""

from __future__ import annotations

from pathlib import Path

from multimodal_core.evaluate.cards import NOTES_HEADING, save_card


def test_rewriting_a_card_keeps_its_notes_and_replaces_the_figures(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    save_card(card, "# Model\n\naccuracy 0.5\n")
    assert card.read_text() == "# Model\n\naccuracy 0.5\n"
    card.write_text(card.read_text() + f"\n{NOTES_HEADING}\n\n- resumed twice\n")

    save_card(card, "# Model\n\naccuracy 0.9\n")

    text = card.read_text()
    assert "accuracy 0.9" in text and "accuracy 0.5" not in text
    assert text.endswith(f"{NOTES_HEADING}\n\n- resumed twice\n")
    assert text.count(NOTES_HEADING) == 1
