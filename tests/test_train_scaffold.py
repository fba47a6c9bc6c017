"""The training scaffolding every entry point shares: arguments from a dataclass, the cosine
schedule, resume state, budgeted stages, the run log and the final JSON line."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_core.train import scaffold
from multimodal_core.train.stages import Stage, finish_stage, run_stage


@dataclass
class ToyArgs:
    """Arguments of a toy training."""

    out: Path = Path("checkpoints/toy")  # where the checkpoint goes
    run_dir: Path | None = None  # resume state and log
    data: str = field(default="world", metadata={"choices": ("world", "easyvqa")})  # the data
    minutes: float = 2.0  # a budget, its comment inside the brackets
    steps: int = 3
    tag: str = ""  # 50% of nothing
    resume: bool = False  # go on from --run-dir


@dataclass
class SwitchedOn:
    fast: bool = True


def test_arguments_come_from_the_dataclass_with_its_comments_as_help() -> None:
    args = scaffold.parse_args(ToyArgs, [], "Toy.\n\nMore.")
    assert args == ToyArgs()
    args = scaffold.parse_args(
        ToyArgs,
        ["--run-dir", "r", "--data", "easyvqa", "--minutes", "0.5", "--steps", "7", "--resume"],
        None,
    )
    assert args.run_dir == Path("r") and args.data == "easyvqa" and args.resume
    assert args.minutes == 0.5 and args.steps == 7
    help_text = scaffold.build_parser(ToyArgs, "Toy.\n\nMore.").format_help()
    for words in ("Toy.", "where the checkpoint goes", "its comment inside the brackets",
                  "50% of nothing", "go on from --run-dir", "default: 3"):  # fmt: skip
        assert words in " ".join(help_text.split()), words
    assert "More." not in help_text
    with pytest.raises(SystemExit):
        scaffold.parse_args(ToyArgs, ["--data", "coco"], None)
    with pytest.raises(TypeError, match="switch"):
        scaffold.build_parser(SwitchedOn, None)


def test_cosine_schedule_warms_up_decays_and_keeps_its_floor() -> None:
    lr, floor = 2e-3, 0.05
    assert scaffold.cosine_lr(lr, 0.7, floor, step=0, warmup_steps=100) == lr / 100
    assert scaffold.cosine_lr(lr, 0.7, floor, step=49, warmup_steps=100) == lr / 2
    assert scaffold.cosine_lr(lr, 0.0, floor) == lr
    assert scaffold.cosine_lr(lr, 0.5, floor) == pytest.approx(lr * (floor + (1 - floor) / 2))
    assert scaffold.cosine_lr(lr, 1.0, floor) == pytest.approx(lr * floor)
    assert scaffold.cosine_lr(lr, 3.0, floor) == scaffold.cosine_lr(lr, 1.0, floor)
    values = [scaffold.cosine_lr(lr, p, floor) for p in np.linspace(0, 1, 11)]
    assert values == sorted(values, reverse=True)


def test_the_clock_counts_the_time_of_the_runs_it_resumes() -> None:
    clock = scaffold.Clock(wall=90.0, cpu=30.0)
    assert 90.0 <= clock.wall() < 100.0 and 30.0 <= clock.cpu() < 40.0


def test_resume_state_round_trips_weights_and_records(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    record = {"step": 5, "best": {"loss": math.inf, "out": tmp_path}, "vocab": ["a", "b"]}
    scaffold.save_state(tmp_path / "run", {"model": model.state_dict(),
                        "optimizer": optimizer.state_dict()}, record)  # fmt: skip

    assert scaffold.load_state(tmp_path / "run", resume=False) is None
    assert scaffold.load_state(tmp_path / "elsewhere", resume=True) is None
    state = scaffold.load_state(tmp_path / "run", resume=True)
    assert state is not None
    assert state.record == {"step": 5, "best": {"loss": math.inf, "out": str(tmp_path)},
                            "vocab": ["a", "b"]}  # fmt: skip
    restored = torch.nn.Linear(3, 2)
    restored.load_state_dict(state.weights["model"])
    assert torch.equal(restored.weight, model.weight)
    torch.optim.Adam(restored.parameters()).load_state_dict(state.weights["optimizer"])
    assert [p.name for p in (tmp_path / "run").iterdir()] == [scaffold.STATE_FILE]


def test_main_logs_into_the_run_folder_and_prints_one_json_line_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    def run(args: ToyArgs) -> dict:
        print("a table for people")
        logging.getLogger("toy").info("training %s", args.data)
        return {"steps": args.steps, "out": args.out}

    assert scaffold.main(run, ToyArgs, ["--run-dir", str(tmp_path), "--steps", "4"], None) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "a table for people"
    assert json.loads(lines[-1]) == {"steps": 4, "out": "checkpoints/toy"}
    assert "training world" in (tmp_path / scaffold.LOG_FILE).read_text()
    log = str(tmp_path / scaffold.LOG_FILE)
    assert not any(getattr(h, "baseFilename", "") == log for h in logging.getLogger().handlers)


def toy_stage(tmp_path: Path, module: torch.nn.Linear) -> Stage:
    optimiser = torch.optim.SGD(module.parameters(), lr=0.1)
    target = torch.ones(4, 1)

    def step(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        x = torch.from_numpy(rng.random((4, 2))).float()
        loss = (module(x) - target).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach()}

    def validate(step: int, best: dict) -> dict:
        return {"step": step} if step > best["step"] else best

    return Stage("toy", module, optimiser, 1e-9, 0, step, validate, {"step": -1})


def test_a_stage_runs_out_its_budget_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    first = run_stage(toy_stage(tmp_path, torch.nn.Linear(2, 1)), 0.1, 5, tmp_path, None, {})
    assert first["steps"] == 1 and first["step"] == 1  # a budget of nothing: one step, validated
    state = scaffold.load_state(tmp_path, resume=True)
    assert state is not None and state.record["stage"] == "toy" and state.record["step"] == 1

    module = torch.nn.Linear(2, 1)
    resumed = run_stage(toy_stage(tmp_path, module), 0.1, 5, tmp_path, state, {"faces": {}})
    assert resumed["steps"] == 2 and resumed["step"] == 2
    after = scaffold.load_state(tmp_path, resume=True)
    assert after is not None and after.record["finished"] == {"faces": {}}
    assert torch.equal(after.weights["module"]["weight"], module.weight.detach())

    finish_stage(tmp_path, {"faces": {}, "toy": resumed})
    done = scaffold.load_state(tmp_path, resume=True)
    assert done is not None and done.record["stage"] is None and "toy" in done.record["finished"]
