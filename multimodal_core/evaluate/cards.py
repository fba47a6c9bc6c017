"""Model cards that evaluations rewrite: generated figures first, a hand-written tail kept.

One writer per family whose evaluation writes its card (``--write-card`` / ``--write-cards``):
sound-source localization and the VQA models. Each takes the evaluation's result, reads how the
checkpoint was trained from its ``training.json`` and words both as the card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from multimodal_core.evaluate.metrics import PEAK_SUPPRESSION
from multimodal_core.models.vqa import load_answers

NOTES_HEADING = "## Notes"
"""A hand-written section from this heading on survives rewriting the card."""


def save_card(path: Path, text: str) -> None:
    """Write the generated ``text`` to the card at ``path``, keeping its ``NOTES_HEADING``
    section (run history, what was tried): new figures must not erase what people wrote."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    notes = old[old.index(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    path.write_text(text.rstrip("\n") + "\n" + ("\n" + notes if notes else ""), encoding="utf-8")


# ----- sound-source localization ---------------------------------------------------------------


def _row(name: str, *values: float | None) -> str:
    cells = ["-" if v is None else f"{v:.3f}" for v in values]
    return "| " + " | ".join([name, *cells]) + " |"


LOCALIZATION_TARGETS: dict[str, tuple[str, float]] = {
    "pointing_acc": ("pointing", 0.97),
    "swap_acc": ("swap test", 0.95),
    "ciou": ("cIoU@0.5", 0.40),
    "auc": ("AUC", 0.45),
}
"""The figures the localization model was built to reach, stated in its card beside the
measured ones: a missed target says so there."""


