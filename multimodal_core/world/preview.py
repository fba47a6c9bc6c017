"""Human-facing views of the world: a preview folder to look at and listen to, and the small
``examples/`` folder the app's galleries show.

The examples come from held-out test seeds, so the app never demonstrates a training image.
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from multimodal_core.world import language
from multimodal_core.world.catalogue import get_class
from multimodal_core.world.datasets import LocalizationDataset
from multimodal_core.world.people import person
from multimodal_core.world.scenes import Scene
from multimodal_core.world.sounds import SOUND_SOURCES, sound
from multimodal_core.world.splits import TEST, scene_in_split

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_ZOOM = 2  # scenes are drawn twice their size on the sheets
_TEXT_WIDTH = 720
_LINE = 17


def _font(size: int = 14) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _annotated(s: Scene, highlight: int | None = None) -> Image.Image:
    """The scene enlarged, each object's box and name drawn; ``highlight`` tints one mask."""
    pixels = s.image.copy()
    if highlight is not None:
        mask = s.objects[highlight].mask
        pixels[mask] = (0.5 * pixels[mask] + 0.5 * np.array([255, 0, 0])).astype(np.uint8)
    image = Image.fromarray(pixels).resize(
        (s.size * _ZOOM, s.size * _ZOOM), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(image)
    for o in s.objects:
        x0, y0, x1, y1 = (v * _ZOOM for v in o.box)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(255, 255, 255), width=1)
        draw.text((x0 + 2, y0 + 1), o.name, fill=(255, 255, 255), font=_font(11), stroke_width=1,
                  stroke_fill=(0, 0, 0))  # fmt: skip
    return image


