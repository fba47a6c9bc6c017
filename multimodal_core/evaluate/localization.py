"""Evaluate the built-in sound-source localizer on held-out world scenes.

``python -m multimodal_core.evaluate localization [--json]``. Every test picture holds 2-4
objects that could sound (distinct classes) plus 0-2 silent ones, and the clip of one of them
(sometimes with a quieter off-screen source and background noise), so knowing *what* sounds is
not enough: the map must say *where*. Reported, for the model and for three baselines that
look at no sound at all (a centre prior, the whole picture, and the box of a random
sound-capable object in the picture, which scores cIoU without localising anything):

- pointing accuracy: the map's maximum falls inside the sounding object's box;
- cIoU at 0.5 and AUC, as Senocak et al. 2018 define them: the map, scaled to [0, 1], is cut at
  a threshold into "the source" A; cIoU = sum_{i in A} g_i / (sum_i g_i + |A \\ G|) with g the
  box (one annotator: cIoU is the IoU of A and the box); "cIoU" is the share of pictures with
  cIoU >= 0.5 and AUC the area under that share as the cIoU cut goes from 0 to 1;
- the swap test: the same picture with the sound of another sound-capable object in it (no
  noise, no second source): the maximum must move into that object's box;
- mixtures: the sounds of two objects in the picture at equal level; the share whose two
  strongest peaks fall one in each of the two boxes.

The human table comes first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core.evaluate.cards import write_localization_card
from multimodal_core.evaluate.metrics import (
    argmax_yx,
    auc,
    box_mask,
    centre_prior,
    ciou,
    ciou_at,
    in_box,
    peaks_on_both,
)

logger = logging.getLogger(__name__)

# ----- the test set ---------------------------------------------------------------------------


@dataclass
class HeldOutCase:
    """One held-out picture with the clip of its sounding object, the clip of another
    sound-capable object in it (swap test) and both at equal level (mixture test)."""

    image: np.ndarray  # (H, W, 3) uint8
    target: str  # class name of the sounding object
    other: str  # class name of the swapped-in object
    box: tuple[int, int, int, int]  # of the target
    other_box: tuple[int, int, int, int]
    candidate_boxes: list[tuple[int, int, int, int]]  # every sound-capable object's box
    audio: np.ndarray  # the dataset's track: target, maybe a quieter off-screen source, noise
    swap_audio: np.ndarray  # the other object's sound alone
    mix_audio: np.ndarray  # target and other at equal level


def held_out_cases(
    n: int, seconds: float = 2.0, sample_rate: int = 16_000, split: str = "test"
) -> list[HeldOutCase]:
    """The first ``n`` scenes of a held-out split, each with its three clips (deterministic)."""
    from multimodal_core.world.catalogue import get_class
    from multimodal_core.world.datasets import LocalizationDataset
    from multimodal_core.world.seeding import rng_for
    from multimodal_core.world.sounds import mixture

    dataset = LocalizationDataset(
        split, size=128, length=n, held_out_ok=True, seconds=seconds, sample_rate=sample_rate
    )
    cases = []
    for index in range(n):
        scene = dataset.scene(index)
        target, track = dataset.sounding(scene)
        sounding = [o for o in scene.objects if get_class(o.name).sound is not None]
        others = [o for o in sounding if o is not target]
        rng = rng_for(scene.seed, "localization-evaluation")
        other = others[int(rng.integers(len(others)))]
        other_source = get_class(other.name).sound
        target_source = get_class(target.name).sound
        assert other_source is not None and target_source is not None
        swap = mixture(other_source, scene.seed + 1, seconds, sample_rate).audio
        mix = mixture(
            target_source, scene.seed, seconds, sample_rate, second=other_source,
            second_db=(0.0, 0.0),
        ).audio  # fmt: skip
        cases.append(
            HeldOutCase(
                image=scene.image,
                target=target.name,
                other=other.name,
                box=target.box,
                other_box=other.box,
                candidate_boxes=[o.box for o in sounding],
                audio=track.audio,
                swap_audio=swap,
                mix_audio=mix,
            )
        )
    return cases


# ----- running the model ------------------------------------------------------------------------


def model_maps(
    model, images: np.ndarray, clips: list[np.ndarray], batch: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel maps (N, H, W) in [0, 1] and peak similarities (N,) of pictures with their clips."""
    from multimodal_core import audio
    from multimodal_core.models.localization import pixel_map

    c = model.config
    features = audio.FeatureConfig(
        sample_rate=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length, n_mels=c.n_mels
    )
    heats, peaks = [], []
    size = images.shape[1]
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            pictures = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2)
            pictures = pictures.float().div(255.0)
            mels = audio.log_mel(np.stack(clips[start : start + batch]), features)
            similarity = model(pictures, mels).similarity  # (b, g, g)
            heats.append(pixel_map(similarity, size, size, c.map_smoothing).numpy())
            peaks.append(similarity.flatten(1).amax(1).numpy())
    return np.concatenate(heats), np.concatenate(peaks)


