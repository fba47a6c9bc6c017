"""What every training entry point shares, written once: arguments, schedule, resume, log, result.

A training declares its arguments as a dataclass whose field comments are the ``--help`` text and
runs through :func:`main`, which logs to the console and to ``<run_dir>/train.log`` and prints the
run's result as one JSON line last (scripts read ``tail -n 1``). Resume state is one file,
``<run_dir>/state.pt``: state dicts saved with ``torch.save`` and everything else as one JSON
string, so ``torch.load(..., weights_only=True)`` reads it back without unpickling any object.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import json
import logging
import math
import shlex
import sys
import textwrap
import time
import tokenize
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"
LOG_FILE = "train.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class HasRunDir(Protocol):
    """Training arguments: each names the folder for its resume state and log."""

    @property
    def run_dir(self) -> Path | None: ...


Args = TypeVar("Args", bound=HasRunDir)


# ----- arguments ---------------------------------------------------------------------------------


def field_comments(cls: type) -> dict[str, str]:
    """The comment written on each field's lines of dataclass ``cls``, by field name: the
    arguments' one description, read from the source rather than written a second time."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a frozen build): options without help
        return {}
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    described = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            end = node.end_lineno or node.lineno
            lines = [comments[n] for n in range(node.lineno, end + 1) if n in comments]
            if lines:
                described[node.target.id] = " ".join(lines)
    return described


def _option_type(hint: object) -> type:
    """``Path | None`` -> Path; plain types unchanged."""
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    return options[0] if options else hint  # type: ignore[return-value]