def write_localization_card(checkpoint: Path, result: dict) -> None:
    """The localization model's card: what the model is, its figures against the baselines, how
    to retrain."""
    from multimodal_core.models.localization import BACKGROUND_QUANTILE

    training_file = checkpoint / "training.json"
    training = json.loads(training_file.read_text()) if training_file.is_file() else {}
    config = json.loads((checkpoint / "config.json").read_text())
    megabytes = (checkpoint / "model.safetensors").stat().st_size / 2**20
    nan = float("nan")
    val = training.get("validation", {})
    r = result
    patch, grid = config["patch_size"], config["image_size"] // config["output_stride"]
    strides = ", ".join(str(patch * 2**i) for i in range(len(config["visual_channels"])))
    side = config.get("map_smoothing", 1)
    smoothing = f"averaged over each cell's {side} x {side} neighbourhood, " if side > 1 else ""
    calibrated_smoothing = (
        f"smoothing **{side} x {side}** (of 1 x 1 and 3 x 3), " if side > 1 else ""
    )
    table = "\n".join(
        [
            "| map | pointing | swap test | cIoU@0.5 | AUC |",
            "|---|---|---|---|---|",
            _row(f"**built-in model** (cut {r['map_threshold']:.2f})", r["pointing_acc"],
                 r["swap_acc"], r["ciou"], r["auc"]),
            _row("built-in model, cut at 0.5", None, None, r["ciou_at_threshold_0.5"],
                 r["auc_at_threshold_0.5"]),
            _row(f"centre prior (its best cut, {r['center_threshold']:.2f})",
                 r["pointing_center"], None, r["ciou_center"], r["auc_center"]),
            _row("whole image", None, None, r["ciou_whole"], r["auc_whole"]),
            _row("box of a random sound-capable object", r["pointing_random_object"], None,
                 r["ciou_random_object"], r["auc_random_object"]),
        ]
    )  # fmt: skip
    calibrated = training.get("calibration")
    calibration = (
        f"- Map smoothing, threshold and confidence recalibrated on validation without "
        f"training, with `{calibrated['command']}`: pointing "
        f"{calibrated['validation']['pointing']:.3f}, cIoU@0.5 "
        f"{calibrated['validation']['ciou']:.3f}, AUC {calibrated['validation']['auc']:.3f} "
        f"with smoothing {calibrated['validation'].get('smoothing', 1)} and the cut "
        f"{calibrated['validation']['threshold']:.2f}.\n"
        if calibrated
        else ""
    )
    targets = "\n".join(
        f"- {name}: {r[key]:.3f} against the target {target:.2f}: "
        + ("met" if r[key] >= target else "**missed**")
        for key, (name, target) in LOCALIZATION_TARGETS.items()
    )
    beaten = r["ciou"] > r["ciou_random_object"] and r["auc"] > r["auc_random_object"]
    targets += "\n- cIoU@0.5 and AUC above every baseline: " + ("yes" if beaten else "**no**")
    text = f"""# Built-in sound-source localization model

Visual net + audio net + attention net after Senocak et al. 2018, "Learning to Localize Sound
Source in Visual Scenes" (`multimodal_core/models/localization.py`), trained from scratch on the
synthetic world **from audio-visual correspondence only** (symmetric InfoNCE: which clip goes
with which picture, the other pictures and clips of the batch as negatives)\
{_topk_sentence(training)}. Boxes were used only to validate and evaluate.
{training.get("parameters", 0):,} parameters, fp16 weights, {megabytes:.1f} MB.

- Visual net: a {patch} x {patch} patch convolution and stages at strides {strides} (2 x 2
  pooling, never padded stride-2 3 x 3 convolutions), then a U-Net-style top-down path back to
  a {grid} x {grid} grid (stride {config["output_stride"]}): grid cells are centred where
  `align_corners=False` upsampling puts them (tested).
- Audio net: 1-D convolutions over time on a {config["n_mels"]}-band log-mel spectrogram
  (`audio.log_mel`, {config["sample_rate"]} Hz), mean and max pooled over time.
- Attention net: cosine similarity of the sound with every region, softmax over regions (the
  attention map, sums to 1), attended visual vector matched with the sound.
- Shown and thresholded map: the cosine similarity, {smoothing}bilinearly upsampled, scaled to
  [0, 1] between the picture's typical region (its {BACKGROUND_QUANTILE:.0%} quantile, 0 and
  below) and its peak (1). Calibrated on 300 validation scenes: {calibrated_smoothing}map
  threshold **{config["map_threshold"]:.2f}** for cIoU (0.5 is Senocak et al.'s default), and peak
  similarity **{config["confident_similarity"]:.2f}** below which the app calls a map low
  confidence (balanced accuracy {val.get("confidence_balanced_accuracy", nan):.2f} between
  true pairs and sounds of a class absent from the picture).

## Evaluation (`python -m multimodal_core.evaluate localization --write-card`)

{r["n"]} held-out test scenes, each with 2-4 objects that could sound (distinct classes) and 0-2
silent ones; the clip is one of them, half the time with a quieter off-screen second source and
half the time with background noise. cIoU and AUC follow Senocak et al.: "cIoU@0.5" is the share
of pictures whose map, cut at the threshold, has IoU >= 0.5 with the sounding object's box; AUC
is the area under that share as the IoU cut goes from 0 to 1. The baselines hear nothing.

{table}

- Pointing: the map's maximum lies in the sounding object's box.
- Swap test: the same picture with the sound of another sound-capable object in it; the maximum
  must move into that object's box.
- Two sources at equal level: the two strongest peaks (at least {PEAK_SUPPRESSION} px apart)
  fall one on each source in **{r["mixture_both_peaks"]:.3f}** of the pictures.
- The random-object box scores cIoU without localising anything (its box is exact when it
  guesses right): it is the figure to beat, not zero.

![examples](examples.png)

Each row: the picture with the sounding object's box; the map for its sound; the map for another
object's sound (swap, with that object's box); the map for both sounds mixed.

## Training

- Command: `{training.get("command", "python -m multimodal_core.train.localization")}`
  (seed {training.get("seed", 0)}).
- Best validation (pointing + cIoU@0.5 + AUC) at step {training.get("step", "?")}, after
  {training.get("minutes", nan):.1f} minutes of wall time on one CPU thread of a 2-core machine
  shared with other training jobs; validation then: pointing {val.get("pointing", nan):.3f},
  cIoU@0.5 {val.get("ciou", nan):.3f}, AUC {val.get("auc", nan):.3f}.
- Data: scenes rendered on the fly from the world's training seeds
  (`world.datasets.LocalizationDataset`, 128 px, 2 s clips), pictures flipped left-right at
  random. Twemoji graphics (CC-BY 4.0); sounds from the TimGM6mb SoundFont (pretty_midi) and
  eSpeak NG voices.
- Retrain: run the commands of the run history (Notes) in order; without `--out` and
  `--run-dir` they write `checkpoints/localization` and its resume state `runs/localization`
  (`--resume` continues; `--minutes` is the whole run's budget, resumes included); then rerun
  the evaluation with `--write-card`.
{calibration}
## Targets

{targets}
"""
    save_card(checkpoint / "README.md", text)


def _topk_sentence(training: dict) -> str:
    """The card's words for the top-k term, when the checkpoint was trained with it."""
    k = training.get("args", {}).get("topk_regions", 0)
    if not k:
        return ""
    return (
        f", plus the same InfoNCE on the mean similarity of each picture's {k} regions most "
        "similar to the sound, so that an object's area, not only its few most telling regions, "
        "matches the sound"
    )


# ----- visual question answering -------------------------------------------------------------


def percent(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1%}"


def _cell(value: float | None) -> str:
    return percent(value).strip()


