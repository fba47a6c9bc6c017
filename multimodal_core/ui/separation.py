"""The Separate sounds tab: a picture and a recording of several sounds in; click on one thing in
the picture and hear its sound alone, and the rest without it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from multimodal_core import registry, viz, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import separation
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    SHOWN_SIDE,
    ImageUpload,
    ResultImage,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

logger = logging.getLogger(__name__)

FAMILY = registry.family("separation")

SUMMARY = """Upload a picture and a recording of several things sounding at once (or pick an
example), then **click on the one you want to hear**: a model pulls its sound out of the mix."""

HOW_IT_WORKS = f"""The **built-in** model is the lecture's *Sound of Pixels* (Zhao et al. 2018).
It learned by **mix and separate**: the sounds of two or three things in a picture were added
together, and the model had to give each one back, told only which part of the picture it
belongs to. It reads the recording's spectrogram (its energy at each pitch, moment by moment)
and draws a **mask** over it: for every pitch and moment, the share that belongs to the thing
you clicked. The mask times the recording is the separated sound; what is left is *the rest*.
What the clicked place looks like comes from the Sound localization tab's model, which also
draws the map over the picture: bright where it hears the separated sound or the rest, so
those are the things that sound, worth clicking. It knows only the studio's synthetic world
(emoji instruments, animals, people, machines) and says so when a picture or a sound is not
from it.
{separation.NO_PRETRAINED}"""


def _examples(folder: Path) -> list[list[Any]]:
    """[picture, mixture, x, y] rows: each world example mixture (``separation/examples.json``,
    written by ``python -m multimodal_core.evaluate separation --write-examples``) once per
    sounding thing in it, clicked at its centre."""
    own = folder / "separation" / "examples.json"
    try:
        entries = json.loads(own.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("no separation examples in %s", own)
        return []
    rows = [
        [own.parent / e["image"], own.parent / e["audio"], *source["point"]]
        for e in entries
        for source in e["sources"]
    ]
    return [[str(p), str(a), x, y] for p, a, x, y in rows if p.is_file() and a.is_file()]


def _draw_in_worker(spectra: separation.Spectra) -> separation.Pictures:
    return workers.run(separation.spectrogram_pictures, spectra)  # matplotlib: off the GIL


def _playable(samples: np.ndarray, sample_rate: int) -> tuple[int, np.ndarray]:
    """(rate, 16-bit samples) for a gr.Audio output, clipped rather than wrapped around."""
    return sample_rate, (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


@user_errors("showing the picture")
def _preview(image_path: str | None) -> tuple[Any, ...]:
    """The picture to click on, as the task reads it, and the sizes that turn a click on the
    enlarged picture back into the picture's pixels; the last picture's results emptied."""
    emptied = (None,) * 6  # both sounds, the note and the three spectrograms
    if image_path is None:
        return None, None, *emptied
    picture = separation.preview(image_path)
    shown = viz.enlarge(picture, SHOWN_SIDE)
    return shown, {"width": picture.shape[1], "shown_width": shown.shape[1]}, *emptied


def _picked(size: dict | None, event: gr.SelectData) -> tuple[int, int]:
    """The clicked pixel of the shown picture, in the picture's own pixels."""
    if not size:
        raise gr.Error("Please upload a picture first, or pick an example.", print_exception=False)
    scale = size["width"] / size["shown_width"]
    x, y = event.index
    return int(x * scale), int(y * scale)


@user_errors("separating the sound")
def _separate(
    image_path: str | None, audio_path: str | None, x: float | None, y: float | None, model: str
):
    if image_path is None:
        raise gr.Error("Please upload a picture first, or pick an example.", print_exception=False)
    if audio_path is None:
        raise gr.Error(
            "Please upload or record the sounds too, or pick an example.", print_exception=False
        )
    result = separation.separate(
        image_path, audio_path, x, y, model or "builtin", draw=_draw_in_worker
    )
    return (
        _playable(result.separated, result.sample_rate),
        _playable(result.rest, result.sample_rate),
        separation.describe(result),
        viz.enlarge(result.overlay, SHOWN_SIDE),
        result.mixture_picture,
        result.mask_picture,
        result.separated_picture,
    )


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    size = gr.State(None)  # this visitor's picture: its width, and as shown
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picture = ImageUpload(
                label="Picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="separation-picture",
            )
            recording = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Recording",
                elem_id="separation-recording",
            )
            with gr.Row():
                # Short labels: they head the examples' columns too.
                x = gr.Number(label="x", info="pixels from the left", precision=0, minimum=0,
                              elem_id="separation-x")  # fmt: skip
                y = gr.Number(label="y", info="pixels from the top", precision=0, minimum=0,
                              elem_id="separation-y")  # fmt: skip
            model = model_choice(separation.CHOICES)
            gr.Markdown(separation.NO_PRETRAINED)
            run = gr.Button("Separate at this point", variant="primary", elem_id="separation-run")
            rows = _examples(settings.examples_dir)
            if rows:
                gr.Examples(
                    rows,
                    inputs=[picture, recording, x, y],
                    label="Example mixtures (x, y: the middle of one thing that sounds)",
                    examples_per_page=5,  # a short table: on a phone the result comes below
                )
        with gr.Column(scale=2):
            # A heading, not the image's own label, which would cover the top of the picture.
            gr.Markdown(
                "**Click on what you want to hear** (after a first separation: bright = where "
                "the model hears the separated sound or the rest; the ring is your point)"
            )
            clickable = ResultImage(
                label="Click on what you want to hear",
                show_label=False,
                elem_id="separation-map",
                interactive=False,
                buttons=["download"],
            )
            with gr.Row():
                separated = gr.Audio(
                    label="The separated sound", interactive=False, elem_id="separation-separated"
                )
                rest = gr.Audio(
                    label="The rest (without it)",
                    interactive=False,
                    elem_id="separation-rest",
                )
            note = gr.Markdown(
                f"Recordings longer than {settings.max_audio_seconds:.0f} s are trimmed.",
                elem_id="separation-note",
            )
            spectrograms = [
                ResultImage(
                    label=label,
                    show_label=False,  # each picture carries its own title
                    elem_id=f"separation-{name}",
                    interactive=False,
                    buttons=["download"],
                )
                for name, label in (
                    ("mixture", "Spectrogram of the recording"),
                    ("mask", "The mask"),
                    ("spectrogram", "Spectrogram of the separated sound"),
                )
            ]
    results = [separated, rest, note, *spectrograms]
    picture.change(
        _preview, picture, [clickable, size, *results], api_visibility="private", queue=False
    )
    inputs = [picture, recording, x, y, model]
    outputs = [separated, rest, note, clickable, *spectrograms]
    # The button is the tab's endpoint; a click on the picture fills in the point and runs the
    # same separation privately. The picture stays on screen meanwhile, to click on again.
    for trigger, event in (
        (run.click, {"api_name": FAMILY.api_name}),
        (
            clickable.select(_picked, size, [x, y], api_visibility="private", queue=False).success,
            {"api_visibility": "private"},
        ),
    ):
        cleared_first(
            trigger, _separate, inputs, outputs, kept=[clickable], concurrency_id=MODEL_QUEUE,
            **event,
        )  # fmt: skip
