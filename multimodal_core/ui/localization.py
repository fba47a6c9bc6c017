"""The Sound-source localization tab: a picture and a recording in, where the sound comes from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import gradio as gr
import numpy as np

from multimodal_core import registry, viz, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import localization
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    SHOWN_SIDE,
    ImageUpload,
    ResultImage,
    SideBySide,
    Summary,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

logger = logging.getLogger(__name__)

FAMILY = registry.family("localization")

SUMMARY = """Upload a picture and a recording (or record one), and a model shows **where in the
picture the sound comes from**."""

HOW_IT_WORKS = """The **built-in** model is the lecture's *visual net + audio net + attention
net* (Senocak et al. 2018): it cuts the picture into a 32 x 32 grid of regions, turns the sound's
mel spectrogram (its energy at each pitch, moment by moment, on a scale close to hearing) into one
vector, and scores every region by how well it matches the sound. It learned this only by matching
sounds with the pictures they came from, never from boxes drawn by people. It knows only the
studio's synthetic world (emoji instruments, animals, people, phones, bells...) and says so when a
picture or a sound is not from it. The **zero-shot** choice names the sound with CLAP and then
finds that thing in the picture with CLIPSeg; both download from the internet the first time.

*Compare with* runs a second model on the same picture and sound: both maps side by side, timed."""


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("could not read %s", path)
        return None


def _examples(folder: Path) -> list[list[str]]:
    """[picture, recording] pairs: the world's localization examples (``examples.json``), then
    this tab's swap pairs (``localization/examples.json``: one picture, two of its sounds)."""
    pairs: list[list[Path]] = []
    world = _read_json(folder / "examples.json") if (folder / "examples.json").is_file() else None
    if isinstance(world, dict):
        for entry in world.get("examples", []):
            if "localization" in str(entry.get("task", "")) and entry.get("audio"):
                pairs.append([folder / entry["file"], folder / entry["audio"]])
    own = folder / "localization" / "examples.json"
    entries = _read_json(own) if own.is_file() else None
    if isinstance(entries, list):
        pairs += [[own.parent / e["image"], own.parent / e["audio"]] for e in entries]
    return [[str(p) for p in pair] for pair in pairs if all(p.is_file() for p in pair)][:12]


def _draw_in_worker(hearing: localization.Hearing) -> np.ndarray:
    return workers.run(localization.hearing_image, hearing)  # matplotlib: off the GIL


@user_errors("locating the sound")
def _localize(image_path: str | None, audio_path: str | None, model: str):
    result = _located(image_path, audio_path, model)
    return (
        viz.enlarge(result.overlay, SHOWN_SIDE),
        result.spectrogram,
        localization.describe(result),
    )


def _located(
    image_path: str | None, audio_path: str | None, model: str
) -> localization.LocalizationResult:
    if image_path is None:
        raise gr.Error("Please upload a picture first, or pick an example.", print_exception=False)
    if audio_path is None:
        raise gr.Error(
            "Please upload or record a sound too, or pick an example.", print_exception=False
        )
    return localization.localize(image_path, audio_path, model, draw=_draw_in_worker)


def _summary(result: localization.LocalizationResult) -> Summary:
    return localization.describe(result), viz.enlarge(result.overlay, SHOWN_SIDE)


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picture = ImageUpload(
                label="Picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="localization-picture",
            )
            recording = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Recording",
                elem_id="localization-recording",
            )
            model = model_choice(localization.CHOICES)
            side_by_side = SideBySide(localization.CHOICES, "localization")
            run = gr.Button("Locate the sound", variant="primary", elem_id="localization-run")
            pairs = _examples(settings.examples_dir)
            if pairs:
                gr.Examples(
                    pairs,
                    inputs=[picture, recording],
                    label="Example pictures and sounds",
                    examples_per_page=5,  # a short table: on a phone the result comes below
                )
        with gr.Column(scale=2):
            # A heading, not the image's own label, which would cover the top of the picture.
            gr.Markdown(
                "**Where the sound comes from** (bright = most likely, the rest of the picture "
                "dimmed)"
            )
            overlay = ResultImage(
                label="Where the sound comes from",
                show_label=False,
                elem_id="localization-overlay",
                interactive=False,
                buttons=["download"],
            )
            note = gr.Markdown(
                f"Recordings longer than {settings.max_audio_seconds:.0f} s are trimmed."
            )
            spectrogram = ResultImage(
                label="What the model hears (mel spectrogram)",
                show_label=False,  # the picture carries its own title
                elem_id="localization-spectrogram",
                interactive=False,
                buttons=["download"],
            )
            side_by_side.build_columns("localization")
    located = cleared_first(
        run.click,
        _localize,
        [picture, recording, model],
        [overlay, spectrogram, note],
        also_cleared=side_by_side.outputs,
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
    side_by_side.follow(
        located, _located, _summary, [picture, recording], model, "comparing the two models"
    )