def looks_sentence(r: dict) -> str:
    return (
        f"Where the hops look: a hop's attention peak is on the object the question is about in "
        f"{_cell(r['hop_on_object'])} of cases; in relations hop 1 is on the first noun in "
        f"{_cell(r['relation_hop1_on_first'])} and hop 2 on the second in "
        f"{_cell(r['relation_hop2_on_second'])}."
    )


def _training(folder: Path) -> dict:
    path = folder / "training.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _size_mb(folder: Path) -> float:
    return (folder / "model.safetensors").stat().st_size / 2**20


def _reads(folder: Path) -> str:
    """What the checkpoint's answer classifier reads besides the refined question vector."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    reads = []
    if config.get("hop_glimpses"):
        reads.append("each hop's attended feature")
    if config.get("hop_positions"):
        reads.append(
            "where each hop looked (the attention-weighted mean of the region coordinates, so "
            "a relation is a comparison of two positions)"
        )
    if config.get("hop_relations"):
        reads.append(
            "a comparison of where the first two hops looked, weighted by the question (a small "
            "network over the two positions and their difference, times a projection of the "
            "question)"
        )
    if config.get("count_glimpse", True):
        reads.append("an unnormalised sigmoid-gated glimpse that lets it count")
    return f"it also reads {'; '.join(reads)};" if reads else ""


def _training_lines(record: dict, baseline: dict) -> list[str]:
    resumed = record.get("args", {}).get("resume", False)
    lines = [
        f"- Command: `{record.get('command', '?')}` (seed {record.get('seed', '?')})"
        + (
            "; it resumed an earlier run (`--minutes` is the whole run's budget and the"
            " learning-rate schedule follows the elapsed time; see the notes for its history)."
            if resumed
            else "."
        ),
        f"- Kept: the validation step with the best overall plus weakest-type accuracy, step "
        f"{record.get('step', '?')} (overall {record.get('acc', float('nan')):.4f}, weakest "
        f"type {min(record.get('per_type', {}).values(), default=float('nan')):.4f}), after "
        f"{record.get('minutes', '?')} minutes of wall time on one CPU thread of a 2-core "
        "machine shared with other training jobs.",
        f"- {record.get('parameters', '?'):,} parameters.",
    ]
    if baseline:
        lines.append(
            f"- Question-only baseline: `{baseline.get('command', '?')}` (seed "
            f"{baseline.get('seed', '?')}, {baseline.get('minutes', '?')} minutes)."
        )
    return lines


def _vqa_targets(r: dict) -> str:
    """The figures the world VQA model was built to reach against the measured ones, met or
    not."""
    weak = [f"{t} {_cell(a)}" for t, a in r["per_type"].items() if a < 0.93]
    overall = "met" if (r["world_acc"] or 0) >= 0.97 else f"missed ({_cell(r['world_acc'])})"
    types = "met" if not weak else "missed by " + ", ".join(weak)
    return (
        f"Targets: overall >= 97% {overall}; every type >= 93% {types}; question-only <= 50%: "
        f"{_cell(r['world_question_only_acc'])}. Counts and relations learn last; relation "
        "figures rest on the fewest questions (the world asks at most one per scene)."
    )


def write_vqa_cards(r: dict, args: argparse.Namespace) -> None:
    """README.md model cards for the world and easy-vqa checkpoints (``args.world``,
    ``args.easyvqa``) and their question-only baselines, from measured figures."""
    evaluate = "python -m multimodal_core.evaluate vqa --write-cards"
    if (args.world / "model.safetensors").is_file():
        record = _training(args.world)
        rows = [
            f"| {t} | {_cell(acc)} | {_cell(r['question_only_per_type'].get(t))} | "
            f"{_cell(r['novel_combo_per_type'].get(t))} |"
            for t, acc in r["per_type"].items()
        ]
        synonyms = (
            f"Unseen synonyms ({r['synonym_n']} test questions whose object noun is replaced by a "
            f"catalogue synonym the model never saw, e.g. {', '.join(r['synonym_examples'][:2])}): "
            f"accuracy {_cell(r['synonym_acc'])} against {_cell(r['synonym_canonical_acc'])} with "
            f"the canonical noun; the same answer in {_cell(r['synonym_agreement'])} of cases."
            if r.get("synonym_n")
            else ""
        )
        card = f"""# Built-in VQA model: synthetic world

