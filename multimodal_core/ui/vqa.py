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
    SideBySide,
    Summary,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

FAMILY = registry.family("vqa")

SUMMARY = """Upload a picture (or pick an example scene), ask a question about it in English, and
a model answers."""

HOW_IT_WORKS = """The models answer from a fixed list of answers. The **built-in** model has two
streams: a small CNN (a network for pictures) cuts the picture into a grid of regions, a recurrent
network reads the question word by word, and the question **guides attention** over the regions
twice (stacked attention) before a classifier picks the answer; a second, unnormalised glimpse
lets it count. The heat map shows where it looked. It knows only the studio's synthetic world (or,
as the second choice, the easy-vqa shapes) and the words of its training questions; other words
("puppy") are matched to ones it knows ("dog") by a sentence encoder, and the answer shows the
question as it read it. It says so when a picture is not from its world. For photos, the
pretrained **ViLT** and **BLIP** models read any question; they download from the internet the
first time.

*Compare with* runs a second model on the same picture and question: both answers side by side,
timed."""


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
    result = _answered(path, question, model)
    top = {answer: score for answer, score in result.top}
    overlay = None if result.overlay is None else viz.enlarge(result.overlay, SHOWN_SIDE)
    return f"## {result.answer}", top, overlay, "  \n".join([*_read_as(result), *result.notes])


def _answered(path: str | None, question: str, model: str) -> vqa.VQAResult:
    if path is None:
        raise gr.Error(
            "Please upload a picture first, or pick one of the examples.", print_exception=False
        )
    return vqa.answer_question(path, question, model)


def _read_as(result: vqa.VQAResult) -> list[str]:
    """The question in a built-in model's own words (pretrained models read it as typed)."""
    return [f"**Read as:** “{result.read_as}”"] if result.model in vqa.CHECKPOINTS else []


def _summary(result: vqa.VQAResult) -> Summary:
    runners_up = ", ".join(f"{answer} {score:.0%}" for answer, score in result.top[1:3])
    lines = [f"### {result.answer}", *_read_as(result), f"then: {runners_up}" if runners_up else ""]
    overlay = None if result.overlay is None else viz.enlarge(result.overlay, SHOWN_SIDE)
    return "  \n".join(line for line in lines if line), overlay


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
    intro(SUMMARY, HOW_IT_WORKS)
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
            model = model_choice(vqa.CHOICES)
            side_by_side = SideBySide(vqa.CHOICES, "vqa")
            run = gr.Button("Answer", variant="primary", elem_id="vqa-run")
            if rows:
                gr.Examples(rows, inputs=[picture, question], label="Example scenes")
            gr.Examples([[q] for q in questions], inputs=[question], label="Example questions")
        with gr.Column(scale=2):
            answer = gr.Markdown("## ", elem_id="vqa-answer")
            notes = gr.Markdown(elem_id="vqa-notes")  # "Read as: ..." first, under the answer
            side_by_side.build_columns("vqa")
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
    for trigger, visibility in ((run.click, "public"), (question.submit, "private")):
        answered = cleared_first(
            trigger,
            _answer,
            [picture, question, model],
            [answer, top, attention, notes],
            also_cleared=side_by_side.outputs,
            api_name=FAMILY.api_name if visibility == "public" else None,
            api_visibility=visibility,
            concurrency_id=MODEL_QUEUE,
        )
        side_by_side.follow(
            answered, _answered, _summary, [picture, question], model, "comparing the answers"
        )
