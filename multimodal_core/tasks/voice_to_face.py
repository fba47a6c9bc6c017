"""Voice to face: draw a face from a recording, and say plainly what that picture can mean.

The built-in model is Speech2Face trained on the synthetic world (``checkpoints/voice_to_face``):
its voice encoder predicts a face embedding, its decoder draws the face, and its attribute head
gives the age group and gender it reads from that embedding. The pretrained route estimates age
group and gender from CLAP zero-shot and the pitch, writes them into a neutral prompt, and asks
the shared diffusion model for a portrait. Models are declared in the shared hub here (CLAP and
the diffusion pipeline are shared with the localization and text-to-image tabs) and loaded on
first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from multimodal_core import audio, hub, media, sound_pictures, viz
from multimodal_core.backends import shared
from multimodal_core.backends import voice_to_face as pretrained
from multimodal_core.backends.localization import CLAP_SAMPLE_RATE
from multimodal_core.choices import ModelChoice, ModelChoices
from multimodal_core.errors import InputError
from multimodal_core.models.speech2face import Speech2Face
from multimodal_core.settings import get_settings
from multimodal_core.tasks import world_check

logger = logging.getLogger(__name__)

BUILTIN = "voice_to_face"
CHOICES = ModelChoices(
    (
        ModelChoice("builtin", "Built-in: Speech2Face (synthetic world, offline)", (BUILTIN,)),
        ModelChoice("pretrained",
                    "Pretrained: CLAP + pitch -> traits -> diffusion portrait (downloads)",
                    (shared.CLAP.name, shared.DIFFUSION.name), pretrained=True),
    ),
    presets={"builtin": "builtin", "pretrained": "pretrained"},
)  # fmt: skip
FEATURES = audio.FeatureConfig()  # what the built-in voice encoder was trained on
MIN_SECONDS = 0.5  # shorter clips hold a syllable or two: too little to say anything
FACE_DISPLAY = 256  # the 64 px drawing, enlarged for the page

MEANING = (
    "This is not the speaker's face. A voice can suggest an age group and a gender, and "
    "nothing else about how someone looks: the picture shows those two guesses and fills in "
    "the rest (skin, hair, features) with an average or an arbitrary choice. Do not use it to "
    "identify, judge or describe a real person."
)
"""Shown under every picture, whichever model drew it."""
NOT_SPEECH_NOTE = (
    "Little voiced speech was found in this recording (music, noise or whispering?): the traits "
    "and the face below are a low-confidence guess."
)


def not_a_voice_note() -> str:
    """Shown when the voice check (tasks/world_check.py) says the recording is no voice."""
    return (
        "This does not sound like a voice (music, a tone, noise?), or at least not like the "
        "synthetic world's voices, the only ones the built-in model knows: the age group, gender "
        "and face below are what it computes for this sound, not a reading of anyone; "
        + world_check.where_to_go(CHOICES, "voices")
    )


LOW_CONFIDENCE_NOTE = (
    "The estimate is unsure (no age group and gender reaches {p:.0%}): treat the picture as a "
    "guess."
)


@dataclass(frozen=True)
class VoiceToFaceResult:
    """What the tab, the API and the CLI show."""

    model: str
    face: np.ndarray  # (H, W, 3) uint8
    age: dict[str, float]  # age group -> probability
    gender: dict[str, float]  # gender -> probability
    confident: bool
    spectrogram: np.ndarray  # (h, w, 3) uint8: spectrogram with the pitch track
    meaning: str = MEANING
    notes: list[str] = field(default_factory=list)
    prompt: str | None = None
    details: dict = field(default_factory=dict)
    # The voice check (tasks/world_check.py: is this speech at all?), for the built-in model
    # only: None for the pretrained one, or when the check is not installed.
    in_world: bool | None = None
    in_world_score: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready, without the pictures."""
        return {
            "model": self.model,
            "age": self.age,
            "gender": self.gender,
            "confident": self.confident,
            "meaning": self.meaning,
            "notes": self.notes,
            "prompt": self.prompt,
            "in_world": self.in_world,
            "in_world_score": self.in_world_score,
            **self.details,
        }


# ----- models in the shared hub --------------------------------------------------------------


def _load_builtin() -> Speech2Face:
    return Speech2Face.from_pretrained(get_settings().checkpoints_dir / "voice_to_face")