Two-stream visual question answering with stacked attention (Yang et al. 2016) and a count
glimpse: `multimodal_core/models/vqa.py` (`StackedAttentionVQA`). A small CNN (3 stride-2 stages,
coordinate channels) turns a 96 x 96 picture into a 12 x 12 grid of region features; a GRU reads
the question; two attention hops over the regions refine the question vector; {_reads(args.world)}
a classifier picks one of {len(load_answers(args.world))} answers. Unknown words are mapped to the
nearest known noun by all-MiniLM-L6-v2 before the model sees the question
(`multimodal_core/tasks/vqa.py`). fp16 weights, {_size_mb(args.world):.1f} MB.

## Data

The studio's synthetic world (grammar `{record.get("grammar_version", "?")}`): 1-4 Twemoji
objects (CC-BY 4.0) on a 3 x 3 grid over plain, gradient or textured backgrounds; seven question
types (presence, count, position, relation, identity, category, background) with answers balanced
within each type. Training renders fresh scenes from the train seed range (a quarter of them at
128 px and downscaled, as uploads are); validation and test use disjoint seed ranges, and pairs of
classes held out from every training scene appear together only in the novel-combination split.

## Evaluation (`{evaluate}`)

{r["n"]} questions about {r["test_scenes"]} held-out test scenes; the question-only baseline is
the same architecture trained with the image stream removed; "novel" is {r["n_novel_combo"]}
questions about {r["novel_scenes"]} scenes whose class pair never appeared together in training.

| type | model | question-only | novel combinations |
|---|---|---|---|
{chr(10).join(rows)}
| **overall** | **{_cell(r["world_acc"])}** | {_cell(r["world_question_only_acc"])} | \
{_cell(r["world_novel_combo_acc"])} |

{synonyms}

{looks_sentence(r) if r.get("hop_on_object") is not None else ""}

{_vqa_targets(r)}

## Training

{chr(10).join(_training_lines(record, _training(args.world_question_only)))}
- Retrain: the command above writes `checkpoints/vqa_world` (best validation accuracy), resume
  state in `runs/` (`--resume` continues it).

## Limits

It knows only the synthetic world: photos get confident-looking nonsense (use ViLT or BLIP in the
tab). Answers come from a fixed list; "kid" and other words shared by two classes have no one
right reading; multi-word synonyms that contain another class's noun ("old man") are read as
that noun.
"""
        save_card(args.world / "README.md", card)
    if (args.easyvqa / "model.safetensors").is_file():
        record = _training(args.easyvqa)
        rows = [
            f"| {t} | {_cell(acc)} | {_cell(r['easyvqa_question_only_per_type'].get(t))} |"
            for t, acc in r["easyvqa_per_type"].items()
        ]
        card = f"""# Built-in VQA model: easy-vqa

The same architecture as the world model (`multimodal_core/models/vqa.py`), at 64 x 64 px (an
8 x 8 grid of regions), trained on easy-vqa (PyPI `easy-vqa`, MIT licence): 4,000 train images of
one coloured shape with 38,575 questions, 13 answers. The last 400 train images are held back for
validation; the 1,000-image test set is used only by the evaluation. fp16 weights,
{_size_mb(args.easyvqa):.1f} MB. This is the project's figure on data it did not make.

## Evaluation (`{evaluate}`)

{r["n_easyvqa"]} test questions. easy-vqa answers are often guessable from the question alone
(the question-only model is the same architecture trained without the image).

| type | model | question-only |
|---|---|---|
{chr(10).join(rows)}
| **overall** | **{_cell(r["easyvqa_acc"])}** | {_cell(r["easyvqa_question_only_acc"])} |

## Training

{chr(10).join(_training_lines(record, _training(args.easyvqa_question_only)))}
- Retrain: the command above writes `checkpoints/vqa_easyvqa`.
"""
        save_card(args.easyvqa / "README.md", card)
    for folder, data, acc, per_type in (
        (args.world_question_only, "the synthetic world", r["world_question_only_acc"],
         r["question_only_per_type"]),
        (args.easyvqa_question_only, "easy-vqa", r["easyvqa_question_only_acc"],
         r["easyvqa_question_only_per_type"]),
    ):  # fmt: skip
        if not (folder / "model.safetensors").is_file():
            continue
        record = _training(folder)
        types = ", ".join(f"{t} {_cell(a)}" for t, a in per_type.items())
        (folder / "README.md").write_text(
            f"""# Question-only baseline: {data}

The VQA architecture of `multimodal_core/models/vqa.py` with the image stream removed
(`use_image=False`: question encoder and answer classifier only), trained on {data}'s questions.
It measures how much of the answers can be guessed from the question alone; it is not offered
in the app. Held-out accuracy (`{evaluate}`): {_cell(acc)} overall; {types}.

- Command: `{record.get("command", "?")}` (seed {record.get("seed", "?")}), best validation
  accuracy {record.get("acc", float("nan")):.4f} after {record.get("minutes", "?")} minutes.
"""
        )
