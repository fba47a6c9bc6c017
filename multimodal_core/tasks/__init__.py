"""The public, typed API of each task, called by the tabs, the CLI, the evaluation and the benches.

Task modules declare their models in the shared hub when imported; :func:`import_all` imports
every family's module (:data:`multimodal_core.registry.FAMILIES`) so that the status can list
every model before any tab has been used.
"""

import importlib

from multimodal_core.registry import FAMILIES


def import_all() -> None:
    """Import every task module, registering its models in the hub."""
    for family in FAMILIES:
        importlib.import_module(f"multimodal_core.tasks.{family.name}")
