"""Every task family, named once: its tab, its HTTP endpoint, its CLI command and its evaluation.

A family called ``name`` lives in ``tasks/<name>.py`` (its typed API and model choices),
``ui/<name>.py`` (its tab), ``cli/<name>.py`` (its command) and, when it has a built-in model to
measure, ``evaluate/<name>.py``; its endpoint and command are spelled by its ``verb`` where it
has one (``/separate``), else by its name. The app, the CLI, the evaluation entry point, the load
bench and the tests read :data:`FAMILIES`, so a new family is one line here and the files it
names; no other list of tabs or endpoints exists. This module imports nothing of the project, so
any layer may read it.
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
    """Whether ``python -m multimodal_core.evaluate <evaluation>`` measures its built-in model."""
    verb: str | None = None
    """What a person asks for, when the name is a noun that reads badly as a command
    (``separate``, not ``separation``): the HTTP endpoint and the CLI subcommand; None: the
    name."""

    def __post_init__(self) -> None:
        for spelling in (self.name, self.verb or self.name):
            if not spelling.isidentifier() or spelling != spelling.lower():
                raise ValueError(f"names and verbs are lower-case identifiers, not {spelling!r}")
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: group {self.group!r} is not one of {GROUPS}")

    @property
    def api_name(self) -> str:
        """The tab's one public HTTP endpoint, without its slash: the verb, else the name."""
        return self.verb or self.name

    @property
    def command(self) -> str:
        """The CLI subcommand: the endpoint's name with hyphens."""
        return self.api_name.replace("_", "-")

    @property
    def evaluation(self) -> str:
        """The evaluation's name (``python -m multimodal_core.evaluate <evaluation>``): the
        name with hyphens, since it measures the model, not the act."""
        return self.name.replace("_", "-")


GROUPS: tuple[str, ...] = ("Matching", "Translating", "Reasoning", "Tools")
"""The lecture's three families of multimodal systems, then the tools, in the app's order."""

FAMILIES: tuple[TaskFamily, ...] = (
    TaskFamily("words", "Words", "Matching", evaluated=True),
    TaskFamily("matching", "Search", "Matching", evaluated=True, verb="search"),
    TaskFamily("captioning", "Captioning", "Translating", evaluated=True),
    TaskFamily("text_to_image", "Text to image", "Translating", evaluated=True),
    TaskFamily("voice_to_face", "Voice to face", "Translating", evaluated=True),
    TaskFamily("vqa", "Visual QA", "Reasoning", evaluated=True),
    TaskFamily("localization", "Sound localization", "Reasoning", evaluated=True),
    TaskFamily("separation", "Separate sounds", "Reasoning", evaluated=True, verb="separate"),
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
