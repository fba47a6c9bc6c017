"""``python -m multimodal_core``: each task adds a subcommand module named in COMMAND_MODULES.

A command module has ``register(subparsers)`` that adds its parser and sets ``run`` (a function
of the parsed arguments returning an exit code). Commands print a human answer, or with
``--json`` one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from multimodal_core.errors import InputError, ModelUnavailableError

COMMAND_MODULES: tuple[str, ...] = (
    "caption",
    "answer",
    "generate",
    "localize",
    "face",
    "sound",
    "status",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m multimodal_core",
        description="Multimodal Studio from the command line: the same tasks as the app's tabs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the core does")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"multimodal_core.cli.{name}").register(subparsers)
    return parser


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
