"""Evaluate the out-of-world score on held-out material: ``python -m multimodal_core.evaluate
out-of-world [--json]``.

World: ``--scenes`` test-split scenes as the tasks see them (seeds the training never reads).
Not world: the held-out photos of :mod:`multimodal_core.world.real_pictures` (whole sources the
head never saw in any form), whole and as greyscale, rotated, mirrored and cropped copies. For
each it reports the share flagged out of the world at the head's stored threshold, and the same
for two baselines a skeptic would try first, each with its threshold set on validation scenes:
the world classifier's top object probability, and the built-in captioner's mean log
probability per word (its old out-of-world warning, without the object-count rule).

Sounds and voices (the heads of ``checkpoints/out_of_world_sound`` and ``_voice`` on the
localization model's audio net), on :mod:`multimodal_core.world.real_sounds`. Sound: world =
``--sounds`` test-split sounds as the sound tabs get them; not world = the held-out kinds
(sawtooth and FM tones, chords, pink noise alone, music of other GM programs) and the held-out
recordings (Cate Blanchett's two clips, the cantina band), and, reported apart, fresh draws (seed
``--seed``) of the kinds it trained on. Voice: world = ``--voices`` test-split people's voices;
not voices = the same held-out signals and the held-out music recording, test-split world object
sounds, and the fresh draws; the held-out speech recordings are reported apart (real speech
should pass). The baseline for voices is the voice tab's old rule, a pyin voiced fraction under
0.15 (on 300 evenly spaced clips of each set: pyin is slow). The last line printed is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from multimodal_core import media
from multimodal_core.backends import voice_to_face
from multimodal_core.decoding import beam_search
from multimodal_core.models.localization import SoundLocalizer
from multimodal_core.models.out_of_world import (
    OutOfWorldHead,
    hearing_config,
    recording_statistics,
)
from multimodal_core.models.show_attend_tell import ShowAttendTell
from multimodal_core.models.world_classifier import WorldClassifier
from multimodal_core.settings import get_settings
from multimodal_core.world import real_pictures, real_sounds

BASELINE_SCENES = range(6000, 8000)
"""Validation indices that set the baselines' thresholds: after the head's fit (0..2999) and
calibration (3000..5999) scenes, so no baseline borrows the head's data."""


def _batches(pictures: list[np.ndarray], size: int, batch: int = 256):
    for i in range(0, len(pictures), batch):
        yield media.square_batch(pictures[i : i + batch], size)


@torch.inference_mode()
def head_scores(classifier: WorldClassifier, head: OutOfWorldHead, pictures: list) -> np.ndarray:
    """The head's world probability of each picture."""
    size = classifier.config.image_size
    parts = [
        head(classifier.feature_statistics(x)).world_probability for x in _batches(pictures, size)
    ]
    return torch.cat(parts).numpy()


@torch.inference_mode()
def top_object_probability(classifier: WorldClassifier, pictures: list) -> np.ndarray:
    """The world classifier's most confident object: a scene always holds one it knows."""
    size = classifier.config.image_size
    parts = [classifier(x).object_logits.sigmoid().amax(1) for x in _batches(pictures, size)]
    return torch.cat(parts).numpy()


@torch.inference_mode()
def caption_mean_log_prob(captioner: ShowAttendTell, pictures: list) -> np.ndarray:
    """Mean log probability per token of the captioner's best beam (beam 5, as the tab);
    -inf when no beam ended its sentence, which the old warning also flagged."""
    size = captioner.config.image_size
    scores = []
    for x in _batches(pictures, size, batch=64):
        for hyps in beam_search(captioner, x, 5):
            best = hyps[0]
            mean = best.log_prob / max(len(best.token_log_probs), 1)
            scores.append(mean if best.finished else -np.inf)
    return np.array(scores)


def _flagged(scores: np.ndarray, threshold: float) -> float:
    return float((scores < threshold).mean())


