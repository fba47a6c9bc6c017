"""Model cards that evaluations rewrite: generated figures first, a hand-written tail kept."""

from __future__ import annotations

from pathlib import Path

NOTES_HEADING = "## Notes"
"""A hand-written section from this heading on survives rewriting the card."""


def save_card(path: Path, text: str) -> None:
    """Write the generated ``text`` to the card at ``path``, keeping its ``NOTES_HEADING``
    section (run history, what was tried): new figures must not erase what people wrote."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    notes = old[old.index(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    path.write_text(text.rstrip("\n") + "\n" + ("\n" + notes if notes else ""), encoding="utf-8")
