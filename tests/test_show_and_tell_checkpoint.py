"""The shipped Show and Tell checkpoint: its files, its vocabulary (the attention model's) and
strict loading."""

from __future__ import annotations

from pathlib import Path

import pytest

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
