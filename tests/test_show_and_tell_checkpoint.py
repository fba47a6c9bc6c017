"""The shipped Show and Tell checkpoint: its files, its vocabulary and encoder (the attention
model's) and strict loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from multimodal_core.models.show_and_tell import ShowAndTell
from multimodal_core.models.show_attend_tell import Vocabulary

REPO = Path(__file__).resolve().parent.parent
CHECKPOINT = REPO / "checkpoints" / "show_and_tell"
ATTENTION_MODEL = REPO / "checkpoints" / "captioning"


def test_checkpoint_files_size_and_vocabulary() -> None:
    names = {p.name for p in CHECKPOINT.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "training.json", "README.md"} <= names
    assert not any(name.endswith((".pt", ".pth", ".bin", ".pkl")) for name in names)  # no pickle
    assert sum(p.stat().st_size for p in CHECKPOINT.iterdir()) < 5 * 2**20
    vocab = Vocabulary.from_pretrained(CHECKPOINT)
    assert vocab.words == Vocabulary.from_pretrained(ATTENTION_MODEL).words


@pytest.mark.slow
def test_checkpoint_loads_strictly() -> None:
    model = ShowAndTell.from_pretrained(CHECKPOINT)
    assert len(Vocabulary.from_pretrained(CHECKPOINT)) == model.config.vocab_size
    assert not model.training and model.config.image_size == 96


def test_its_encoder_is_the_attention_models_unchanged() -> None:
    """The two models differ by attention alone: Show and Tell's frozen encoder is the attention
    model's, tensor for tensor (batch-norm statistics included)."""
    ours, theirs = (
        load_file(folder / "model.safetensors") for folder in (CHECKPOINT, ATTENTION_MODEL)
    )
    encoder = sorted(k for k in theirs if k.startswith("encoder."))
    assert encoder and encoder == sorted(k for k in ours if k.startswith("encoder."))
    assert all(torch.equal(ours[k], theirs[k]) for k in encoder)


@pytest.mark.slow
def test_it_names_every_object_of_the_tabs_example_scenes() -> None:
    """Through the tab's own path (beam 5, the card's defaults) the shipped model names each
    object class of the captioning tab's example scenes, one to four objects (a model that
    learned only the background, as three earlier trainings did, fails this)."""
    from multimodal_core.evaluate.captioning import read_claims
    from multimodal_core.tasks import captioning

    examples = REPO / "examples" / "captioning"
    for item in json.loads((examples / "examples.json").read_text()):
        result = captioning.caption_image(examples / item["file"], 5, model="show_and_tell")
        named = {names[0] for names, _ in read_claims(result.caption).objects}
        classes = {o["name"] for o in item["objects"]}
        assert classes <= named, (item["file"], result.caption, classes)
