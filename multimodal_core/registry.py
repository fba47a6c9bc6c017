"""Every task family, named once: its tab, its HTTP endpoint, its CLI command and its evaluation.

A family called ``name`` lives in ``tasks/<name>.py`` (its typed API and model choices),
``ui/<name>.py`` (its tab), ``cli/<name>.py`` (its command) and, when it has a built-in model to
measure, ``evaluate/<name>.py``. The app, the CLI, the evaluation entry point, the load bench and
the tests read :data:`FAMILIES`, so a new family is one line here and the files it names; no other
list of tabs or endpoints exists. This module imports nothing of the project, so any layer may
read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskFamily:
    """One task family; ``name`` is a Python identifier and spells everything else."""

    name: str
    """Module name in tasks/, ui/, cli/ and evaluate/, tab id and HTTP endpoint (``/name``)."""
    title: str
    """The tab's label."""
    group: str
    """The lecture's family it belongs to (one of :data:`GROUPS`): the app nests its tab there."""
    evaluated: bool = False
    """Whether ``python -m multimodal_core.evaluate <command>`` measures its built-in model."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"a family name must be a lower-case identifier, not {self.name!r}")
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: group {self.group!r} is not one of {GROUPS}")

    @property
    def api_name(self) -> str:
        """The tab's one public HTTP endpoint, without its slash."""
        return self.name

    @property
    def command(self) -> str:
        """The CLI subcommand and the evaluation's name: the name with hyphens."""
        return self.name.replace("_", "-")


GROUPS: tuple[str, ...] = ("Matching", "Translating", "Reasoning", "Tools")
"""The lecture's three families of multimodal systems, then the tools, in the app's order."""

FAMILIES: tuple[TaskFamily, ...] = (
    TaskFamily("words", "Words", "Matching", evaluated=True),
    TaskFamily("captioning", "Captioning", "Translating", evaluated=True),
    TaskFamily("text_to_image", "Text to image", "Translating", evaluated=True),
    TaskFamily("voice_to_face", "Voice to face", "Translating", evaluated=True),
    TaskFamily("vqa", "Visual QA", "Reasoning", evaluated=True),
    TaskFamily("localization", "Sound localization", "Reasoning", evaluated=True),
    TaskFamily("sound", "Sound", "Tools"),
    TaskFamily("status", "Status", "Tools"),
)
"""In the order the tabs appear within their groups."""


def grouped() -> list[tuple[str, list[TaskFamily]]]:
    """(group, its families) for each group that has a family yet, in the app's order."""
    groups = [(group, [f for f in FAMILIES if f.group == group]) for group in GROUPS]
    return [(group, families) for group, families in groups if families]


def family(name: str) -> TaskFamily:
    """The family called ``name``; KeyError names the registered ones."""
    for candidate in FAMILIES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no task family {name!r}; registered: {[f.name for f in FAMILIES]}")
