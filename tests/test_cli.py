"""The command line lists its subcommands and answers in words or JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from multimodal_core.registry import FAMILIES, TaskFamily

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multimodal_core", *args],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_help_lists_the_subcommands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert all(family.command in result.stdout for family in FAMILIES)


def test_sound_json_and_pictures(tmp_path: Path) -> None:
    rate = 22_050
    soundfile.write(tmp_path / "a.wav", 0.2 * np.sin(np.arange(rate) / 3.0), rate)
    result = run_cli("sound", str(tmp_path / "a.wav"), "--json", "--out", str(tmp_path / "pics"))
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["seconds"] == 1.0 and facts["channels"] == 1
    assert all((tmp_path / "pics" / f"{name}.png").is_file() for name in ("stft", "mel", "mfcc"))


def test_bad_file_gives_a_sentence_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"")
    result = run_cli("sound", str(tmp_path / "x.wav"))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "This file is empty; please upload a WAV, MP3, FLAC, OGG or M4A recording."
    )


def test_every_measured_family_has_an_evaluation_with_its_name() -> None:
    import importlib

    from multimodal_core.evaluate.__main__ import evaluations

    commands = evaluations()
    for family in FAMILIES:
        assert (family.evaluation in commands) == family.evaluated, family.name
    for name in commands.values():
        module = importlib.import_module(f"multimodal_core.evaluate.{name}")
        assert callable(module.add_arguments) and callable(module.run), name


def test_a_verb_names_the_command_and_the_endpoint_and_the_name_the_rest() -> None:
    family = TaskFamily("sound_to_scene", "Sound to scene", "Matching", verb="hear_scene")
    assert (family.api_name, family.command, family.evaluation) == (
        "hear_scene", "hear-scene", "sound-to-scene",
    )  # fmt: skip
    plain = TaskFamily("sound_to_scene", "Sound to scene", "Matching")
    assert (plain.api_name, plain.command) == ("sound_to_scene", "sound-to-scene")
    with pytest.raises(ValueError, match="lower-case identifiers"):
        TaskFamily("sound_to_scene", "Sound to scene", "Matching", verb="Hear scene")
