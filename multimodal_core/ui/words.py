"""The Words tab: nearest words, analogies, similarity, a 2-D map, and the skip-gram's pairs."""

from __future__ import annotations

import gradio as gr

from multimodal_core import registry
from multimodal_core.tasks import words
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    ResultImage,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

FAMILY = registry.family("words")

SUMMARY = """Type a word to see the words nearest to it, or an analogy such as **king - man +
woman** to see what the arithmetic of word vectors answers."""

HOW_IT_WORKS = """The **built-in** vectors are a **skip-gram** (word2vec) trained here on a
dictionary (GCIDE) and WordNet's definitions, 6.4 million words, plus the studio's own captions.
A skip-gram has two matrices: **W**, one input vector per word, and **W'**, one output vector per
word. For every word of the text (the centre) and every word at most 5 places away (its context),
training raises the dot product of the centre's row of W with the context's column of W' and
lowers it for 5 random words (negative sampling). Words used in the same company end up with
similar rows of W: those rows are the word vectors shown here; W' is thrown away after training.

Nearness is the **cosine** of the angle between two vectors (1: same direction). An analogy adds
and subtracts unit vectors and lists the words nearest to the result, leaving out the words typed
(3CosAdd, Mikolov et al. 2013). The map projects the words onto the two directions in which they
differ most (PCA); for "a - b + c" the arrows b -> a and c -> answer should be nearly parallel.
**MiniLM** is a pretrained sentence encoder (shipped with the studio, offline) given each word
alone; it is made for sentences, not single words, and searches only the 10,000 most frequent
words."""

COLUMNS = ["rank", "word", "cosine"]


@user_errors("looking up the words")
def _explore(query: str, map_words: str, model: str):
    result = words.explore(query, model, map_words)
    rows = [[rank, word, round(score, 3)] for rank, (word, score) in enumerate(result.answers, 1)]
    kind = "Nearest words to" if result.kind == "neighbours" else "Answers to"
    heading = f"### {kind} “{result.query}”"
    if result.answers:
        heading += f": **{result.answers[0][0]}**"
    return heading, rows, result.map_picture, "  \n".join(result.notes)


@user_errors("comparing the words")
def _compare(first: str, second: str, model: str) -> str:
    result = words.similarity(first, second, model)
    return f"cosine(“{result.first}”, “{result.second}”) = **{result.cosine:.3f}**"


@user_errors("drawing the skip-gram's pairs")
def _pairs(sentence: str):
    result = words.context_pairs(sentence)
    shown = ", ".join(f"({c} → {w})" for c, w in result.pairs[:12])
    more = f" and {len(result.pairs) - 12} more" if len(result.pairs) > 12 else ""
    return result.picture, f"{len(result.pairs)} training pairs (centre → context): {shown}{more}."


def build_tab() -> None:
    intro(SUMMARY, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            query = gr.Textbox(
                label="A word or an analogy",
                placeholder="king - man + woman",
                max_lines=1,
                elem_id="words-query",
            )
            map_words = gr.Textbox(
                label="Words to map (optional)",
                placeholder="king, queen, man, woman, prince, princess",
                info="Leave empty to map the query and its answers.",
                max_lines=2,
                elem_id="words-map-words",
            )
            model = model_choice(words.CHOICES)
            run = gr.Button("Look up", variant="primary", elem_id="words-run")
            gr.Examples([[e] for e in words.examples()], inputs=[query], label="Try")
            with gr.Group():
                gr.Markdown("**Similarity of two words**")
                with gr.Row():
                    first = gr.Textbox(label="First word", value="cup", elem_id="words-first")
                    second = gr.Textbox(label="Second word", value="mug", elem_id="words-second")
                compare = gr.Button("Compare", elem_id="words-compare")
                similarity = gr.Markdown(elem_id="words-similarity")
        with gr.Column(scale=2):
            heading = gr.Markdown("### ", elem_id="words-heading")
            answers = gr.Dataframe(
                headers=COLUMNS,
                datatype=["number", "str", "number"],
                label="Nearest words by cosine similarity",
                interactive=False,
                elem_id="words-answers",
            )
            notes = gr.Markdown(elem_id="words-notes")
            gr.Markdown("**The words on a map** (first two principal components)")
            picture = ResultImage(
                label="The words on a map",
                show_label=False,
                interactive=False,
                buttons=["download"],
                elem_id="words-map",
            )
    with gr.Accordion("What the skip-gram learns from a sentence", open=False), gr.Row():
        with gr.Column(scale=1, min_width=280):
            sentence = gr.Textbox(
                label="A sentence",
                value="a skip gram learns a vector for each word from the words near it",
                max_lines=2,
                elem_id="words-sentence",
            )
            show = gr.Button("Show the pairs", elem_id="words-pairs-run")
            pairs_text = gr.Markdown(elem_id="words-pairs-text")
        with gr.Column(scale=2):
            pairs = ResultImage(
                label="Centre and context words",
                show_label=False,
                interactive=False,
                buttons=["download"],
                elem_id="words-pairs",
            )
    outputs = [heading, answers, picture, notes]
    for trigger, visibility in ((run.click, {"api_name": FAMILY.api_name}),
                                (query.submit, {"api_visibility": "private"})):  # fmt: skip
        cleared_first(
            trigger, _explore, [query, map_words, model], outputs,
            concurrency_id=MODEL_QUEUE, **visibility,
        )  # fmt: skip
    cleared_first(
        compare.click, _compare, [first, second, model], [similarity],
        api_visibility="private", concurrency_id=MODEL_QUEUE,
    )  # fmt: skip
    cleared_first(show.click, _pairs, [sentence], [pairs, pairs_text], api_visibility="private")