def evaluate(args: argparse.Namespace) -> dict:
    """Every figure of the module docstring, as a dict."""
    classifier = WorldClassifier.from_pretrained(args.classifier)
    head = OutOfWorldHead.from_pretrained(args.head)
    world = real_pictures.world_pictures("test", 0, args.scenes, held_out_ok=True)
    rng = np.random.default_rng(args.seed)
    photos, sources = real_pictures.real_pictures(real_pictures.HELD_OUT_SOURCES, rng, args.crops)
    whole = [real_pictures.source_pictures(s)[0] for s in sorted(set(sources))]
    validation = real_pictures.world_pictures(
        "validation", BASELINE_SCENES.start, len(BASELINE_SCENES)
    )

    threshold = head.config.threshold
    world_p, photo_p = head_scores(classifier, head, world), head_scores(classifier, head, photos)
    whole_p = head_scores(classifier, head, whole)
    per_source = {
        s: _flagged(photo_p[np.array(sources) == s], threshold) for s in sorted(set(sources))
    }
    result: dict = {
        "threshold": round(threshold, 6),
        "n_world": len(world),
        "n_photos": len(photos),
        "n_photo_sources": len(whole),
        "world_flagged": round(_flagged(world_p, threshold), 4),
        "photos_flagged": round(_flagged(photo_p, threshold), 4),
        "whole_photos_flagged": round(_flagged(whole_p, threshold), 4),
        "photos_flagged_by_source": {s: round(v, 3) for s, v in per_source.items()},
        "world_flag_target": 0.02,
        "photos_flag_target": 1.0,
    }
    baselines = {"classifier_top_probability": lambda p: top_object_probability(classifier, p)}
    if not args.no_caption_baseline:
        captioner = ShowAttendTell.from_pretrained(args.captioner)
        baselines["caption_mean_log_prob"] = lambda p: caption_mean_log_prob(captioner, p)
    for name, score in baselines.items():
        on_world, on_photos = score(world), score(photos)
        cuts = {name: float(np.quantile(score(validation), args.baseline_world_rate))}
        if name == "caption_mean_log_prob":  # the old warning at its own shipped threshold too
            config = json.loads((args.captioner / "generation_config.json").read_text())
            cuts["caption_shipped_threshold"] = float(config["out_of_world_mean_log_prob"])
        for label, cut in cuts.items():
            result[f"baseline_{label}"] = {
                "threshold": round(cut, 4),
                "world_flagged": round(_flagged(on_world, cut), 4),
                "photos_flagged": round(_flagged(on_photos, cut), 4),
            }
    return result


_NON_SPEECH = frozenset(real_sounds.HELD_OUT_KINDS) | {
    r for r in real_sounds.HELD_OUT_RECORDINGS if not real_sounds.is_speech(r)
}
"""Held-out kinds and recordings that are no voice."""


def _sound_flags(localizer: SoundLocalizer, head: OutOfWorldHead, clips: list) -> np.ndarray:
    """1.0 for each recording the head flags out of the world, else 0.0."""
    features = recording_statistics(localizer.audio, hearing_config(localizer.config), clips)
    with torch.inference_mode():
        return (~head.is_in_world(features)).float().numpy()


def _kind_rates(flags: np.ndarray, kinds: list[str]) -> dict[str, float]:
    labels = np.array(kinds)
    return {k: round(float(flags[labels == k].mean()), 3) for k in dict.fromkeys(kinds)}


def _held_out_material(
    rng: np.random.Generator, each: int, crops: int, speech: bool | None
) -> tuple[list, list[str]]:
    """The held-out signal kinds and recordings (only the non-speech ones when ``speech`` is
    False), with the kind of each clip."""
    clips = real_sounds.signals(real_sounds.HELD_OUT_KINDS, rng, each)
    kinds = [k for k in real_sounds.HELD_OUT_KINDS for _ in range(each)]
    for name in real_sounds.HELD_OUT_RECORDINGS:
        found = real_sounds.recording_crops((name,), rng, crops, speech)
        clips += found
        kinds += [name] * len(found)
    return clips, kinds


def _fresh_material(rng: np.random.Generator, each: int) -> tuple[list, list[str]]:
    """New draws of the kinds the heads trained on."""
    clips = real_sounds.signals(real_sounds.TRAIN_KINDS, rng, each)
    return clips, [k for k in real_sounds.TRAIN_KINDS for _ in range(each)]


PITCH_BASELINE_CLIPS = 300
"""pyin is slow (a few clips a second): the baseline reads 300 evenly spaced clips of each set."""


