"""How fast the synthetic world renders on one thread: scenes, dataset items, sounds, voices.

    python bench/world.py            # a table
    python bench/world.py --json     # the table, then one JSON object as the last line

Each figure is items per CPU second of this single-threaded process (``time.process_time``),
so that other jobs sharing the machine do not skew it; measured for about ``--seconds`` after
a warm-up that fills the glyph cache (the cold figure is shown beside the warm one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multimodal_core.world import language
from multimodal_core.world.datasets import CaptioningDataset, LocalizationDataset, VQADataset
from multimodal_core.world.people import person
from multimodal_core.world.scenes import scene
from multimodal_core.world.sounds import SOUND_SOURCES, sound

CLIP_SECONDS = 2.0
SAMPLE_RATE = 16000


def rate(fn: Callable[[int], object], seconds: float, start: int = 0) -> tuple[float, int]:
    """Calls of ``fn(i)`` per CPU second for i = start, start + 1, ... for ``seconds``."""
    t0 = time.process_time()
    i = start
    while time.process_time() - t0 < seconds:
        fn(i)
        i += 1
    return (i - start) / (time.process_time() - t0), i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = args.seconds

    cold128, _ = rate(lambda i: scene(i, 128), budget)
    rate(lambda i: scene(i, 128), 2 * budget, start=100_000)  # fill the glyph cache
    warm128, _ = rate(lambda i: scene(i, 128), budget, start=200_000)
    rate(lambda i: scene(i, 96), 2 * budget, start=300_000)
    warm96, _ = rate(lambda i: scene(i, 96), budget, start=400_000)
    annotated, _ = rate(
        lambda i: (s := scene(i, 128), language.captions(s), language.questions(s)),
        budget,
        start=500_000,
    )
    captioning = CaptioningDataset("train", size=128)
    captioning_items, _ = rate(captioning.__getitem__, budget, start=600_000)
    vqa = VQADataset("train", size=96)
    vqa_items, _ = rate(vqa.__getitem__, budget, start=700_000)

    sources = list(SOUND_SOURCES)
    synth_sources = [s for s in sources if not s.startswith("speech-")]
    clips_all, _ = rate(
        lambda i: sound(sources[i % len(sources)], i, CLIP_SECONDS, SAMPLE_RATE), budget
    )
    clips_synth, _ = rate(
        lambda i: sound(synth_sources[i % len(synth_sources)], i, CLIP_SECONDS, SAMPLE_RATE),
        budget,
    )
    voices, _ = rate(lambda i: person(i).voice(CLIP_SECONDS, SAMPLE_RATE), budget)
    localization = LocalizationDataset("train", size=128, seconds=CLIP_SECONDS)
    rate(localization.__getitem__, budget)  # warm the 128 px glyphs of sounding classes
    localization_items, _ = rate(localization.__getitem__, budget, start=10_000)

    rows = [
        ("scenes 128 px, cold glyph cache", cold128, "scenes/s"),
        ("scenes 128 px, warm", warm128, "scenes/s"),
        ("scenes 96 px, warm", warm96, "scenes/s"),
        ("scene + 6 captions + questions, 128 px", annotated, "scenes/s"),
        ("CaptioningDataset items, 128 px", captioning_items, "items/s"),
        ("VQADataset items (scene + up to 7 Q/A), 96 px", vqa_items, "items/s"),
        (f"sound clips, all {len(sources)} sources, {CLIP_SECONDS:g} s", clips_all, "clips/s"),
        (f"sound clips, SoundFont sources only, {CLIP_SECONDS:g} s", clips_synth, "clips/s"),
        (f"voices (eSpeak NG), {CLIP_SECONDS:g} s", voices, "clips/s"),
        ("LocalizationDataset items (scene + mixture)", localization_items, "items/s"),
    ]
    print(f"synthetic world, one thread, per CPU second ({budget:g} s per row)")
    for name, value, unit in rows:
        print(f"  {name:<48} {value:>9.1f} {unit}")
    print(f"  {'glyph cache speed-up (warm / cold, 128 px)':<48} {warm128 / cold128:>9.1f} x")
    print(f"  {'sound clips, times real time':<48} {clips_all * CLIP_SECONDS:>9.0f} x")
    print(f"  {'voices, times real time':<48} {voices * CLIP_SECONDS:>9.0f} x")
    if args.json:
        summary = {
            "scenes_per_s": round(warm128, 1),
            "scenes_per_s_96px": round(warm96, 1),
            "scenes_per_s_cold": round(cold128, 1),
            "captioning_items_per_s": round(captioning_items, 1),
            "vqa_items_per_s": round(vqa_items, 1),
            "sound_clips_per_s": round(clips_all, 1),
            "soundfont_clips_per_s": round(clips_synth, 1),
            "voices_per_s": round(voices, 1),
            "localization_items_per_s": round(localization_items, 1),
            "clip_seconds": CLIP_SECONDS,
            "sample_rate": SAMPLE_RATE,
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
