"""``python -m multimodal_core.evaluate <task> [--json]``: evaluate one built-in model.

A task adds itself to :data:`TASKS`: a module with ``add_arguments(parser)`` and
``run(args) -> dict``. The human table comes first, with or without ``--json``; the last line
printed is always one JSON object, so scripts can read ``tail -n 1``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import sys
from collections.abc import Sequence

TASKS: dict[str, str] = {
    "captioning": "multimodal_core.evaluate.captioning",
    "localization": "multimodal_core.evaluate.localization",
    "voice-to-face": "multimodal_core.evaluate.voice_to_face",
    "text-to-image": "multimodal_core.evaluate.text_to_image",
    "world-classifier": "multimodal_core.evaluate.world_classifier",
    "vqa": "multimodal_core.evaluate.vqa",
}


def _finite(value: object) -> object:
    """JSON has no NaN: a rate with nothing to rate becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multimodal_core.evaluate")
    subparsers = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, module_name in TASKS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(
            subparsers.add_parser(name, help=(module.__doc__ or "").splitlines()[0])
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = importlib.import_module(TASKS[args.task]).run(args)
    print(json.dumps(_finite(result), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
