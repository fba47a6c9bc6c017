"""The Captioning tab: a picture in, its caption, every beam, and where the model looked."""

from __future__ import annotations

import gradio as gr
import numpy as np

from multimodal_core import registry, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import captioning
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    ImageUpload,
    ResultImage,
    SideBySide,
    Summary,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

FAMILY = registry.family("captioning")

SUMMARY = """Upload a picture (or pick an example scene) and a model describes it in words."""

HOW_IT_WORKS = """The **built-in** model is *Show, Attend and Tell*: a small CNN cuts the picture
into a 12 x 12 grid of regions, and an LSTM (a recurrent network that writes one word at a time)
writes the caption, each time **attending** to the regions that matter for the next word (the
heat maps). **Beam search** keeps the k most likely partial captions at every step instead of only
the best one; the table lists all k. The built-in models know only the studio's synthetic world
of emoji scenes and say so when a picture is not from it; photos need a pretrained model
(**BLIP** or **GIT**), which downloads from the internet the first time.

*Compare with* runs a second model on the same picture and shows both captions side by side, with
the time each took."""

BEAM_COLUMNS = ["rank", "caption", "log prob", "score", "words (probability)"]
BEAMS_LABEL = (
    "All beams, best first. log prob: how likely the model finds the whole caption (0 is "
    "certain, more negative is less likely); score: the log prob divided by the caption's "
    "length to a power (length^alpha), so long captions are not ranked last for being long"
)


def _draw_in_worker(maps: captioning.AttentionMaps) -> np.ndarray:
    return workers.run(captioning.attention_sheet, maps)  # numpy and PIL: off the GIL


@user_errors("captioning the picture")
def _caption(path: str | None, beam_size: float, model: str):
    result = _captioned(path, beam_size, model)
    rows = [
        [
            rank,
            beam.text,
            round(beam.log_prob, 3),
            round(beam.score, 3),
            " ".join(f"{t} ({p:.2f})" for t, p in zip(beam.tokens, beam.token_probs, strict=True)),
        ]
        for rank, beam in enumerate(result.beams, start=1)
    ]
    headline = f"## {result.caption or '(no caption)'}"
    note = f"**Note:** {result.note}" if result.note else ""
    return headline, note, rows, result.attention_grid  # None without attention (see the note)


def _shown_if_any(maps: object) -> dict:
    """The maps' box, hidden for a model without attention instead of an empty frame."""
    return gr.update(visible=maps is not None)


def _captioned(path: str | None, beam_size: float, model: str) -> captioning.CaptionResult:
    if path is None:
        raise gr.Error(
            "Please upload a picture first, or pick one of the examples.", print_exception=False
        )
    return captioning.caption_image(path, int(beam_size), model, draw=_draw_in_worker)


def _summary(result: captioning.CaptionResult) -> Summary:
    """A comparison column: the caption and the note, no maps (too small side by side)."""
    note = f"\n\n*{result.note}*" if result.note else ""
    return f"### {result.caption or '(no caption)'}{note}", None


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picture = ImageUpload(
                label="Picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="captioning-picture",
            )
            beam_size = gr.Slider(
                1,
                captioning.MAX_BEAMS,
                value=5,
                step=1,
                label="Beam size (k)",
                info="How many candidate captions are kept at each word; 1 = always the likeliest.",
            )
            model = model_choice(captioning.CHOICES)
            side_by_side = SideBySide(captioning.CHOICES, "captioning")
            run = gr.Button("Caption", variant="primary", elem_id="captioning-run")
            examples = sorted((settings.examples_dir / "captioning").glob("*.png"))[:12]
            if examples:
                gr.Examples(
                    [[str(path)] for path in examples], inputs=[picture], label="Example scenes"
                )
        with gr.Column(scale=2):
            caption = gr.Markdown("## ", elem_id="captioning-caption")
            note = gr.Markdown(elem_id="captioning-note")
            side_by_side.build_columns("captioning")
            beams = gr.Dataframe(
                headers=BEAM_COLUMNS,
                datatype=["number", "str", "number", "number", "str"],
                label=BEAMS_LABEL,
                interactive=False,
                wrap=True,
                # Fits a desktop column without sideways scrolling; a phone scrolls sideways
                # instead of squeezing the numbers into one character per line.
                column_widths=["56px", "240px", "72px", "72px", "340px"],
                max_height=640,  # five wrapped beams without an inner scroll bar
                elem_id="captioning-beams",
            )
            # A heading, not the image's own label, which would cover the first row of maps.
            gr.Markdown(
                "**Where the model looked for each word** (models with attention only; "
                "bright = most, the rest of the picture dimmed)"
            )
            attention = ResultImage(
                label="Where the model looked for each word",
                show_label=False,
                elem_id="captioning-attention",
                interactive=False,
                buttons=["download", "fullscreen"],  # small maps on a phone: tap to enlarge
            )
    captioned = cleared_first(
        run.click,
        _caption,
        [picture, beam_size, model],
        [caption, note, beams, attention],
        also_cleared=side_by_side.outputs,
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
    captioned.success(
        _shown_if_any,
        attention,
        attention,
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    side_by_side.follow(
        captioned, _captioned, _summary, [picture, beam_size], model, "comparing the captions"
    )
