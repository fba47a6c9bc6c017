"""The Sound tab: how a machine sees a recording (waveform, STFT, mel spectrogram, MFCC)."""

from __future__ import annotations

import gradio as gr

from multimodal_core import registry, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import sound
from multimodal_core.ui.common import MODEL_QUEUE, ResultImage, cleared_first, user_errors

FAMILY = registry.family("sound")

INTRO = """Upload or record a sound to see the representations that the models of this studio listen
to: the **waveform** (pressure over time), the **STFT spectrogram** (how much energy at each
frequency, moment by moment), the **mel spectrogram** (the same on a scale closer to hearing, what
the localization and voice models take as input) and the **MFCC** (a compact summary of the mel
spectrogram's shape, the classic speech feature)."""


@user_errors("analysing the sound")
def _analyse(path: str | None):
    result = workers.run(sound.analyse_sound, path)  # matplotlib and librosa: off the GIL
    return result.waveform, result.stft, result.mel, result.mfcc, sound.describe(result.facts)


def build_tab() -> None:
    settings = get_settings()
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            recording = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Recording",
                elem_id="sound-input",
            )
            analyse = gr.Button("Analyse", variant="primary", elem_id="sound-analyse")
            facts = gr.Markdown(
                f"Recordings longer than {settings.max_audio_seconds:.0f} s are trimmed.",
                elem_id="sound-facts",
            )
            examples = sorted(settings.examples_dir.glob("**/*.wav"))[:8]
            if examples:
                gr.Examples([[str(path)] for path in examples], inputs=[recording])
        with gr.Column(scale=2):
            pictures = [
                ResultImage(
                    label=label,
                    show_label=False,  # the picture carries its own title
                    interactive=False,
                    buttons=["download"],
                    elem_id=f"sound-{name}",
                )
                for name, label in (
                    ("waveform", "Waveform"),
                    ("stft", "STFT spectrogram"),
                    ("mel", "Mel spectrogram"),
                    ("mfcc", "MFCC"),
                )
            ]
    outputs = [*pictures, facts]
    cleared_first(
        analyse.click,
        _analyse,
        [recording],
        outputs,
        api_name=FAMILY.api_name,
        concurrency_id=MODEL_QUEUE,
    )
    cleared_first(
        recording.stop_recording,
        _analyse,
        [recording],
        outputs,
        api_visibility="private",
        concurrency_id=MODEL_QUEUE,
    )
