"""The Text to image tab: a sentence in, a gallery of pictures out; for the GAN, interpolation."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from multimodal_core import registry, viz
from multimodal_core.settings import get_settings
from multimodal_core.tasks import text_to_image
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    ResultGallery,
    ResultImage,
    SideBySide,
    Summary,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

GALLERY_SIDE = 256  # the 64 px pictures, enlarged with crisp pixels

FAMILY = registry.family("text_to_image")

SUMMARY = """Type a sentence and a model draws it."""

HOW_IT_WORKS = """The **built-in** model is a *text-conditional GAN* (GAN-INT-CLS, a generative
adversarial network): a sentence encoder (MiniLM) turns your words into a vector, which is joined
with random noise **z** and fed to a **generator** network that draws a 64 x 64 picture. It was
trained against a **discriminator** that learned to tell real pictures from drawn ones *and*
pictures that match their sentence from ones that do not. It knows only the studio's synthetic
world (emoji objects on coloured, grass, brick or gravel backgrounds), so describe that, e.g.
"a dog on a blue background"; words it never saw ("a pooch") are read as the closest ones it
knows, and the note lists the words it used. The **seed** fixes the noise: the same seed draws
the same pictures, another seed another variation. **Interpolate** keeps z fixed and walks from
one sentence's vector to another's. The **pretrained** choice is a few-step diffusion model
(it starts from noise and removes it in 4 steps, guided by the sentence); it downloads from the
internet the first time.

*Compare with* runs a second model on the same sentence and seed: both first pictures side by
side, timed."""


@user_errors("drawing the pictures")
def _generate(prompt: str, n: float, seed: float, model: str, progress=gr.Progress()):  # noqa: B008
    def report(step: int, total: int) -> None:
        progress(step / total, desc=f"denoising step {step} of {total}")

    result = _drawn(prompt, n, seed, model, report)
    gallery = [
        (viz.enlarge(image, GALLERY_SIDE), f"seed {s}")
        for image, s in zip(result.images, result.seeds, strict=True)
    ]
    lines = [f"**Note:** {result.note}"] if result.note else []
    if result.words is not None:
        lines.append(_words_line(result.words))
    return gallery, "  \n".join(lines)


def _drawn(
    prompt: str,
    n: float,
    seed: float,
    model: str,
    report: Callable[[int, int], None] | None = None,
) -> text_to_image.GenerationResult:
    return text_to_image.generate_images(prompt, int(n), int(seed), model, report)


def _summary(result: text_to_image.GenerationResult) -> Summary:
    """A comparison column: the first picture and the words it was drawn from."""
    words = _words_line(result.words) if result.words is not None else "(reads any English)"
    return words, viz.enlarge(result.images[0], GALLERY_SIDE)


def _words_line(words: text_to_image.PromptWords) -> str:
    """Which words of the prompt the built-in GAN used (and as what), and which it ignored."""
    line = f"**Words it used:** {', '.join(words.used)}"
    read = [m.reading() for m in words.mappings if m.replacement]
    if read:
        line += f" (it read {', '.join(read)})"
    if words.ignored:
        line += f"  \n**Words it does not know (ignored):** {', '.join(words.ignored)}"
    return line


@user_errors("interpolating between the prompts")
def _interpolate(prompt_a: str, prompt_b: str, seed: float):
    result = text_to_image.interpolate(prompt_a, prompt_b, seed=int(seed))
    return text_to_image.strip(result.images, scale=2)


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            prompt = gr.Textbox(
                label="Prompt",
                value=text_to_image.EXAMPLE_PROMPTS[0],
                max_length=settings.max_text_chars,
                lines=2,
                elem_id="t2i-prompt",
            )
            n = gr.Slider(
                1,
                text_to_image.MAX_IMAGES,
                value=4,
                step=1,
                label="Number of images",
                elem_id="t2i-n",
            )
            seed = gr.Number(
                value=0,
                precision=0,
                minimum=0,
                label="Seed",
                info="Fixes the random noise: the same seed draws the same pictures.",
            )
            model = model_choice(text_to_image.CHOICES)
            side_by_side = SideBySide(text_to_image.CHOICES, "t2i")
            run = gr.Button("Draw", variant="primary", elem_id="t2i-run")
            gr.Examples([[p] for p in text_to_image.EXAMPLE_PROMPTS], inputs=[prompt])
        with gr.Column(scale=2):
            note = gr.Markdown(elem_id="t2i-note")
            side_by_side.build_columns("t2i")
            gallery = ResultGallery(
                label="Pictures",
                columns=4,
                object_fit="contain",
                elem_id="t2i-gallery",
            )
    with gr.Accordion("Interpolate between two prompts (built-in GAN, z fixed)", open=False):
        with gr.Row():
            prompt_a = gr.Textbox(label="From", value="a dog on a blue background")
            prompt_b = gr.Textbox(label="To", value="a car on a yellow background")
            walk = gr.Button("Interpolate")
        path = ResultImage(label="From left to right", interactive=False)
    drawn = cleared_first(
        run.click,
        _generate,
        [prompt, n, seed, model],
        [gallery, note],
        also_cleared=side_by_side.outputs,
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
    side_by_side.follow(drawn, _drawn, _summary, [prompt, n, seed], model, "comparing the models")
    cleared_first(
        walk.click,
        _interpolate,
        [prompt_a, prompt_b, seed],
        [path],
        api_visibility="private",
        concurrency_id=MODEL_QUEUE,
    )