def _rates(heats: np.ndarray, cases: list[HeldOutCase], threshold: float) -> dict[str, float]:
    size = heats.shape[1]
    cious = [
        ciou(h, box_mask(c.box, size, size), threshold) for h, c in zip(heats, cases, strict=True)
    ]
    return {"ciou": ciou_at(cious), "auc": auc(cious), "mean_ciou": float(np.mean(cious))}


def _best_threshold(heat: np.ndarray, cases: list[HeldOutCase]) -> tuple[float, dict[str, float]]:
    """A map that ignores the sound has one shape for every picture: give it its best cut."""
    options = {float(t): _rates(np.repeat(heat[None], len(cases), 0), cases, float(t)) for t in
               np.round(np.arange(0.05, 0.96, 0.05), 2)}  # fmt: skip
    best = max(options, key=lambda t: options[t]["ciou"] + options[t]["auc"])
    return best, options[best]


def evaluate(checkpoint: Path, n: int, seconds: float = 2.0, seed: int = 0) -> dict:
    """Every figure of the module docstring for the model at ``checkpoint`` and the baselines."""
    from multimodal_core.models.localization import SoundLocalizer

    model = SoundLocalizer.from_pretrained(checkpoint)
    threshold = model.config.map_threshold
    start = time.perf_counter()
    cases = held_out_cases(n, seconds, model.config.sample_rate)
    logger.info("rendered %d test cases in %.0f s", n, time.perf_counter() - start)
    images = np.stack([c.image for c in cases])
    size = images.shape[1]
    heats, _ = model_maps(model, images, [c.audio for c in cases])
    swap_heats, _ = model_maps(model, images, [c.swap_audio for c in cases])
    mix_heats, _ = model_maps(model, images, [c.mix_audio for c in cases])

    pointing = np.mean([in_box(argmax_yx(h), c.box) for h, c in zip(heats, cases, strict=True)])
    swap = np.mean(
        [in_box(argmax_yx(h), c.other_box) for h, c in zip(swap_heats, cases, strict=True)]
    )
    both = np.mean(
        [peaks_on_both(h, [c.box, c.other_box]) for h, c in zip(mix_heats, cases, strict=True)]
    )
    model_rates = _rates(heats, cases, threshold)
    rates_half = _rates(heats, cases, 0.5)

    # Baselines that hear nothing.
    centre = centre_prior(size, size)
    centre_threshold, centre_rates = _best_threshold(centre, cases)
    centre_point = argmax_yx(centre)
    centre_pointing = np.mean([in_box(centre_point, c.box) for c in cases])
    whole = _rates(np.ones((n, size, size)), cases, 0.5)
    rng = np.random.default_rng(seed)
    picks = [c.candidate_boxes[int(rng.integers(len(c.candidate_boxes)))] for c in cases]
    random_maps = np.stack([box_mask(b, size, size).astype(np.float32) for b in picks])
    random_rates = _rates(random_maps, cases, 0.5)
    random_pointing = np.mean(
        [
            in_box(((b[1] + b[3]) // 2, (b[0] + b[2]) // 2), c.box)
            for b, c in zip(picks, cases, strict=True)
        ]
    )
    return {
        "pointing_acc": float(pointing),
        "swap_acc": float(swap),
        "ciou": model_rates["ciou"],
        "auc": model_rates["auc"],
        "mean_ciou": model_rates["mean_ciou"],
        "map_threshold": threshold,
        "ciou_at_threshold_0.5": rates_half["ciou"],
        "auc_at_threshold_0.5": rates_half["auc"],
        "mixture_both_peaks": float(both),
        "ciou_center": centre_rates["ciou"],
        "auc_center": centre_rates["auc"],
        "center_threshold": centre_threshold,
        "pointing_center": float(centre_pointing),
        "ciou_whole": whole["ciou"],
        "auc_whole": whole["auc"],
        "ciou_random_object": random_rates["ciou"],
        "auc_random_object": random_rates["auc"],
        "pointing_random_object": float(random_pointing),
        "n": n,
        "split": "test",
        "checkpoint": str(checkpoint),
        "seconds": round(time.perf_counter() - start, 1),
    }


def table(result: dict) -> str:
    """The human summary: the model against each baseline."""
    rows = [
        ("built-in model", result["pointing_acc"], result["swap_acc"], result["ciou"],
         result["auc"]),
        (f"  same maps, cut at 0.5 (not {result['map_threshold']:.2f})", None, None,
         result["ciou_at_threshold_0.5"], result["auc_at_threshold_0.5"]),
        ("centre prior (best cut)", result["pointing_center"], None, result["ciou_center"],
         result["auc_center"]),
        ("whole image", None, None, result["ciou_whole"], result["auc_whole"]),
        ("random sound-capable object's box", result["pointing_random_object"], None,
         result["ciou_random_object"], result["auc_random_object"]),
    ]  # fmt: skip

    def cell(value: float | None) -> str:
        return "     -" if value is None else f"{value:6.3f}"

    lines = [
        f"Sound-source localization on {result['n']} held-out test scenes "
        "(2-4 sound-capable objects each)",
        f"{'':44s} {'point':>6s} {'swap':>6s} {'cIoU.5':>6s} {'AUC':>6s}",
    ]
    for name, *values in rows:
        lines.append(f"{name:44s} " + " ".join(cell(v) for v in values))
    lines.append(
        f"two-source mixtures with both peaks on the two sources: "
        f"{result['mixture_both_peaks']:.3f}"
    )
    return "\n".join(lines)


# ----- pictures for the model card and examples for the tab -------------------------------------


def example_grid(checkpoint: Path, path: Path, n: int = 6, seconds: float = 2.0) -> None:
    """Rows of test scenes: picture with the sounding object's box, the map for its sound, the
    map for the swapped-in sound (with that object's box), and the two-source mixture."""
    from PIL import Image, ImageDraw

    from multimodal_core import viz
    from multimodal_core.models.localization import SoundLocalizer

    model = SoundLocalizer.from_pretrained(checkpoint)
    cases = held_out_cases(n, seconds, model.config.sample_rate)
    images = np.stack([c.image for c in cases])
    heats, _ = model_maps(model, images, [c.audio for c in cases])
    swaps, _ = model_maps(model, images, [c.swap_audio for c in cases])
    mixes, _ = model_maps(model, images, [c.mix_audio for c in cases])
    tile, label, gap = 192, 20, 4
    sheet = Image.new("RGB", (4 * (tile + gap) + gap, n * (tile + label + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    scale = tile / images.shape[1]
    for row, case in enumerate(cases):
        top = gap + row * (tile + label + gap)
        panels = [
            (case.image, None, case.box, f"picture, box of {case.target}"),
            (case.image, heats[row], case.box, f"sound: {case.target}"),
            (case.image, swaps[row], case.other_box, f"sound: {case.other} (swap)"),
            (case.image, mixes[row], None, f"{case.target} + {case.other}"),
        ]
        for column, (image, heat, box, text) in enumerate(panels):
            left = gap + column * (tile + gap)
            pixels = image if heat is None else viz.overlay_heatmap(image, heat, normalize=False)
            panel = Image.fromarray(pixels).resize((tile, tile), Image.Resampling.BILINEAR)
            if box is not None:
                x0, y0, x1, y1 = (v * scale for v in box)
                ImageDraw.Draw(panel).rectangle((x0, y0, x1 - 1, y1 - 1), outline="white", width=2)
            sheet.paste(panel, (left, top))
            draw.text((left + 2, top + tile + 3), text, fill=(20, 20, 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def write_examples(folder: Path, n: int = 4, seconds: float = 3.0) -> list[dict]:
    """Example pairs for the tab and the slow tests: test scenes (PNG) with the sound of two of
    their objects each (WAV), one picture with no sound-capable object, and examples.json."""
    import json

    import soundfile
    from PIL import Image

    from multimodal_core.world.scenes import scene

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, case in enumerate(held_out_cases(n, seconds, 16_000)):
        picture = folder / f"scene{index + 1}.png"
        Image.fromarray(case.image).save(picture)
        for name, clip, box in (
            (case.target, case.audio, case.box),
            (case.other, case.swap_audio, case.other_box),
        ):
            wav = folder / f"scene{index + 1}_{name}.wav"
            soundfile.write(wav, clip, 16_000, subtype="PCM_16")
            entries.append(
                {"image": picture.name, "audio": wav.name, "source": name, "box": list(box)}
            )
    from multimodal_core.world.catalogue import CLASS_NAMES, SOUNDING_CLASSES
    from multimodal_core.world.splits import TEST

    silent_classes = [c for c in CLASS_NAMES if c not in SOUNDING_CLASSES]
    quiet = scene(TEST[-1], 128, n_objects=(3, 3), classes=silent_classes, repeat_probability=0.0)
    picture = folder / "no_source.png"
    Image.fromarray(quiet.image).save(picture)
    entries.append({"image": picture.name, "audio": f"scene1_{entries[0]['source']}.wav",
                    "source": None, "box": None})  # fmt: skip
    (folder / "examples.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


# ----- entry point ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from multimodal_core.settings import get_settings

    parser.add_argument(
        "--checkpoint", type=Path, default=get_settings().checkpoints_dir / "localization"
    )
    parser.add_argument("--scenes", type=int, default=500, help="held-out test scenes (>= 500)")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-object baseline")
    parser.add_argument("--grid", type=Path, help="also write a grid of example maps (PNG)")
    parser.add_argument("--write-examples", type=Path, help="also write example pairs here")
    parser.add_argument(
        "--write-card",
        action="store_true",
        help="write the figures and a grid of examples into the checkpoint's README.md",
    )
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    result = evaluate(args.checkpoint, args.scenes, args.seconds, args.seed)
    if args.write_card and not args.grid:
        args.grid = args.checkpoint / "examples.png"
    if args.grid:
        example_grid(args.checkpoint, args.grid)
        result["grid"] = str(args.grid)
    if args.write_card:
        write_localization_card(args.checkpoint, result)
    if args.write_examples:
        write_examples(args.write_examples)
    print(table(result))
    return result