def build_parser(cls: type, doc: str | None) -> argparse.ArgumentParser:
    """One ``--flag`` per field of dataclass ``cls`` (``snake_case`` -> ``--snake-case``) with the
    field's type and default; a bool field is a switch that turns it on; a field's
    ``metadata["choices"]`` limits its values. ``doc``'s first line describes the command."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        text = comments.get(f.name, "").replace("%", "%%")
        kind = _option_type(hints[f.name])
        if kind is bool:
            if f.default is not False:
                raise TypeError(f"{cls.__name__}.{f.name}: a switch must default to False")
            parser.add_argument(flag, action="store_true", help=text or None)
            continue
        parser.add_argument(
            flag,
            type=kind,
            default=f.default,
            choices=f.metadata.get("choices"),
            help=f"{text} (default: %(default)s)" if text else "default: %(default)s",
        )
    return parser


def parse_args(cls: type[Args], argv: Sequence[str] | None, doc: str | None) -> Args:
    """``cls`` filled from the command line ``argv`` (None: ``sys.argv[1:]``)."""
    return cls(**vars(build_parser(cls, doc).parse_args(argv)))


def command_line(module: str) -> str:
    """The command that started this process, to record beside what it trained."""
    return f"python -m {module} " + shlex.join(sys.argv[1:])


# ----- schedule ----------------------------------------------------------------------------------


def cosine_lr(
    lr: float, progress: float, min_lr_fraction: float, step: int = 0, warmup_steps: int = 0
) -> float:
    """Linear warm-up over the first ``warmup_steps`` steps, then cosine decay from ``lr`` at
    ``progress`` 0 to ``lr * min_lr_fraction`` at 1 and beyond.

    ``progress`` is the share of a time budget spent, so a run ends wherever the clock says and
    a resumed run may get more time: the floor keeps those last steps learning instead of
    spending them at a rate of zero.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    done = min(progress, 1.0)
    return lr * (min_lr_fraction + (1 - min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * done)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class Clock:
    """Wall-clock and CPU seconds of a run, counting those of the runs it resumes (the budget
    and the schedule follow the whole run, not the last process)."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0) -> None:
        self._wall_start = time.perf_counter() - wall
        self._cpu_start = time.process_time() - cpu

    def wall(self) -> float:
        return time.perf_counter() - self._wall_start

    def cpu(self) -> float:
        return time.process_time() - self._cpu_start


# ----- resume state ------------------------------------------------------------------------------


@dataclass
class ResumeState:
    """What :func:`save_state` wrote: state dicts by name, and the JSON-decoded record
    (counters, the best result so far, whatever else the training needs to go on)."""

    weights: dict[str, Any]
    record: dict[str, Any]


def save_state(run_dir: Path, weights: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    """``weights`` (state dicts of modules and optimisers: tensors and numbers only) and
    ``record`` (JSON-encoded), written beside and then moved over the last state, so a run
    stopped while saving keeps the state before."""
    run_dir.mkdir(parents=True, exist_ok=True)
    partial = run_dir / (STATE_FILE + ".partial")
    torch.save({"weights": dict(weights), "record": json.dumps(record, default=str)}, partial)
    partial.replace(run_dir / STATE_FILE)


def load_state(run_dir: Path, resume: bool) -> ResumeState | None:
    """The state in ``run_dir`` when ``resume`` asks for it and there is one, else None."""
    path = run_dir / STATE_FILE
    if not (resume and path.is_file()):
        return None
    saved = torch.load(path, weights_only=True, map_location="cpu")
    return ResumeState(saved["weights"], json.loads(saved["record"]))


class HasState(Protocol):
    """A module or an optimiser: what resume state holds the weights of."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> Any: ...


def resume_run(
    resume: ResumeState | None, parts: Mapping[str, HasState], best: dict
) -> tuple[int, float, dict, int]:
    """Load ``resume``'s weights into ``parts`` (modules and optimisers by name) and return where
    it stopped: (step, elapsed wall seconds, best record, next training scene); a fresh run, with
    no ``resume``, starts at (0, 0.0, ``best``, 0)."""
    if resume is None:
        return 0, 0.0, best, 0
    for name, part in parts.items():
        part.load_state_dict(resume.weights[name])
    record = resume.record
    step, elapsed = int(record["step"]), float(record["elapsed"])
    logger.info("resumed at step %d, %.1f min", step, elapsed / 60)
    return step, elapsed, record["best"], int(record["next_scene"])


def save_run(
    run_dir: Path,
    parts: Mapping[str, HasState],
    step: int,
    elapsed: float,
    best: dict,
    next_scene: int,
    **more: Any,
) -> None:
    """:func:`save_state` of ``parts`` and of what :func:`resume_run` reads back, plus ``more``
    (what else a training needs to go on: its config, its vocabulary)."""
    save_state(
        run_dir,
        {name: part.state_dict() for name, part in parts.items()},
        {"step": step, "elapsed": elapsed, "best": best, "next_scene": next_scene, **more},
    )


# ----- records, log and result -------------------------------------------------------------------


def write_record(folder: Path, record: Mapping[str, Any]) -> None:
    """``folder/training.json``: how the checkpoint beside it was trained."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def finish(step: int, best: dict, clock: Clock, cpu: bool = False) -> dict:
    """The run's result, logged: the best checkpoint's record and the run's totals (its CPU
    minutes too when ``cpu``, for a training whose budget is CPU time)."""
    total = clock.wall()
    totals = {"total_minutes": round(total / 60, 2)}
    if cpu:
        totals["total_cpu_minutes"] = round(clock.cpu() / 60, 2)
    logger.info("done: %d steps in %.1f min; best %s", step, total / 60, best)
    return {**best, **totals, "total_steps": step}


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main(
    run: Callable[[Args], Mapping[str, Any]],
    cls: type[Args],
    argv: Sequence[str] | None,
    doc: str | None,
) -> int:
    """Parse ``argv`` into ``cls``, log to the console and to the run folder's log, ``run`` the
    training and print its result as the last line: one JSON object."""
    args = parse_args(cls, argv, doc)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    log_file = None
    if args.run_dir is not None:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        log_file = logging.FileHandler(args.run_dir / LOG_FILE)
        log_file.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(log_file)
    try:
        result = run(args)
    finally:
        if log_file is not None:
            logging.getLogger().removeHandler(log_file)
            log_file.close()
    print(json.dumps(result, default=str))
    return 0
