"""The Sound to scene tab: a recording in, what a sound network hears in it (and, for a world
example, what the picture network that taught it saw in the paired picture)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import gradio as gr

from multimodal_core import registry
from multimodal_core.settings import get_settings
from multimodal_core.tasks import soundnet
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    ImageUpload,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

logger = logging.getLogger(__name__)

FAMILY = registry.family("soundnet")

SUMMARY = """Upload or record a sound, and a network that only ever heard sounds says **which
objects it hears**."""

HOW_IT_WORKS = """The **built-in** model is the lecture's *SoundNet* (Aytar, Vondrick and Torralba
2016), taught without a single human label. A **picture network** (the teacher, the studio's
world classifier) labels the "videos" of the synthetic world by looking at their pictures; a
**sound network** (the student, 1-D convolutions on the raw waveform) learns to hear what the
teacher saw, by matching the teacher's answer from the soundtrack alone. No person labels
anything. Pick a world example to see the picture, the teacher's bars on it and the student's
bars on its sound side by side. The student knows only the synthetic world's sounds and says so
when a recording is not from it. The **zero-shot** choice is CLAP, which scores the labels you
type (it downloads from the internet the first time)."""


def _examples(folder: Path) -> list[list[str]]:
    """[recording, picture] pairs of the world examples (``soundnet/examples.json``)."""
    own = folder / "soundnet" / "examples.json"
    try:
        entries = json.loads(own.read_text(encoding="utf-8")) if own.is_file() else []
    except (OSError, ValueError):
        logger.warning("could not read %s", own)
        return []
    pairs = [[own.parent / e["audio"], own.parent / e["image"]] for e in entries]
    return [[str(p) for p in pair] for pair in pairs if all(p.is_file() for p in pair)][:12]


def _bars(ranked: list[tuple[str, float]] | None) -> dict[str, float] | None:
    return None if ranked is None else dict(ranked[: soundnet.TOP])


@user_errors("listening to the sound")
def _hear(audio_path: str | None, picture_path: str | None, model: str, labels: str):
    if audio_path is None:
        raise gr.Error(
            "Please upload or record a sound first, or pick an example.", print_exception=False
        )
    result = soundnet.hear(audio_path, model, labels=labels or None, picture=picture_path)
    return (
        _bars(result.heard),
        gr.update(value=_bars(result.teacher), visible=result.teacher is not None),
        soundnet.describe(result),
    )


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            recording = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Sound",
                elem_id="soundnet-recording",
            )
            model = model_choice(soundnet.CHOICES)
            labels = gr.Textbox(
                label="Labels for CLAP (zero-shot only; comma-separated; empty: the world sounds)",
                placeholder=", ".join(soundnet.DEFAULT_LABELS[:6]),
                max_lines=3,
                elem_id="soundnet-labels",
            )
            picture = ImageUpload(
                label="Paired picture (optional: what the teacher sees)",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="soundnet-picture",
                height=200,
            )
            run = gr.Button("Hear it", variant="primary", elem_id="soundnet-run")
            pairs = _examples(settings.examples_dir)
            if pairs:
                gr.Examples(
                    pairs,
                    inputs=[recording, picture],
                    label="World videos (sound and picture)",
                    examples_per_page=6,
                )
        with gr.Column(scale=2):
            with gr.Row():
                heard = gr.Label(
                    label="What the student hears (sound only)",
                    num_top_classes=soundnet.TOP,
                    elem_id="soundnet-heard",
                )
                seen = gr.Label(
                    label="What the teacher sees (picture only)",
                    num_top_classes=soundnet.TOP,
                    visible=False,
                    elem_id="soundnet-seen",
                )
            note = gr.Markdown(
                f"Recordings longer than {settings.max_audio_seconds:.0f} s are trimmed."
            )
    cleared_first(
        run.click,
        _hear,
        [recording, picture, model, labels],
        [heard, seen, note],
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