def _checkpoint_mb() -> float:
    path = get_settings().checkpoints_dir / "voice_to_face" / "model.safetensors"
    return path.stat().st_size * 2 / 2**20 if path.is_file() else 2.0  # fp16 on disk


hub.register(
    hub.ModelSpec(
        name=BUILTIN,
        task="voice_to_face",
        loader=_load_builtin,
        approx_mb=_checkpoint_mb(),
        title="built-in voice-to-face model",
    )
)
shared.register()


# ----- pictures ------------------------------------------------------------------------------


def pitch_spectrogram_image(
    samples: np.ndarray, sample_rate: int, pitch: pretrained.PitchTrack, top_hz: float = 2000.0
) -> np.ndarray:
    """The STFT spectrogram up to ``top_hz`` (linear axis, where pitch lives) with the pyin
    pitch track drawn over it, as an RGB uint8 array."""
    n_fft, hop = 1024, 256
    db = audio.to_db(audio.power_spectrogram(samples, n_fft, hop)).numpy()  # (F, T)
    rows = int(top_hz / (sample_rate / n_fft)) + 1
    track = None
    if np.isfinite(pitch.f0).any():
        track = sound_pictures.Curve(pitch.times, pitch.f0, "pitch (pyin)")
    median = f", median {pitch.median_hz:.0f} Hz" if pitch.median_hz else ""
    title = f"Spectrogram and pitch track ({pitch.voiced_fraction:.0%} voiced{median})"
    return sound_pictures.spectrogram_image(
        db[:rows], sample_rate, hop, title, fmax=top_hz, curve=track
    )


# ----- the task ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinFace:
    """The built-in model's answer for one voice: face (64, 64, 3) uint8 and head probabilities."""

    face: np.ndarray
    embedding: np.ndarray  # (D,) unit vector
    age: dict[str, float]
    gender: dict[str, float]


