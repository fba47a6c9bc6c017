"""``status``: device, versions and the registered models."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from multimodal_core.cli import emit
from multimodal_core.tasks import status

HELP = "device, library versions and models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments beyond ``--json``."""


def run(args: argparse.Namespace) -> int:
    facts = status.environment()
    rows = [dict(zip(status.STATUS_COLUMNS, row, strict=True)) for row in status.model_rows()]
    tabs = [asdict(state) for state in status.choice_states()]
    human = "\n".join(f"{state['tab']} / {state['choice']}: {state['state']}" for state in tabs)
    human += "\n\n" + "\n".join(f"{name}: {value}" for name, value in facts.items())
    human += "".join(f"\n{row['model']}: {row['state']}" for row in rows)
    emit({**facts, "tabs": tabs, "models": rows}, human, args.json)
    return 0
