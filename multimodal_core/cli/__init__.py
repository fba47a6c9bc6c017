"""``python -m multimodal_core``: one subcommand per task family (multimodal_core.registry).

A family's ``cli/<name>.py`` has ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``
returning an exit code; its command is the family's verb, else its name, with hyphens. Commands
print a human answer, or with ``--json`` one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from multimodal_core.choices import ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.registry import FAMILIES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m multimodal_core",
        description="Multimodal Studio from the command line: the same tasks as the app's tabs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the core does")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in FAMILIES:
        module = importlib.import_module(f"multimodal_core.cli.{family.name}")
        command = subparsers.add_parser(family.command, help=module.HELP)
        module.add_arguments(command)
        command.add_argument("--json", action="store_true", help="print one JSON object")
        command.set_defaults(run=module.run)
    return parser


def add_model_argument(parser: argparse.ArgumentParser, choices: ModelChoices) -> None:
    """``--model KEY``: one of the task's declared choices, by default the one MMC_PRESET picks."""
    default = choices.default()
    parser.add_argument(
        "--model", choices=choices.keys, default=default, help=f"default: {default}"
    )


def emit(result: dict, human: str, as_json: bool) -> None:
    """Print the human answer, or the result as one JSON line."""
    print(json.dumps(result, default=str) if as_json else human)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.run(args) or 0)
    except (InputError, ModelUnavailableError) as error:
        print(error, file=sys.stderr)
        return 2
