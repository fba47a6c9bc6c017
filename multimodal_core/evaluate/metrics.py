"""Metric helpers shared by the evaluations: maintained implementations, quietly called.

BLEU and CIDEr come from pycocoevalcap (the COCO caption evaluation code); its Bleu scorer prints
to stdout, which would break ``--json`` output, so every call here runs with stdout captured.
The world's captions are already lower case and space separated, so the Java PTB tokenizer is not
needed.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence


def caption_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Corpus BLEU-1..4 and CIDEr-D of one hypothesis per image against all its references."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("need one hypothesis per reference list, and at least one")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    # pycocoevalcap wants dicts of lists; an empty hypothesis would crash its BLEU: use one token.
    res = {i: [h if h.strip() else "<empty>"] for i, h in enumerate(hypotheses)}
    gts = {i: list(refs) for i, refs in enumerate(references)}
    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res)
        cider, _ = Cider().compute_score(gts, res)
    scores = {f"bleu{n}": float(b) for n, b in enumerate(bleu, start=1)}
    scores["cider"] = float(cider)
    return scores


def precision_recall_f1(true_positive: int, predicted: int, actual: int) -> dict[str, float]:
    """Micro precision, recall and F1 from counts (0 where undefined)."""
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