def _sheet(rows: list[tuple[Image.Image, list[str]]], path: Path) -> None:
    """Stack rows of (picture, text lines) into one PNG."""
    heights = [max(img.height, _LINE * len(lines) + 8) for img, lines in rows]
    width = max(img.width for img, _ in rows) + _TEXT_WIDTH
    sheet = Image.new("RGB", (width, sum(heights)), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    y = 0
    for (img, lines), h in zip(rows, heights, strict=True):
        sheet.paste(img, (0, y))
        x = img.width + 10
        for i, line in enumerate(lines):
            draw.text((x, y + 4 + i * _LINE), line, fill=(20, 20, 20), font=_font())
        draw.line((0, y + h - 1, width, y + h - 1), fill=(200, 200, 200))
        y += h
    sheet.save(path)


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    import soundfile

    soundfile.write(path, audio, sample_rate, subtype="PCM_16")


def _scene_lines(s: Scene) -> list[str]:
    lines = [f"seed {s.seed}  background: {s.background.kind} {s.background.word}"]
    lines += [f"  {o.name} ({o.size}, {o.position}, box {o.box})" for o in s.objects]
    lines += [f"C: {c}" for c in language.captions(s)]
    lines += [f"Q [{q.type}] {q.text}?  A: {q.answer}" for q in language.questions(s)]
    return lines


def write_preview(out: Path, n_scenes: int = 10, n_people: int = 12) -> list[Path]:
    """Write contact sheets (scenes, localization, people) and WAVs into ``out``; returns the
    files written. Scenes come from the validation split."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    scenes = [scene_in_split("validation", i) for i in range(n_scenes)]
    _sheet([(_annotated(s), _scene_lines(s)) for s in scenes], out / "scenes.png")
    written.append(out / "scenes.png")

    sounds_dir = out / "sounds"
    sounds_dir.mkdir(exist_ok=True)
    for source in SOUND_SOURCES:
        path = sounds_dir / f"{source}.wav"
        _write_wav(path, sound(source, seed=1))
        written.append(path)

    loc = LocalizationDataset("validation", length=6)
    rows = []
    for i in range(len(loc)):
        s = loc.scene(i)
        target, track = loc.sounding(s)
        path = sounds_dir / f"localization_{i}.wav"
        _write_wav(path, track.audio)
        written.append(path)
        lines = [
            f"sounding: {target.name} ({target.position}), tinted red; {path.name}",
            "second source (off-screen): "
            + (f"{track.second} at {track.second_db:.1f} dB" if track.second else "none"),
            "noise: " + (f"{track.noise} at {track.noise_db:.1f} dB" if track.noise else "none"),
        ]
        rows.append((_annotated(s, s.objects.index(target)), lines))
    _sheet(rows, out / "localization.png")
    written.append(out / "localization.png")

    rows = []
    for seed in range(n_people):
        p = person(seed)
        path = sounds_dir / f"person_{seed}.wav"
        _write_wav(path, p.voice(3.0))
        written.append(path)
        face = Image.fromarray(p.face(128))
        v = p.voice_settings
        lines = [
            f"seed {seed}: {p.age_group} {p.gender}, skin {p.skin_tone}, hair {p.hair}",
            f"voice {v.variant} pitch {v.pitch} range {v.pitch_range} rate {v.rate}; {path.name}",
        ]
        rows.append((face, lines))
    _sheet(rows, out / "people.png")
    written.append(out / "people.png")
    log.info("wrote %d preview files into %s", len(written), out)
    return written


def write_examples(out: Path) -> list[Path]:
    """Write the app's example inputs into ``out`` (a few hundred KB): scenes as PNG,
    localization scene + sound pairs, voices as WAV, a README and a JSON manifest."""
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    table: list[str] = []  # README rows: file, task, what it holds

    busy = (
        s
        for i in range(len(TEST))
        if len((s := scene_in_split("test", i, held_out_ok=True)).objects) > 1
    )  # scenes of two or more objects show more of the grammar
    for s in itertools.islice(busy, 4):
        name = f"scene_{s.seed}.png"
        Image.fromarray(s.image).save(out / name, optimize=True)
        caps, qs = language.captions(s), language.questions(s)
        entries.append(
            {
                "file": name,
                "task": "captioning, vqa",
                "objects": [o.name for o in s.objects],
                "background": s.background.word,
                "captions": caps,
                "questions": [{"question": q.text, "answer": q.answer, "type": q.type} for q in qs],
            }
        )
        q = next((q for q in qs if q.type in ("relation", "identity", "position")), qs[0])
        table.append(f"| `{name}` | captioning, vqa | {caps[0]}; {q.text}? {q.answer} |")

    loc = LocalizationDataset("test", length=2, held_out_ok=True)
    for i in range(len(loc)):
        s = loc.scene(i)
        target, track = loc.sounding(s)
        image, audio = f"localization_{s.seed}.png", f"localization_{s.seed}.wav"
        Image.fromarray(s.image).save(out / image, optimize=True)
        _write_wav(out / audio, track.audio)
        objects = [o.name for o in s.objects]
        entries.append(
            {
                "file": image,
                "audio": audio,
                "task": "localization",
                "objects": objects,
                "sounding": target.name,
                "sounding_box": list(target.box),
                "sound": get_class(target.name).sound,
                "second_source": track.second,
                "noise": track.noise,
            }
        )
        table.append(
            f"| `{image}` + `{audio}` | localization | {', '.join(objects)}; sounding: "
            f"**{target.name}** ({target.position}); off-screen second source: "
            f"{track.second or 'none'}; noise: {track.noise or 'none'} |"
        )

    for group in ("child", "adult", "older"):
        seed = next(seed for seed in TEST if person(seed).age_group == group)
        p = person(seed)
        name = f"voice_{seed}.wav"
        _write_wav(out / name, p.voice(2.0))
        entries.append(
            {
                "file": name,
                "task": "voice_to_face",
                "age_group": p.age_group,
                "gender": p.gender,
                "not_in_voice": {"skin_tone": p.skin_tone, "hair": p.hair},
            }
        )
        table.append(
            f"| `{name}` | voice to face | {p.age_group} {p.gender} (face: skin {p.skin_tone}, "
            f"hair {p.hair}) |"
        )

    manifest = out / "examples.json"
    payload = {"grammar": language.GRAMMAR_VERSION, "examples": entries}
    manifest.write_text(json.dumps(payload, indent=1) + "\n")
    readme = out / "README.md"
    readme.write_text("\n".join([*_README_HEAD, *table]) + "\n")
    log.info("wrote %d examples into %s", len(entries), out)
    files = [out / str(e["file"]) for e in entries]
    files += [out / str(e["audio"]) for e in entries if "audio" in e]
    return [*files, manifest, readme]


_README_HEAD = [
    "# Example inputs",
    "",
    "Generated by `python -m multimodal_core.world examples` from held-out test seeds of the",
    f"synthetic world (grammar `{language.GRAMMAR_VERSION}`); regenerate, do not edit by hand.",
    "`examples.json` holds the full annotations (every caption, question and answer) for the",
    "app's galleries. Pictures: Twemoji (CC-BY 4.0); instrument and effect sounds: the TimGM6mb",
    "SoundFont shipped with pretty_midi; voices: eSpeak NG. Audio: 16 kHz mono 16-bit WAV.",
    "",
    "| file | task | what it holds |",
    "|---|---|---|",
]
