"""The Search tab: one space for pictures and words; search a gallery by words, by a picture or
by "this picture - dog + cat", see the ranked results, a picture's tags and a 2-D map."""

from __future__ import annotations

from typing import Any

import gradio as gr

from multimodal_core import registry, viz, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import matching
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    ImageUpload,
    ResultGallery,
    ResultImage,
    SideBySide,
    Summary,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

FAMILY = registry.family("matching")

SUMMARY = """Describe a picture in words, or give a picture (and, if you like, words to take away
and add: **this picture - dog + cat**), and see the pictures of the gallery that are nearest in
one space shared by pictures and words."""

HOW_IT_WORKS = """The **built-in** model joins two networks trained separately, one for pictures
(the studio's world classifier, a small CNN) and one for words (the skip-gram word vectors of the
Words tab, read in order by a small recurrent network), with two **projections** into one shared
space of 256 numbers. The projections were trained on the synthetic world's scenes and captions
with a **metric-learning** loss (InfoNCE: a picture and its caption are pulled together, the other
captions of the batch pushed away) plus **semantic regularization**: one classifier, shared by
both sides, must name the scene's objects and background from either embedding, so both kinds of
input end up saying the same things. Nearness is the **cosine** of two embeddings (1: same
direction). A picture's **tags** are the object names whose embedding is near enough to it (at
least 0.19, the threshold that tagged validation scenes best). "Picture - dog + cat" subtracts the
embedding of the words "dog" and adds that of "cat". The map shows the gallery and the query on
the two directions in which the gallery's embeddings differ most (PCA).

It knows only the synthetic world (emoji on plain or textured backgrounds) and its words: it says
so when a picture is not from that world. For photos, choose the pretrained **CLIP** (OpenAI,
trained on 400 million pictures and their captions from the web); it downloads the first time.
**Classify** is CLIP's zero-shot classification: type labels ("a cat, a dog, a car") and see, for
the picture, the probability of each (a softmax over the labels of the scaled cosines).

The default gallery is 200 held-out test scenes the built-in model never saw in training; you
can upload up to 100 pictures of your own instead (kept for you alone, for this visit)."""

BY = ("words", "picture")
COLUMNS = ["rank", "picture", "cosine", "caption"]
SHOWN_SIDE = 192  # a 64 px world scene, enlarged three times


def _shown(picture: Any) -> Any:
    return viz.enlarge(picture, SHOWN_SIDE)


def _draw_map(space: matching.SpaceMap):
    return workers.run(matching.map_picture, space)  # matplotlib: off the GIL


def _no_map(space: matching.SpaceMap) -> None:
    """The columns that compare two models show no map."""


def _searched(
    by: str, text: str, picture: str | None, minus: str, plus: str,
    gallery: matching.Gallery | None, model: str, draw: Any = _draw_map,
) -> matching.SearchResult:  # fmt: skip
    if by == "picture":
        return matching.search_picture(picture, minus, plus, gallery, model, draw=draw)
    return matching.search_text(text, gallery, model, draw=draw)


def _compared(*values: Any) -> matching.SearchResult:
    return _searched(*values, draw=_no_map)


def _summary(result: matching.SearchResult) -> Summary:
    """The first four results of a model, for the columns that compare two."""
    lines = [f"{h.rank}. {h.caption or h.name} ({h.score:.3f})" for h in result.hits[:4]]
    return "  \n".join([*lines, *result.notes[:1]]), matching.strip(result.pictures[:4])


@user_errors("searching the gallery")
def _search(
    by: str, text: str, picture: str | None, minus: str, plus: str, model: str,
    gallery: matching.Gallery | None = None,
):  # fmt: skip
    result = _searched(by, text, picture, minus, plus, gallery, model)
    heading = f"### {result.query}  \nin {result.gallery}"
    if result.hits:
        best = result.hits[0]
        heading += f": best **{best.caption or best.name}** ({best.score:.3f})"
    shown = [
        (_shown(p), f"{h.rank}. {h.score:.3f} {h.caption or h.name}")
        for h, p in zip(result.hits, result.pictures, strict=True)
    ]
    rows = [[h.rank, h.name, round(h.score, 3), h.caption] for h in result.hits]
    notes = list(result.notes)
    if result.tags:
        notes.insert(0, "**The picture's tags:** " + ", ".join(f"{t} ({s:.2f})" for t, s in
                                                             result.tags))  # fmt: skip
    return heading, shown, rows, result.map_picture, "  \n".join(notes)


@user_errors("tagging the picture")
def _tags(picture: str | None, model: str) -> str:
    result = matching.tag_picture(picture, model)
    lines = ["**Tags:** " + ", ".join(f"{t} ({s:.2f})" for t, s in result.tags)]
    if result.background:
        word, p = result.background
        lines.append(f"**Background:** {word} ({p:.0%})")
    return "  \n".join([*lines, *result.notes])


@user_errors("classifying the picture")
def _classify(picture: str | None, labels: str, model: str):
    result = matching.classify(picture, labels, model)
    return {label: p for label, p in result.labels}, "  \n".join(result.notes)