@hub.gpu
def draw_face(model: Speech2Face, samples: np.ndarray) -> BuiltinFace:
    """Voice (16 kHz mono float32) -> log-mel -> predicted embedding -> drawn face.

    A pure function of the model and the samples: the same voice gives the same face.
    """
    mel = audio.log_mel(samples, FEATURES)[None]  # (1, n_mels, T)
    param = next(model.parameters())
    out = model(mel.to(param.device, param.dtype))
    logits = model.attributes(out.embedding)
    face = out.face[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()  # (S, S, 3)
    age = logits[0][0].float().softmax(-1).cpu().numpy()
    gender = logits[1][0].float().softmax(-1).cpu().numpy()
    return BuiltinFace(
        face=(face * 255.0 + 0.5).astype(np.uint8),
        embedding=out.embedding[0].float().cpu().numpy(),
        age={a: float(p) for a, p in zip(pretrained.AGE_GROUPS, age, strict=True)},
        gender={g: float(p) for g, p in zip(pretrained.GENDERS, gender, strict=True)},
    )


def _check_clip(clip: media.AudioClip) -> None:
    if clip.silent:
        raise InputError(
            "This recording is silent or almost silent; please record or upload someone "
            "speaking for a few seconds."
        )
    if clip.seconds < MIN_SECONDS:
        raise InputError(
            f"This recording is only {clip.seconds:.2f} s long; please record at least "
            "one sentence (2 to 10 seconds work best)."
        )


@hub.gpu
def _traits(samples_48k: np.ndarray, pitch: pretrained.PitchTrack) -> pretrained.TraitEstimate:
    return pretrained.estimate_traits(hub.get(shared.CLAP.name), samples_48k, pitch)


@hub.gpu
def _portrait(traits: pretrained.TraitEstimate, seed: int) -> tuple[np.ndarray, str]:
    return pretrained.portrait(hub.get(shared.DIFFUSION.name), traits, seed)


@dataclass(frozen=True)
class VoiceAnalysis:
    """What a recording gives before any model: the decoded clip, its pitch track and the
    picture of both. It needs no model, so the server computes it in a worker process."""

    clip: media.AudioClip  # at the built-in voice encoder's rate
    pitch: pretrained.PitchTrack
    spectrogram: np.ndarray  # (h, w, 3) uint8: spectrogram with the pitch track
    clap_samples: np.ndarray | None = None  # at CLAP's rate, for the pretrained choice only


def analyse_voice(path: str | Path, model: str = "builtin") -> VoiceAnalysis:
    """Decode and check a recording once, track its pitch and draw it; raises ``InputError`` for
    unusable files. The pretrained choice also gets the recording at CLAP's rate, resampled from
    the same decoding."""
    wants_clap = CHOICES.get(model).pretrained
    decoded = media.load_audio(path, None)
    clip = decoded.resampled(FEATURES.sample_rate)
    _check_clip(clip)
    pitch = pretrained.pitch_track(clip.samples, clip.sample_rate)
    picture = pitch_spectrogram_image(clip.samples, clip.sample_rate, pitch)
    clap = None
    if wants_clap:
        clap = decoded.resampled(CLAP_SAMPLE_RATE).samples
    return VoiceAnalysis(clip, pitch, picture, clap)


def check_model(model: str) -> None:
    CHOICES.get(model)


def face_for(voice: VoiceAnalysis, model: str = "builtin", seed: int = 0) -> VoiceToFaceResult:
    """Draw a face for an analysed recording with the chosen model; raises
    ``ModelUnavailableError`` when that model cannot be loaded."""
    check_model(model)
    clip, pitch = voice.clip, voice.pitch
    notes = list(clip.notes)
    speechless = pitch.voiced_fraction < pretrained.MIN_VOICED_FRACTION
    details = {
        "seconds": round(clip.seconds, 2),
        "voiced_fraction": round(pitch.voiced_fraction, 3),
        "median_pitch_hz": None if pitch.median_hz is None else round(pitch.median_hz, 1),
    }
    prompt = None
    check = None
    if model == "builtin":
        check = world_check.check_sound_if_available(clip.samples, clip.sample_rate, "voice")
        answer = draw_face(hub.get(BUILTIN), clip.samples)
        face, age, gender = (
            viz.enlarge(answer.face, FACE_DISPLAY, smooth=True),
            answer.age,
            answer.gender,
        )
        best = max(age.values()) * max(gender.values())
    else:
        if voice.clap_samples is None:
            raise ValueError("analyse_voice(path, model) gives the recording at CLAP's rate")
        traits = _traits(voice.clap_samples, pitch)
        face, prompt = _portrait(traits, seed)
        age, gender = traits.age, traits.gender
        best = max(traits.joint.values())
        details["speech_probability"] = round(traits.speech_probability, 3)
        details["sources"] = traits.sources
        speechless = speechless or traits.speech_probability < 0.5
    not_a_voice = check is not None and not check.in_world
    confident = not speechless and not not_a_voice and best >= pretrained.LOW_CONFIDENCE
    if not_a_voice:
        notes.append(not_a_voice_note())
    elif speechless:
        notes.append(NOT_SPEECH_NOTE)
    elif not confident:
        notes.append(LOW_CONFIDENCE_NOTE.format(p=pretrained.LOW_CONFIDENCE))
    return VoiceToFaceResult(
        model=model,
        face=face,
        age=age,
        gender=gender,
        confident=confident,
        spectrogram=voice.spectrogram,
        notes=notes,
        prompt=prompt,
        details=details,
        in_world=None if check is None else check.in_world,
        in_world_score=None if check is None else check.score,
    )


def voice_to_face(path: str | Path, model: str = "builtin", seed: int = 0) -> VoiceToFaceResult:
    """Decode a recording and draw a face for it; raises ``InputError`` for unusable files and
    ``ModelUnavailableError`` when the chosen model cannot be loaded."""
    check_model(model)
    return face_for(analyse_voice(path, model), model, seed)


def describe(result: VoiceToFaceResult) -> str:
    """The traits, notes and the meaning line as short Markdown."""
    age = max(result.age, key=result.age.get)
    gender = max(result.gender, key=result.gender.get)
    lines = [
        f"**Estimated from the voice:** {age} ({result.age[age]:.0%}), "
        f"{gender} ({result.gender[gender]:.0%})"
        + ("" if result.confident else " — low confidence"),
    ]
    if result.details.get("median_pitch_hz"):
        lines.append(f"Median pitch {result.details['median_pitch_hz']:.0f} Hz.")
    if result.prompt:
        lines.append(f"Prompt given to the image model: “{result.prompt}”")
    lines += result.notes
    lines.append(f"**What this picture means:** {result.meaning}")
    return "  \n".join(lines)
