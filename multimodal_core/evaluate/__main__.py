"""``python -m multimodal_core.evaluate <task> [--json]``: evaluate one built-in model.

Every task family the registry marks ``evaluated`` has ``evaluate/<name>.py``, run by its
evaluation name (``text-to-image``, ``separation``: the family's name, not its verb);
:data:`JUDGES` adds the models that judge others and have no tab. A module has
``add_arguments(parser)`` and ``run(args) -> dict``. The human table comes first, with or
without ``--json``; the last line printed is always one JSON object, so scripts can read
``tail -n 1``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import sys
from collections.abc import Sequence

from multimodal_core.registry import FAMILIES

JUDGES: dict[str, str] = {"world-classifier": "world_classifier", "out-of-world": "out_of_world"}
"""Evaluations of models with no tab of their own (the world classifier judges text to image;
the out-of-world head tells every picture-reading tab whether a picture is from the world)."""


def evaluations() -> dict[str, str]:
    """Evaluation name -> module name in evaluate/, in the tabs' order, then the judges."""
    measured = {f.evaluation: f.name for f in FAMILIES if f.evaluated}
    return {**measured, **JUDGES}


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
    modules = {
        command: f"multimodal_core.evaluate.{name}" for command, name in evaluations().items()
    }
    for name, module_name in modules.items():
        module = importlib.import_module(module_name)
        module.add_arguments(
            subparsers.add_parser(name, help=(module.__doc__ or "").splitlines()[0])
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = importlib.import_module(modules[args.task]).run(args)
    print(json.dumps(_finite(result), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
