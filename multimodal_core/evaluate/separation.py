"""Evaluate the built-in sound separator on held-out world mixtures.

``python -m multimodal_core.evaluate separation [--json]``. Each test picture holds two (or
three) sounding objects of distinct classes and 0-2 silent ones; their clean clips, summed at
equal level, are the mixture. The model is given the visual vector at each source's centre (as
if a person clicked there) and its estimate is scored against that source's clean clip with
BSS Eval (``mir_eval.separation.bss_eval_sources``: SDR, SIR, SAR in dB), beside:

- the mixture itself as the estimate (the baseline; SDR improvement is measured over it);
- the ideal ratio mask, ``|S_i| / sum_j |S_j|`` of the true sources on the mixture's STFT with
  its phase (the ceiling of any mask on this STFT);
- the model given the wrong object's vector (the other source's, two-source mixtures): it
  should return little of the target, so its SDR improvement should be at most 0.

Scenes come from the held-out test split (seeds the training never sees). The human table
comes first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

TARGETS = {"sdri_db": 6.0, "sdri_three_db": 3.0}  # at least; wrong_object_sdri_db at most 0
WRONG_OBJECT_TARGET = 0.0


def bss_eval(references: np.ndarray, estimates: np.ndarray) -> tuple[np.ndarray, ...]:
    """SDR, SIR, SAR (N,) of each estimate (N, T) against the reference of the same row."""
    from mir_eval.separation import bss_eval_sources

    with warnings.catch_warnings():  # deprecated for bss_eval_images in 0.8, same figures here
        warnings.simplefilter("ignore", FutureWarning)
        sdr, sir, sar, _ = bss_eval_sources(
            references.astype(np.float64), estimates.astype(np.float64), compute_permutation=False
        )
    return sdr, sir, sar


def ideal_ratio_mask(model, clips: np.ndarray) -> np.ndarray:
    """The sources' own ratio masks on the mixture's STFT, inverted with its phase (N, T)."""
    sources = model.stft(torch.from_numpy(clips))  # (N, bins, frames)
    mixture = sources.sum(0)
    magnitudes = sources.abs()
    masks = magnitudes / magnitudes.sum(0, keepdim=True).clamp_min(1e-8)
    return model.istft(masks * mixture[None], clips.shape[-1]).numpy()


def _mean(values: list[np.ndarray]) -> float:
    return float(np.mean(np.concatenate(values))) if values else float("nan")


def evaluate(
    checkpoint: Path, localization: Path, n_two: int, n_three: int, seconds: float
) -> dict:
    """BSS Eval figures of the model, the mixture, the ideal ratio mask and the wrong object."""
    from multimodal_core.models.localization import SoundLocalizer
    from multimodal_core.models.sound_of_pixels import (
        SoundOfPixels,
        check_visual_checkpoint,
        region_feature,
    )
    from multimodal_core.world.datasets import image_tensor
    from multimodal_core.world.separation import object_point, separation_scene

    model = SoundOfPixels.from_pretrained(checkpoint)
    check_visual_checkpoint(model.config, localization)
    localizer = SoundLocalizer.from_pretrained(localization).eval()
    start = time.perf_counter()
    result: dict = {}
    for n_sources, count in ((2, n_two), (3, n_three)):
        figures: dict[str, list[np.ndarray]] = {}
        for index in range(count):
            item = separation_scene(
                "test", index, n_sources, seconds=seconds,
                sample_rate=model.config.sample_rate, held_out_ok=True,
            )  # fmt: skip
            with torch.no_grad():
                grid = localizer.visual(image_tensor(item.scene.image)[None])[0]
            size = item.scene.size
            window = model.config.region_window
            features = torch.stack(
                [region_feature(grid, *object_point(o.mask), size, size, window)
                 for o in item.sources]
            )  # fmt: skip
            mixture = item.mixture
            _, waves = model.separate(torch.from_numpy(mixture), features)
            estimates = {
                "model": waves.numpy(),
                "mixture": np.repeat(mixture[None], n_sources, axis=0),
                "irm": ideal_ratio_mask(model, item.clips),
            }
            if n_sources == 2:
                estimates["wrong"] = estimates["model"][::-1]  # each source given the other's
            for name, estimate in estimates.items():
                for metric, values in zip(
                    ("sdr", "sir", "sar"), bss_eval(item.clips, estimate), strict=True
                ):
                    figures.setdefault(f"{name}_{metric}", []).append(values)
        means = {k: _mean(v) for k, v in figures.items()}
        result[n_sources] = means
    two, three = result[2], result[3]
    seconds_taken = time.perf_counter() - start
    return {
        "sdri_db": two["model_sdr"] - two["mixture_sdr"],
        "sir_db": two["model_sir"],
        "sar_db": two["model_sar"],
        "sdr_db": two["model_sdr"],
        "mixture_sdr_db": two["mixture_sdr"],
        "mixture_sir_db": two["mixture_sir"],
        "sdri_irm_db": two["irm_sdr"] - two["mixture_sdr"],
        "sir_irm_db": two["irm_sir"],
        "sar_irm_db": two["irm_sar"],
        "wrong_object_sdri_db": two["wrong_sdr"] - two["mixture_sdr"],
        "sdri_three_db": three["model_sdr"] - three["mixture_sdr"],
        "sir_three_db": three["model_sir"],
        "sar_three_db": three["model_sar"],
        "sdri_irm_three_db": three["irm_sdr"] - three["mixture_sdr"],
        "n": n_two,
        "n_three": n_three,
        "seconds": seconds,
        "sample_rate": model.config.sample_rate,
        "eval_seconds": round(seconds_taken, 1),
    }


def table(result: dict) -> str:
    r = result
    lines = [
        f"Separation on held-out world mixtures ({r['n']} two-source, {r['n_three']} "
        f"three-source, {r['seconds']:g} s at {r['sample_rate']} Hz), BSS Eval in dB",
        f"{'':40s} {'SDRi':>7s} {'SIR':>7s} {'SAR':>7s}",
        f"{'model, two sources':40s} {r['sdri_db']:7.2f} {r['sir_db']:7.2f} {r['sar_db']:7.2f}",
        f"{'mixture as the estimate':40s} {0.0:7.2f} {r['mixture_sir_db']:7.2f} {'inf':>7s}",
        f"{'ideal ratio mask':40s} {r['sdri_irm_db']:7.2f} {r['sir_irm_db']:7.2f} "
        f"{r['sar_irm_db']:7.2f}",
        f"{'model given the wrong object':40s} {r['wrong_object_sdri_db']:7.2f}",
        f"{'model, three sources':40s} {r['sdri_three_db']:7.2f} {r['sir_three_db']:7.2f} "
        f"{r['sar_three_db']:7.2f}",
        f"{'ideal ratio mask, three sources':40s} {r['sdri_irm_three_db']:7.2f}",
        f"(mixture SDR {r['mixture_sdr_db']:.2f} dB; targets: SDRi >= {TARGETS['sdri_db']:g}, "
        f"three-source SDRi >= {TARGETS['sdri_three_db']:g}, wrong object <= "
        f"{WRONG_OBJECT_TARGET:g}; {r['eval_seconds']:.0f} s)",
    ]
    return "\n".join(lines)


def write_examples(folder: Path, n: int = 3, seconds: float = 3.0) -> list[dict]:
    """World examples for the tab: test pictures (PNG) with their mixtures (WAV) and where
    each source is (``examples.json``)."""
    import json

    import soundfile
    from PIL import Image

    from multimodal_core.world.separation import object_point, separation_scene

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(n):
        item = separation_scene(
            "test", 1000 + index, 2 + index % 2, seconds=seconds, held_out_ok=True
        )
        picture, wav = folder / f"mixture{index + 1}.png", folder / f"mixture{index + 1}.wav"
        Image.fromarray(item.scene.image).save(picture)
        soundfile.write(wav, item.mixture / max(1.0, float(np.abs(item.mixture).max())),
                        16_000, subtype="PCM_16")  # fmt: skip
        sources = [{"name": o.name, "point": list(object_point(o.mask))} for o in item.sources]
        entries.append({"image": picture.name, "audio": wav.name, "sources": sources})
    (folder / "examples.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from multimodal_core.settings import get_settings

    checkpoints = get_settings().checkpoints_dir
    parser.add_argument("--checkpoint", type=Path, default=checkpoints / "separation")
    parser.add_argument(
        "--localization", type=Path, default=checkpoints / "localization",
        help="the localization model whose region vectors condition the separator",
    )  # fmt: skip
    parser.add_argument("--two", type=int, default=500, help="two-source test mixtures (500)")
    parser.add_argument("--three", type=int, default=200, help="three-source test mixtures (200)")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length")
    parser.add_argument("--write-examples", type=Path, help="also write the tab's examples here")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    result = evaluate(args.checkpoint, args.localization, args.two, args.three, args.seconds)
    if args.write_examples:
        write_examples(args.write_examples)
    print(table(result))
    return result
