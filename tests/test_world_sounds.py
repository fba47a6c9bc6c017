"""Sounds and voices: every clip non-silent, of the expected length, rate and level, the same
for the same seed whatever was rendered before, and voices pitched by age and gender."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal_core.world.clips import PEAK_LIMIT, TARGET_RMS
from multimodal_core.world.people import AGE_GROUPS, GENDERS, HAIR_STYLES, SKIN_TONE_NAMES, Person
from multimodal_core.world.people import person as make_person
from multimodal_core.world.sounds import NOISES, SOUND_SOURCES, mixture, sound
from multimodal_core.world.speech import VoiceSettings


def assert_audible(clip: np.ndarray, n: int) -> None:
    """Float32 mono of ``n`` samples, normalised, and sound in most of its 100 ms frames."""
    assert clip.dtype == np.float32 and clip.shape == (n,)
    assert np.isfinite(clip).all() and np.abs(clip).max() <= PEAK_LIMIT + 1e-6
    rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2)))
    assert 0.5 * TARGET_RMS <= rms <= 1.01 * TARGET_RMS
    frames = clip[: len(clip) // 10 * 10].reshape(10, -1)
    loud = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) > 0.01 * TARGET_RMS
    assert loud.mean() >= 0.5, f"only {loud.mean():.0%} of the frames sound"


@pytest.mark.parametrize("source", list(SOUND_SOURCES))
def test_every_source_is_audible_at_the_right_length(source: str) -> None:
    for seed, seconds, rate in [(0, 2.0, 16000), (1, 1.0, 22050), (2, 0.5, 8000)]:
        assert_audible(sound(source, seed, seconds, rate), round(seconds * rate))


def test_every_key_a_source_plays_sounds() -> None:
    """The SoundFont has holes (TimGM6mb's alto sax has no E4): every key a source may play
    must give sound, or a clip could come out silent."""
    from multimodal_core.world.sounds import synthesizer

    synth = synthesizer(16000)
    for spec in SOUND_SOURCES.values():
        if spec.kind in ("speech", "drums"):
            continue
        for key in spec.keys:
            audio = synth.render(spec.program, False, [(0.0, key, 100)], 0.3)
            assert np.abs(audio).max() > 1e-3, (spec.id, key)


def test_clips_do_not_depend_on_what_came_before() -> None:
    first = {s: sound(s, 3, 1.0) for s in ("piano", "drum", "helicopter", "speech-girl")}
    for s in ("applause", "bell", "speech-man", "telephone"):
        sound(s, 9, 1.0)
    for s, clip in first.items():
        assert np.array_equal(clip, sound(s, 3, 1.0)), s
    assert not np.array_equal(sound("piano", 3, 1.0), sound("piano", 4, 1.0))


def test_mixtures() -> None:
    plain = mixture("violin", 5, 1.0)
    assert plain.second is None and plain.noise is None
    for noise in NOISES:
        m = mixture("violin", 5, 1.0, second="bird", noise=noise)
        assert_audible(m.audio, 16000)
        assert m.second == "bird" and m.noise == noise
        assert m.second_db is not None and m.second_db < 0 and m.noise_db is not None
    with pytest.raises(ValueError):
        mixture("violin", 5, noise="thunder")
    with pytest.raises(KeyError):
        sound("dragon", 0)


def test_every_face_glyph_exists() -> None:
    from multimodal_core.world.glyphs import svg_path

    for age in AGE_GROUPS:
        for gender in GENDERS:
            for hair in HAIR_STYLES[(age, gender)]:
                for tone in SKIN_TONE_NAMES:
                    p = Person(0, age, gender, tone, hair, VoiceSettings("f1", 150, 50, 50))
                    svg_path(p.emoji)  # FileNotFoundError rather than a fallback glyph


def test_people_faces_and_voices() -> None:
    p = make_person(11)
    assert p == make_person(11)
    face = p.face(64)
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    assert np.array_equal(face, p.face(64))
    assert_audible(p.voice(1.5, 16000), 24000)
    groups = {(q.age_group, q.gender) for q in map(make_person, range(200))}
    assert groups == {(a, g) for a in AGE_GROUPS for g in GENDERS}


def test_median_f0_is_ordered_child_woman_man() -> None:
    """Over a sample of voices, median F0: children > adult women > adult men (the groups
    overlap clip by clip, as real voices do, but not in the median)."""
    import librosa

    def median_f0(source: str) -> float:
        values = []
        for seed in range(8):
            clip = sound(source, seed, 1.5)
            f0 = librosa.yin(clip, fmin=60, fmax=500, sr=16000, frame_length=1024, hop_length=256)
            rms = librosa.feature.rms(y=clip, frame_length=1024, hop_length=256)[0][: len(f0)]
            values.append(np.median(f0[rms > 0.5 * TARGET_RMS]))
        return float(np.median(values))

    child = np.median([median_f0("speech-girl"), median_f0("speech-boy")])
    woman, man = median_f0("speech-woman"), median_f0("speech-man")
    assert child > woman > man, (child, woman, man)
    assert man < 150 < woman  # and the gap is audible
