"""The Sound tab: how a machine sees a recording (waveform, STFT, mel spectrogram, MFCC)."""

from __future__ import annotations

import gradio as gr

from multimodal_core import registry, workers
from multimodal_core.settings import get_settings
from multimodal_core.tasks import sound
from multimodal_core.ui.common import MODEL_QUEUE, ResultImage, cleared_first, intro, user_errors

FAMILY = registry.family("sound")

SUMMARY = """Upload or record a sound to see it the way the studio's models hear it."""

HOW_IT_WORKS = """Four pictures of the same recording, each a step further from the raw sound:
- the **waveform**: the air pressure over time, as the microphone recorded it;
- the **STFT spectrogram** (short-time Fourier transform): the recording cut into short, overlapping
  slices, each split into its frequencies, so it shows how much energy each pitch has, moment by
  moment (time left to right, low pitches at the bottom, bright = loud);
- the **mel spectrogram**: the same on the mel scale, which spaces pitches as our hearing does
  (finely in the low notes, coarsely in the high ones); the localization and voice models take it
  as their input;
- the **MFCC** (mel-frequency cepstral coefficients): about twenty numbers per moment that sum up
  the shape of the mel spectrogram, the classic feature of speech recognition."""


@user_errors("analysing the sound")
def _analyse(path: str | None):
    result = workers.run(sound.analyse_sound, path)  # matplotlib and librosa: off the GIL
    return result.waveform, result.stft, result.mel, result.mfcc, sound.describe(result.facts)


def build_tab() -> None:
    settings = get_settings()
    intro(SUMMARY, HOW_IT_WORKS)
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
