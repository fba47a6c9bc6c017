"""Which models can load on this machine, learned once in the background as the app starts.

A pretrained model loads when its Hub id names a local folder, when a copy is in the Hugging Face
cache, or when the Hub can be reached to download it; otherwise picking it could only fail. The
tabs mark such choices "needs internet" in their labels and explain before anything runs; the
Status tab says the same in words. Built-in models ship in ``checkpoints/`` and are always
expected to load (a missing checkpoint shows up as a failure on first use).

Nothing here loads a model or downloads a file: the probe reads the disk and, once, asks whether
the Hub's host accepts a connection.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from multimodal_core import hub, tasks
from multimodal_core.backends.loading import hub_reachable
from multimodal_core.choices import ModelChoices
from multimodal_core.settings import get_settings

logger = logging.getLogger(__name__)

NEEDS_INTERNET = "needs internet"
"""What a choice's label says when none of the ways to load its model works here."""

PROBE_WAIT_SECONDS = 10.0
"""Longest a page waits for the start-up probe before it labels its choices (the Hub check
gives up after 2 s, so the probe takes about that when the machine is offline)."""


@dataclass(frozen=True)
class Availability:
    """Whether a model can load here, and how."""

    loads: bool
    """It can load: a built-in checkpoint, a local folder, a cached copy, or the Hub in reach."""
    how: str
    """"shipped", "local folder", "cached", "downloads" or "needs internet"."""


SHIPPED = Availability(True, "shipped")


def _cached(model_id: str) -> bool:
    """Whether a copy of Hub repository ``model_id`` is in the Hugging Face cache (no network)."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(model_id, local_files_only=True)
    except Exception:  # any failure means "not usable from the cache"
        return False
    return True


def probe_model(spec: hub.ModelSpec, reachable: bool) -> Availability:
    """How ``spec`` can load here, given whether the Hub answered."""
    if not spec.pretrained:
        return SHIPPED
    model_id = str(getattr(get_settings(), spec.source, "")) if spec.source else ""
    if model_id and Path(model_id).is_dir():
        return Availability(True, "local folder")
    if model_id and _cached(model_id):
        return Availability(True, "cached")
    if reachable:
        return Availability(True, "downloads")
    return Availability(False, NEEDS_INTERNET)


def probe_all() -> dict[str, Availability]:
    """Every declared model's availability, by hub name."""
    tasks.import_all()
    specs = hub.specs()
    reachable = hub_reachable() if any(spec.pretrained for spec in specs) else False
    return {spec.name: probe_model(spec, reachable) for spec in specs}


class _Probe:
    """The start-up probe: run once in a background thread, read by every page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: dict[str, Availability] = {}

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="availability", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self._result = probe_all()
        except Exception:  # a probe that fails must never take the app down
            logger.exception("could not learn which pretrained models can load")
        finally:
            self._done.set()

    def result(self, timeout: float = PROBE_WAIT_SECONDS) -> dict[str, Availability]:
        """The probe's answer (started if it was not); empty if it has not finished in time."""
        self.start()
        self._done.wait(timeout)
        return dict(self._result) if self._done.is_set() else {}

    def reset(self) -> None:
        """Forget the answer (tests; after the machine's connection changed)."""
        with self._lock:
            self._thread = None
            self._done = threading.Event()
            self._result = {}


_PROBE = _Probe()
start = _PROBE.start
result = _PROBE.result
reset = _PROBE.reset


def unavailable_choices(choices: ModelChoices) -> dict[str, str]:
    """Choice key -> one sentence, for each choice whose models cannot load here."""
    known = result()
    sentences = {}
    for choice in choices.choices:
        missing = [name for name in choice.models if name in known and not known[name].loads]
        if missing:
            titles = " and ".join(hub.default_hub().spec(name).label for name in missing)
            sentences[choice.key] = (
                f"The {titles} is not on this machine and the internet cannot be reached, "
                "so this choice cannot run here; connect once to download it, or pick a "
                "built-in model, which works offline."
            )
    return sentences


def labelled(choices: ModelChoices) -> list[tuple[str, str]]:
    """The choices as (label, key) pairs, "needs internet" added to those that cannot load."""
    dead = unavailable_choices(choices)
    return [
        (f"{label} · {NEEDS_INTERNET}" if key in dead else label, key)
        for label, key in choices.labelled()
    ]
