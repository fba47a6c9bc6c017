"""The Voice to face tab: a recording in, a drawn face, the traits behind it and what it means."""

from __future__ import annotations

import gradio as gr

from multimodal_core import registry, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import voice_to_face
from multimodal_core.ui.common import (
    MODEL_QUEUE,
    ResultImage,
    SideBySide,
    Summary,
    cleared_first,
    intro,
    model_choice,
    user_errors,
)

FAMILY = registry.family("voice_to_face")

SUMMARY = """Record or upload someone speaking, and a model draws a face that *kind* of voice
suggests (never the speaker's own face)."""

HOW_IT_WORKS = """The **built-in** model (Speech2Face, trained on this studio's synthetic world of
emoji people and eSpeak voices) turns the voice's mel spectrogram (its energy at each pitch,
moment by moment) into a face embedding, a list of numbers that describes a face, and draws it.
The **pretrained** route estimates an age group and a gender from the voice (with CLAP, a model
that matches sounds and sentences, and the voice's pitch), writes them into a neutral prompt and
lets an image model draw a portrait; it downloads from the internet the first time. Either way the
picture is a guess about a *kind* of person, never the speaker's face.

*Compare with* runs a second model on the same voice: both faces side by side, timed."""


def _analysed(path: str | None, model: str, seed: float) -> voice_to_face.VoiceToFaceResult:
    model = model or "builtin"
    voice_to_face.check_model(model)
    # librosa and matplotlib: off the interpreter lock
    voice = workers.run(voice_to_face.analyse_voice, path, model)
    return voice_to_face.face_for(voice, model, int(seed or 0))


@user_errors("drawing a face for the voice")
def _draw(path: str | None, model: str, seed: float):
    result = _analysed(path, model, seed)
    return (
        result.face,
        result.age,
        result.gender,
        result.spectrogram,
        voice_to_face.describe(result),
    )


def _summary(result: voice_to_face.VoiceToFaceResult) -> Summary:
    age = max(result.age, key=result.age.get)
    gender = max(result.gender, key=result.gender.get)
    return f"Sounds like: **{age}**, **{gender}**", result.face


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            recording = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Voice",
                elem_id="face-voice",
            )
            model = model_choice(voice_to_face.CHOICES)
            side_by_side = SideBySide(voice_to_face.CHOICES, "face")
            seed = gr.Number(
                value=0,
                precision=0,
                label="Seed (pretrained portrait)",
                info="Another number draws another portrait for the same voice.",
            )
            draw = gr.Button("Draw a face", variant="primary", elem_id="face-run")
            examples = sorted(settings.examples_dir.glob("voice_*.wav"))[:6]
            if examples:
                gr.Examples([[str(path)] for path in examples], inputs=[recording])
            gr.Markdown(
                f"Recordings longer than {settings.max_audio_seconds:.0f} s are trimmed; "
                "2 to 10 seconds of one person speaking work best."
            )
        with gr.Column(scale=2):
            with gr.Row():
                face = ResultImage(
                    label="Drawn face (not the speaker's)",
                    interactive=False,
                    buttons=["download"],
                    height=256,
                    elem_id="face-image",
                )
                with gr.Column():
                    age = gr.Label(
                        label="Age group (from the voice)", num_top_classes=3, elem_id="face-age"
                    )
                    gender = gr.Label(
                        label="Gender (from the voice)", num_top_classes=2, elem_id="face-gender"
                    )
            meaning = gr.Markdown(f"**What this picture means:** {voice_to_face.MEANING}")
            spectrogram = ResultImage(
                label="Spectrogram with pitch track",
                show_label=False,  # the picture carries its own title
                interactive=False,
            )
            side_by_side.build_columns("face")
    outputs = [face, age, gender, spectrogram, meaning]
    drawn = cleared_first(
        draw.click,
        _draw,
        [recording, model, seed],
        outputs,
        also_cleared=side_by_side.outputs,
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
    side_by_side.follow(drawn, _analysed, _summary, [recording, seed], model, "comparing the faces")