def voiced_fraction(clips: list) -> np.ndarray:
    """The voice tab's old speech test: pyin's voiced share of evenly spaced clips."""
    rate = real_sounds.SAMPLE_RATE
    step = max(1, len(clips) // PITCH_BASELINE_CLIPS)
    return np.array([voice_to_face.pitch_track(c, rate).voiced_fraction for c in clips[::step]])


def evaluate_sounds(args: argparse.Namespace) -> dict:
    """The sound and voice figures of the module docstring, as a dict."""
    localizer = SoundLocalizer.from_pretrained(args.localizer)
    sound_head = OutOfWorldHead.from_pretrained(args.sound_head)
    voice_head = OutOfWorldHead.from_pretrained(args.voice_head)
    rng = np.random.default_rng(args.seed)
    held, held_kinds = _held_out_material(rng, args.signals, args.recording_crops, None)
    fresh, fresh_kinds = _fresh_material(rng, args.signals)
    world = real_sounds.world_sounds("test", 0, args.sounds, held_out_ok=True)

    held_f = _sound_flags(localizer, sound_head, held)
    fresh_f = _sound_flags(localizer, sound_head, fresh)
    result: dict = {
        "sound_threshold": round(sound_head.config.threshold, 6),
        "sound_reference_threshold": round(sound_head.config.reference_threshold, 6),
        "n_sound_world": len(world),
        "n_sound_real": len(held),
        "n_sound_fresh": len(fresh),
        "sound_world_flagged": round(float(_sound_flags(localizer, sound_head, world).mean()), 4),
        "sound_real_flagged": round(float(held_f.mean()), 4),
        "sound_fresh_flagged": round(float(fresh_f.mean()), 4),
        "sound_flagged_by_kind": {
            **_kind_rates(held_f, held_kinds),
            **_kind_rates(fresh_f, fresh_kinds),
        },
    }

    voices = real_sounds.world_voices("test", 0, args.voices, held_out_ok=True)
    speech = real_sounds.recording_crops(
        real_sounds.HELD_OUT_RECORDINGS, rng, args.recording_crops, speech=True
    )
    objects = real_sounds.world_object_sounds("test", 0, args.object_sounds, held_out_ok=True)
    not_voices = [c for c, k in zip(held, held_kinds, strict=True) if k in _NON_SPEECH]
    not_kinds = [k for k in held_kinds if k in _NON_SPEECH] + ["world_objects"] * len(objects)
    not_voices += objects
    not_f = _sound_flags(localizer, voice_head, not_voices)
    fresh_f = _sound_flags(localizer, voice_head, fresh)
    result |= {
        "voice_threshold": round(voice_head.config.threshold, 6),
        "n_voice_world": len(voices),
        "n_voice_nonvoice": len(not_voices),
        "n_voice_real_speech": len(speech),
        "voice_world_flagged": round(float(_sound_flags(localizer, voice_head, voices).mean()), 4),
        "voice_nonvoice_flagged": round(float(not_f.mean()), 4),
        "voice_fresh_flagged": round(float(fresh_f.mean()), 4),
        "voice_real_speech_flagged": round(
            float(_sound_flags(localizer, voice_head, speech).mean()), 4
        ),
        "voice_flagged_by_kind": {
            **_kind_rates(not_f, not_kinds),
            **_kind_rates(fresh_f, fresh_kinds),
        },
        "voice_flag_target": {"world": 0.02, "nonvoice": 1.0},
        "sound_flag_target": {"world": 0.02, "real": 1.0},
    }
    if not args.no_pitch_baseline:
        cut = voice_to_face.MIN_VOICED_FRACTION
        result["baseline_voiced_fraction"] = {
            "threshold": cut,
            "world_flagged": round(_flagged(voiced_fraction(voices), cut), 4),
            "nonvoice_flagged": round(_flagged(voiced_fraction(not_voices), cut), 4),
            "fresh_flagged": round(_flagged(voiced_fraction(fresh), cut), 4),
        }
    return result


def sound_table(result: dict) -> str:
    """The sound and voice figures as Markdown."""
    lines = [
        "",
        "| sound check | world flagged (target <= 2%) | held-out not-world flagged (target 100%) "
        "| fresh draws of trained kinds flagged |",
        "|---|---|---|---|",
        f"| sound: from the world's sound world? ({result['n_sound_world']} test sounds, "
        f"{result['n_sound_real']} held-out) | {result['sound_world_flagged']:.1%} | "
        f"{result['sound_real_flagged']:.1%} | {result['sound_fresh_flagged']:.1%} |",
        f"| voice: is it speech? ({result['n_voice_world']} test voices, "
        f"{result['n_voice_nonvoice']} held-out non-voices) | {result['voice_world_flagged']:.1%} "
        f"| {result['voice_nonvoice_flagged']:.1%} | {result['voice_fresh_flagged']:.1%} |",
    ]
    if "baseline_voiced_fraction" in result:
        b = result["baseline_voiced_fraction"]
        lines.append(
            f"| voice baseline: pyin voiced share < {b['threshold']} | {b['world_flagged']:.1%} "
            f"| {b['nonvoice_flagged']:.1%} | {b['fresh_flagged']:.1%} |"
        )
    lines += [
        "",
        f"held-out real speech called not a voice: {result['voice_real_speech_flagged']:.0%} "
        f"of {result['n_voice_real_speech']}",
        "sound flagged by kind: "
        + ", ".join(f"{k} {v:.0%}" for k, v in result["sound_flagged_by_kind"].items()),
        "voice flagged by kind: "
        + ", ".join(f"{k} {v:.0%}" for k, v in result["voice_flagged_by_kind"].items()),
    ]
    return "\n".join(lines)


def markdown_table(result: dict) -> str:
    rows = [("out-of-world head (this model)", result)]
    rows += [
        (k.removeprefix("baseline_"), v) for k, v in result.items() if k.startswith("baseline_")
    ]
    lines = [
        f"{result['n_world']} held-out world scenes, {result['n_photos']} pictures from "
        f"{result['n_photo_sources']} held-out photos",
        "",
        "| score | world scenes flagged (target <= 2%) | held-out photos flagged (target 100%) |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {v['world_flagged']:.1%} | {v['photos_flagged']:.1%} |" for n, v in rows]
    lines += [
        "",
        f"whole held-out photos flagged: {result['whole_photos_flagged']:.0%}; by source: "
        + ", ".join(f"{s} {v:.0%}" for s, v in result["photos_flagged_by_source"].items()),
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    checkpoints = get_settings().checkpoints_dir
    parser.add_argument("--head", type=Path, default=checkpoints / "out_of_world")
    parser.add_argument("--classifier", type=Path, default=checkpoints / "world_classifier")
    parser.add_argument("--captioner", type=Path, default=checkpoints / "captioning")
    parser.add_argument("--scenes", type=int, default=3000, help="held-out world scenes")
    parser.add_argument("--crops", type=int, default=20, help="random crops per held-out photo")
    parser.add_argument("--seed", type=int, default=1, help="seeds the crops (training used 0)")
    parser.add_argument(
        "--baseline-world-rate", type=float, default=0.01,
        help="share of validation scenes the baselines flag (as the head's calibration)",
    )  # fmt: skip
    parser.add_argument(
        "--no-caption-baseline", action="store_true", help="skip the captioner (slowest part)"
    )
    parser.add_argument("--sound-head", type=Path, default=checkpoints / "out_of_world_sound")
    parser.add_argument("--voice-head", type=Path, default=checkpoints / "out_of_world_voice")
    parser.add_argument("--localizer", type=Path, default=checkpoints / "localization")
    parser.add_argument("--sounds", type=int, default=2000, help="held-out world sounds")
    parser.add_argument("--voices", type=int, default=2000, help="held-out world voices")
    parser.add_argument("--object-sounds", type=int, default=600, help="held-out world objects")
    parser.add_argument("--signals", type=int, default=40, help="clips of each signal kind")
    parser.add_argument("--recording-crops", type=int, default=10, help="windows per recording")
    parser.add_argument("--no-sounds", action="store_true", help="pictures only")
    parser.add_argument(
        "--no-pitch-baseline", action="store_true", help="skip pyin on every voice (slow)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    result = evaluate(args)
    table = markdown_table(result)
    if not args.no_sounds:
        result |= evaluate_sounds(args)
        table += "\n" + sound_table(result)
    print(table)
    return result
