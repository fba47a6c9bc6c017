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
    evaluated: bool = False
    """Whether ``python -m multimodal_core.evaluate <command>`` measures its built-in model."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"a family name must be a lower-case identifier, not {self.name!r}")

    @property
    def api_name(self) -> str:
        """The tab's one public HTTP endpoint, without its slash."""
        return self.name

    @property
    def command(self) -> str:
        """The CLI subcommand and the evaluation's name: the name with hyphens."""
        return self.name.replace("_", "-")


FAMILIES: tuple[TaskFamily, ...] = (
    TaskFamily("captioning", "Captioning", evaluated=True),
    TaskFamily("vqa", "Visual QA", evaluated=True),
    TaskFamily("text_to_image", "Text to image", evaluated=True),
    TaskFamily("localization", "Sound localization", evaluated=True),
    TaskFamily("voice_to_face", "Voice to face", evaluated=True),
    TaskFamily("sound", "Sound"),
    TaskFamily("status", "Status"),
)
"""In the order the tabs appear."""


def family(name: str) -> TaskFamily:
    """The family called ``name``; KeyError names the registered ones."""
    for candidate in FAMILIES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no task family {name!r}; registered: {[f.name for f in FAMILIES]}")
