"""Train the built-in word vectors: ``python -m multimodal_core.train.words``.

Skip-gram with negative sampling, by gensim's ``Word2Vec(sg=1)`` (the reference implementation;
gensim is a development requirement only), on GCIDE's paragraphs and WordNet 3.0's glosses (the
Debian packages of :data:`~multimodal_core.models.word_vectors.CORPUS_PACKAGES`) plus the
synthetic world's captions and nouns, so that every world word gets a vector. One worker thread:
gensim's result then depends on the seed alone.

Writes to ``--out`` the ``--ship`` most frequent words plus every world word (config.json,
model.safetensors in float16, vocabulary.txt, training.json), and to ``--run-dir`` every word's
vector in word2vec's binary format (``vectors.bin``, git-ignored), which ``python -m
multimodal_core.evaluate words --vectors runs/words/vectors.bin`` measures on the 30,000 most
frequent words as the benchmark's protocol asks.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from multimodal_core.models import word_vectors
from multimodal_core.models.word_vectors import Vocabulary, WordVectors, WordVectorsConfig
from multimodal_core.settings import REPO_ROOT
from multimodal_core.train import scaffold
from multimodal_core.world import language

logger = logging.getLogger(__name__)


@dataclass
class TrainArgs:
    """Arguments of one training run (each is also a ``--flag``)."""

    out: Path = REPO_ROOT / "checkpoints" / "words"  # the shipped vectors
    run_dir: Path = REPO_ROOT / "runs" / "words"  # the log and every word's vector (git-ignored)
    dim: int = 128  # vector size
    window: int = 5  # context words on each side
    negative: int = 5  # negative samples per pair
    epochs: int = 12  # passes over the corpus
    min_count: int = 5  # rarer words get no vector
    sample: float = 1e-3  # down-sampling of frequent words
    ship: int = 20_000  # most frequent words shipped (plus every world word)
    world_scenes: int = 1000  # training scenes whose captions join the corpus
    seed: int = 0
    workers: int = 1  # gensim threads; other jobs share the machine's two cores


def parse_args(argv: Sequence[str] | None = None) -> TrainArgs:
    return scaffold.parse_args(TrainArgs, argv, __doc__)


def shipped_rows(frequent: Sequence[str], world: set[str], ship: int) -> list[int]:
    """Row indices (into ``frequent``, most frequent first) of the shipped words: the first
    ``ship`` and every world word beyond them, in frequency order."""
    return [i for i, word in enumerate(frequent) if i < ship or word in world]


def train(args: TrainArgs) -> dict:
    """Train, ship the frequent and world words, keep every vector in the run folder."""
    import gensim
    from gensim.models import Word2Vec

    if message := word_vectors.corpus_missing():
        raise SystemExit(message)
    clock = scaffold.Clock()
    world = language.world_sentences(args.world_scenes)
    sentences = word_vectors.corpus_sentences(world)
    n_words = sum(map(len, sentences))
    logger.info("corpus: %d sentences, %d words (%.0f s)", len(sentences), n_words, clock.wall())
    model = Word2Vec(
        sentences,
        sg=1,
        vector_size=args.dim,
        window=args.window,
        negative=args.negative,
        epochs=args.epochs,
        min_count=args.min_count,
        sample=args.sample,
        seed=args.seed,
        workers=args.workers,
    )
    train_seconds = clock.wall()
    logger.info("trained %d words in %.0f s", len(model.wv), train_seconds)
    kv = model.wv
    args.run_dir.mkdir(parents=True, exist_ok=True)
    kv.save_word2vec_format(str(args.run_dir / "vectors.bin"), binary=True)

    world_words = {w for text in world for w in word_vectors.tokenize(text)}
    missing = sorted(world_words - set(kv.index_to_key))
    if missing:
        raise SystemExit(f"world words without a vector (raise --world-scenes): {missing}")
    rows = shipped_rows(kv.index_to_key, world_words, args.ship)
    config = WordVectorsConfig(
        vocab_size=len(rows), dim=args.dim, window=args.window, negative=args.negative
    )
    shipped = WordVectors(config)
    shipped.vectors.data = torch.from_numpy(np.asarray(kv.vectors[rows], np.float32))
    shipped.save_pretrained(args.out)
    words = [kv.index_to_key[i] for i in rows]
    Vocabulary(tuple(words), tuple(int(kv.get_vecattr(w, "count")) for w in words)).save(args.out)
    record = {
        "corpus_packages": list(word_vectors.CORPUS_PACKAGES),
        "corpus_sentences": len(sentences),
        "corpus_words": n_words,
        "world_sentences": len(world),
        "world_words": len(world_words),
        "trained_vocabulary": len(kv),
        "shipped_words": len(rows),
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(clock.wall(), 1),
        "gensim": gensim.__version__,
        "command": scaffold.command_line("multimodal_core.train.words"),
        "args": asdict(args),
    }
    scaffold.write_record(args.out, record)
    logger.info("vectors written to %s: %s", args.out, record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    return scaffold.main(train, TrainArgs, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
