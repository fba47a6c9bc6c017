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
    cleared_first,
    user_errors,
)

FAMILY = registry.family("captioning")

INTRO = """Upload a picture (or pick an example scene) and the model describes it in words.
The **built-in** model is *Show, Attend and Tell*: a small CNN cuts the picture into a 12 x 12
grid of regions, and an LSTM writes the caption word by word, each time **attending** to the
regions that matter for the next word (the heat maps below). **Beam search** keeps the k most
probable partial captions at every step instead of only the best one: the table lists all k with
their log probability and how sure the model was of each word. The built-in model knows only
the studio's synthetic world of emoji scenes; for photos choose the pretrained **BLIP**."""

BEAM_COLUMNS = ["rank", "caption", "log prob", "score", "words (probability)"]


def _draw_in_worker(maps: captioning.AttentionMaps) -> np.ndarray:
    return workers.run(captioning.attention_sheet, maps)  # numpy and PIL: off the GIL


@user_errors("captioning the picture")
def _caption(path: str | None, beam_size: float, model: str):
    if path is None:
        raise gr.Error(
            "Please upload a picture first, or pick one of the examples.", print_exception=False
        )
    result = captioning.caption_image(path, int(beam_size), model, draw=_draw_in_worker)
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
    return headline, note, rows, result.attention_grid  # no maps (None) for pretrained models


def build_tab() -> None:
    settings = get_settings()
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picture = ImageUpload(
                label="Picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="captioning-picture",
            )
            beam_size = gr.Slider(1, captioning.MAX_BEAMS, value=5, step=1, label="Beam size (k)")
            model = gr.Radio(
                captioning.CHOICES.labelled(), value=captioning.CHOICES.default(), label="Model"
            )
            run = gr.Button("Caption", variant="primary", elem_id="captioning-run")
            examples = sorted((settings.examples_dir / "captioning").glob("*.png"))[:12]
            if examples:
                gr.Examples(
                    [[str(path)] for path in examples], inputs=[picture], label="Example scenes"
                )
        with gr.Column(scale=2):
            caption = gr.Markdown("## ", elem_id="captioning-caption")
            note = gr.Markdown()
            beams = gr.Dataframe(
                headers=BEAM_COLUMNS,
                datatype=["number", "str", "number", "number", "str"],
                label="All beams (best first; score = log prob / length^alpha)",
                interactive=False,
                wrap=True,
                # Fits a desktop column without sideways scrolling; a phone scrolls sideways
                # instead of squeezing the numbers into one character per line.
                column_widths=["56px", "240px", "72px", "72px", "340px"],
                max_height=640,  # five wrapped beams without an inner scroll bar
                elem_id="captioning-beams",
            )
            # A heading, not the image's own label, which would cover the first row of maps.
            gr.Markdown("**Where the model looked for each word** (built-in model; red = most)")
            attention = ResultImage(
                label="Where the model looked for each word (built-in model)",
                show_label=False,
                elem_id="captioning-attention",
                interactive=False,
                buttons=["download", "fullscreen"],  # small maps on a phone: tap to enlarge
            )
    cleared_first(
        run.click,
        _caption,
        [picture, beam_size, model],
        [caption, note, beams, attention],
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
