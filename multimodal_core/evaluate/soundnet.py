"""Evaluate the SoundNet student on held-out world sounds.

``python -m multimodal_core.evaluate soundnet [--json]``. Videos of the held-out test split
(seeds the training never sees) are made as the training makes them: a picture with one to three
sounding objects and up to one silent one, and the sum of the sounding objects' clips.

- Agreement with the teacher (the world classifier on the picture): top-1 and KL.
- Recognition from sound alone: one-source clips, top-1 over the classes that can sound; mixtures
  of two or three, mean average precision over those classes (scikit-learn's average precision
  per class, averaged over the classes present in the set).
- The paper's transfer test, on classes neither the teacher nor the student has met: ten General
  MIDI instruments the world never plays (``world/real_sounds.py``'s held-out programs). A linear
  classifier on the student's pool5 features learns them from 5 labelled clips per class, against
  the same network trained from scratch on those 50 clips, a linear classifier on mel-band
  statistics of the same clips, and the fully supervised ceiling (the network trained from
  scratch on 100 clips per class). Chance is 1/10.

The human table comes first; the last line is one JSON object.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

TARGETS = {"student_top1": 0.9}
TRANSFER_GAP_TARGET = 0.15  # probe_distilled_k5 - probe_scratch_k5, at least
EXAMPLE_SOURCES = (1, 1, 1, 1, 2, 3)  # sounding objects of the tab's world examples


def write_examples(folder: Path, n: int = len(EXAMPLE_SOURCES)) -> list[dict]:
    """World examples for the tab: test videos' pictures (PNG, 64 px: what the teacher sees)
    with their soundtracks (WAV, 2 s) and what is in them (``examples.json``)."""
    import json

    import soundfile
    from PIL import Image

    from multimodal_core.world.videos import video

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(n):
        count = EXAMPLE_SOURCES[index % len(EXAMPLE_SOURCES)]
        item = video("test", 2000 + index, n_sources=count, held_out_ok=True)
        picture, wav = folder / f"video{index + 1}.png", folder / f"video{index + 1}.wav"
        Image.fromarray(item.scene.image).save(picture)
        mixture = item.mixture / max(1.0, float(np.abs(item.mixture).max()))
        soundfile.write(wav, mixture, 16_000, subtype="PCM_16")
        sounding = [o.name for o in item.sources]
        silent = [o.name for o in item.scene.objects if o not in item.sources]
        entries.append(
            {"image": picture.name, "audio": wav.name, "sounding": sounding, "silent": silent}
        )
    (folder / "examples.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries
