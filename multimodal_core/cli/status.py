"""``status``: device, versions and the registered models."""

from __future__ import annotations

import argparse

from multimodal_core.cli import emit
from multimodal_core.tasks import status


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="device, library versions and models")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    facts = status.environment()
    rows = [dict(zip(status.STATUS_COLUMNS, row, strict=True)) for row in status.model_rows()]
    human = "\n".join(f"{name}: {value}" for name, value in facts.items())
    human += "".join(f"\n{row['model']}: {row['state']}" for row in rows)
    emit({**facts, "models": rows}, human, args.json)
    return 0