@user_errors("reading your pictures")
def _use_uploads(files: list[str] | None) -> tuple[matching.Gallery, str]:
    gallery = matching.load_gallery(files)
    said = f"Searching **{gallery.description}**."
    return gallery, "  \n".join([said, *gallery.notes])


def _use_world() -> tuple[None, str]:
    return None, "Searching the world's 200 held-out test scenes."


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    gallery = gr.State(None)  # this visitor's uploaded pictures; None: the world's scenes
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            by = gr.Radio(list(BY), value="words", label="Search by", elem_id="search-by")
            text = gr.Textbox(
                label="Words",
                placeholder="a dog on a blue background",
                max_lines=2,
                max_length=settings.max_text_chars,
                elem_id="search-text",
            )
            picture = ImageUpload(
                label="Picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="search-picture",
            )
            with gr.Row():
                minus = gr.Textbox(label="- words (optional)", placeholder="dog", max_lines=1,
                                   elem_id="search-minus")  # fmt: skip
                plus = gr.Textbox(label="+ words (optional)", placeholder="cat", max_lines=1,
                                  elem_id="search-plus")  # fmt: skip
            model = model_choice(matching.CHOICES)
            side_by_side = SideBySide(matching.CHOICES, "search")
            run = gr.Button("Search", variant="primary", elem_id="search-run")
            tag = gr.Button("Tags of the picture", elem_id="search-tag")
            tags = gr.Markdown(elem_id="search-tags")
            with gr.Accordion("Classify the picture among your labels (zero-shot)", open=False):
                labels = gr.Textbox(
                    label="Labels, separated by commas",
                    value="a cat, a dog, a car, a piano",
                    max_lines=2,
                    max_length=settings.max_text_chars,
                    elem_id="search-labels",
                )
                classify = gr.Button("Classify", elem_id="search-classify")
                probabilities = gr.Label(label="Probability of each label",
                                         elem_id="search-probabilities")  # fmt: skip
                classify_notes = gr.Markdown(elem_id="search-classify-notes")
            gr.Examples([["words", q] for q in matching.examples()], inputs=[by, text],
                        label="Try words")  # fmt: skip
            scenes = matching.example_pictures(6)
            if scenes:
                gr.Examples([["picture", s, "", ""] for s in scenes[:3]]
                            + [["picture", scenes[0], "dog", "cat"]],
                            inputs=[by, picture, minus, plus],
                            label="Try a picture")  # fmt: skip
            with gr.Accordion("Search your own pictures", open=False):
                files = gr.File(
                    label=f"Up to {matching.MAX_GALLERY} pictures",
                    file_count="multiple",
                    file_types=["image"],
                    type="filepath",
                    elem_id="search-files",
                )
                with gr.Row():
                    use = gr.Button("Search these", elem_id="search-use-uploads")
                    world = gr.Button("Back to the world's scenes", elem_id="search-use-world")
            which = gr.Markdown(_use_world()[1], elem_id="search-gallery-source")
        with gr.Column(scale=2):
            heading = gr.Markdown("### ", elem_id="search-heading")
            side_by_side.build_columns("search")
            found = ResultGallery(
                label="Results, nearest first",
                columns=4,
                height="auto",
                object_fit="contain",
                elem_id="search-results",
            )
            notes = gr.Markdown(elem_id="search-notes")
            table = gr.Dataframe(
                headers=COLUMNS,
                datatype=["number", "str", "number", "str"],
                label="Ranked by cosine similarity",
                interactive=False,
                elem_id="search-table",
            )
            gr.Markdown("**The gallery and the query in the joint space** (first two principal "
                        "components)")  # fmt: skip
            space_map = ResultImage(
                label="The gallery and the query in the joint space",
                show_label=False,
                interactive=False,
                buttons=["download"],
                elem_id="search-map",
            )
    inputs = [by, text, picture, minus, plus, model, gallery]
    outputs = [heading, found, table, space_map, notes]
    for trigger, visibility in ((run.click, {"api_name": FAMILY.api_name}),
                                (text.submit, {"api_visibility": "private"})):  # fmt: skip
        searched = cleared_first(
            trigger, _search, inputs, outputs, also_cleared=side_by_side.outputs,
            concurrency_id=MODEL_QUEUE, **visibility,
        )  # fmt: skip
        side_by_side.follow(
            searched, _compared, _summary, [by, text, picture, minus, plus, gallery], model,
            "comparing the searches",
        )  # fmt: skip
    cleared_first(
        tag.click, _tags, [picture, model], [tags],
        api_visibility="private", concurrency_id=MODEL_QUEUE,
    )  # fmt: skip
    cleared_first(
        classify.click, _classify, [picture, labels, model], [probabilities, classify_notes],
        api_visibility="private", concurrency_id=MODEL_QUEUE,
    )  # fmt: skip
    use.click(_use_uploads, [files], [gallery, which], api_visibility="private")
    world.click(_use_world, None, [gallery, which], api_visibility="private")
