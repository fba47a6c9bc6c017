"""The Visual QA tab: a picture and a question in; the answer, the top five, and where it looked."""

from __future__ import annotations

import json

import gradio as gr

from multimodal_core import registry, viz
from multimodal_core.settings import get_settings
from multimodal_core.tasks import vqa
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    SHOWN_SIDE,
    ImageUpload,
    ResultImage,
    cleared_first,
    user_errors,
)

FAMILY = registry.family("vqa")

INTRO = """Upload a picture (or pick an example scene), ask a question in English, and the model
answers from a fixed list of answers. The **built-in** model has two streams: a small CNN cuts the
picture into a grid of regions, a recurrent network reads the question, and the question **guides
attention** over the regions twice (stacked attention) before a classifier picks the answer; a
second, unnormalised glimpse lets it count. The heat map shows where it looked. It knows only the
studio's synthetic world (or, as the second choice, the easy-vqa shapes); words it was not taught
("puppy") are matched to ones it knows ("dog") by a sentence encoder. For photos choose a
pretrained model (**ViLT** or **BLIP**), which need the internet once to download."""


def _examples() -> tuple[list[list[str]], list[str]]:
    """Example scenes with one of their questions each (from examples/examples.json, which the
    world writes with every question and answer), and questions to try on any scene."""
    folder = get_settings().examples_dir
    rows: list[list[str]] = []
    index = folder / "examples.json"
    if index.is_file():
        entries = json.loads(index.read_text(encoding="utf-8")).get("examples", [])
        scenes = [e for e in entries if "vqa" in e.get("task", "") and e.get("questions")]
        for n, entry in enumerate(scenes[:12]):
            path = folder / entry["file"]
            question = entry["questions"][(n + 1) % len(entry["questions"])]["question"]
            if path.is_file():
                rows.append([str(path), question])
    return rows, vqa.example_questions()


@user_errors("answering the question")
def _answer(path: str | None, question: str, model: str):
    if path is None:
        raise gr.Error(
            "Please upload a picture first, or pick one of the examples.", print_exception=False
        )
    result = vqa.answer_question(path, question, model)
    top = {answer: score for answer, score in result.top}
    overlay = None if result.overlay is None else viz.enlarge(result.overlay, SHOWN_SIDE)
    read = [f"**Read as:** “{result.read_as}”"] if result.model in vqa.CHECKPOINTS else []
    return f"## {result.answer}", top, overlay, "  \n".join([*read, *result.notes])


def _question_kinds() -> str:
    """The kinds of question each built-in model was trained on, as a Markdown list."""
    parts = []
    for choice in vqa.CHOICES.choices:
        kinds = vqa.question_kinds(choice.key)
        if kinds:
            rows = "\n".join(f"- “{question}” ({kind})" for kind, question in kinds)
            parts.append(f"**{choice.label}**\n\n{rows}")
    parts.append(
        "The pretrained models read any question in English. A built-in model answers a "
        "question of another kind from the same list of answers, so its answer means little."
    )
    return "\n\n".join(parts)


def build_tab() -> None:
    settings = get_settings()
    rows, questions = _examples()
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picture = ImageUpload(
                label="Picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="vqa-picture",
            )
            question = gr.Textbox(
                label="Question",
                placeholder="what is on the left?",
                max_lines=2,
                max_length=settings.max_text_chars,
                elem_id="vqa-question",
            )
            with gr.Accordion("Questions this model can answer", open=False):
                gr.Markdown(_question_kinds(), elem_id="vqa-question-kinds")
            model = gr.Radio(vqa.CHOICES.labelled(), value=vqa.CHOICES.default(), label="Model")
            run = gr.Button("Answer", variant="primary", elem_id="vqa-run")
            if rows:
                gr.Examples(rows, inputs=[picture, question], label="Example scenes")
            gr.Examples([[q] for q in questions], inputs=[question], label="Example questions")
        with gr.Column(scale=2):
            answer = gr.Markdown("## ", elem_id="vqa-answer")
            notes = gr.Markdown(elem_id="vqa-notes")  # "Read as: ..." first, under the answer
            top = gr.Label(
                num_top_classes=vqa.TOP_K,
                label="Top answers",
                show_heading=False,  # the answer is already the headline above
                elem_id="vqa-top",
            )
            # A heading, not the image's own label, which would cover the top of the picture.
            gr.Markdown(
                "**Where the model looked** (built-in models; brighter = more, the strongest "
                "part outlined)"
            )
            attention = ResultImage(
                label="Where the model looked (built-in models)",
                show_label=False,
                elem_id="vqa-attention",
                interactive=False,
                buttons=["download"],
            )
    cleared_first(
        run.click,
        _answer,
        [picture, question, model],
        [answer, top, attention, notes],
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
    cleared_first(
        question.submit,
        _answer,
        [picture, question, model],
        [answer, top, attention, notes],
        api_visibility="private",
        concurrency_id=MODEL_QUEUE,
    )
