"""Evaluate word vectors on public benchmarks: ``python -m multimodal_core.evaluate words``.

By default it measures the **shipped** vectors (``checkpoints/words``: the 20,000 most frequent
words and every world word); ``--vectors runs/words/vectors.bin`` measures every word the
training kept. The benchmarks are the copies gensim ships in its test data (gensim is a
development requirement): Google's analogy set (``questions-words.txt``, 19,544 questions,
3CosAdd over the ``--restrict`` most frequent words, the three question words excluded, as
gensim's ``evaluate_word_analogies``), with the share of questions whose four words are all in
that vocabulary (coverage) and the accuracy that counts the others as wrong; WordSim-353 and
SimLex-999 (Spearman correlation with people's ratings over the pairs both of whose words have a
vector). Beside them, the classic count-based alternative computed on the same corpus and the
same vocabulary: positive PMI of window co-occurrences (context counts smoothed by the power
0.75) reduced by truncated SVD (Levy, Goldberg and Dagan 2015). Without the Debian corpus the
baseline's figures are null and a note says why. The published anchor is Mikolov et al. 2013:
skip-gram, 300-d, 783 M words, 53.3% of the analogy questions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from multimodal_core.models import word_vectors
from multimodal_core.settings import get_settings
from multimodal_core.world import language

ANALOGY_QUESTIONS = 19_544
ANCHOR_ANALOGY = 0.533  # Mikolov et al. 2013, skip-gram 300-d on 783 M words, total accuracy
TARGETS = {"analogy_acc": 0.15, "ws353_spearman": 0.55, "simlex_spearman": 0.35}
WORLD_SCENES = 1000  # as train/words.py: the count baseline reads the skip-gram's corpus


def benchmark(name: str) -> str:
    """The path of one of gensim's benchmark files; SystemExit with a sentence without gensim."""
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise SystemExit(
            "The benchmarks come with gensim; run pip install -r requirements-dev.txt."
        ) from None
    return datapath(name)


def keyed_vectors(words: list[str], vectors: np.ndarray) -> Any:
    """gensim KeyedVectors of ``words`` (most frequent first) and their (V, d) vectors."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors.astype(np.float32))
    return kv


def load_vectors(path: Path) -> Any:
    """A shipped checkpoint folder, or word2vec's binary format (the training's every word)."""
    if path.is_dir():
        model, vocabulary = word_vectors.load(path)
        return keyed_vectors(list(vocabulary.words), model.vectors.float().numpy())
    from gensim.models import KeyedVectors

    return KeyedVectors.load_word2vec_format(str(path), binary=True)


def scores(kv: Any, restrict: int) -> dict:
    """The three benchmarks' figures for one set of vectors."""
    _, sections = kv.evaluate_word_analogies(
        benchmark("questions-words.txt"), restrict_vocab=restrict
    )
    total = next(s for s in sections if s["section"] == "Total accuracy")
    correct, covered = len(total["correct"]), len(total["correct"]) + len(total["incorrect"])
    result = {
        "analogy_acc": round(correct / ANALOGY_QUESTIONS, 4),
        "analogy_coverage": round(covered / ANALOGY_QUESTIONS, 4),
        "analogy_acc_covered": round(correct / max(covered, 1), 4),
    }
    for key, name in (("ws353", "wordsim353.tsv"), ("simlex", "simlex999.txt")):
        _, spearman, oov = kv.evaluate_word_pairs(benchmark(name))
        result[f"{key}_spearman"] = round(float(spearman.statistic), 4)
        result[f"{key}_oov"] = round(oov / 100, 4)
    return result


def cooccurrences(sentences: list[list[str]], words: list[str], window: int) -> Any:
    """(V, V) sparse counts of each word pair at most ``window`` apart within a sentence."""
    from scipy import sparse

    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index.get(w, -1) for s in sentences for w in s], np.int64)
    sentence = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    counts = sparse.csr_matrix((len(words), len(words)), dtype=np.float64)
    for offset in range(1, window + 1):
        a, b = ids[:-offset], ids[offset:]
        keep = (a >= 0) & (b >= 0) & (sentence[:-offset] == sentence[offset:])
        pairs = sparse.coo_matrix(
            (np.ones(int(keep.sum())), (a[keep], b[keep])), shape=counts.shape
        ).tocsr()
        counts = counts + pairs + pairs.T
    return counts


def ppmi_svd(counts: Any, dim: int, seed: int, smoothing: float = 0.75) -> np.ndarray:
    """(V, dim) vectors U sqrt(S) of the positive PMI matrix. PMI(w, c) = log(n(w, c) sum_c'
    n(c')^a / (n(w) n(c)^a)): the context counts raised to ``a`` give rare contexts less weight."""
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    coo = counts.tocoo()
    rows = np.asarray(counts.sum(1)).ravel()
    contexts = np.asarray(counts.sum(0)).ravel() ** smoothing
    pmi = np.log(coo.data * contexts.sum() / (rows[coo.row] * contexts[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)
    u, s, _ = randomized_svd(ppmi, dim, n_iter=5, random_state=seed)
    return u * np.sqrt(s)


def baseline(words: list[str], dim: int, window: int, restrict: int, seed: int) -> dict:
    """The count baseline's figures over ``words`` (the evaluated vectors' vocabulary, most
    frequent first), from the skip-gram's own corpus."""
    sentences = word_vectors.corpus_sentences(language.world_sentences(WORLD_SCENES))
    vectors = ppmi_svd(cooccurrences(sentences, words, window), dim, seed)
    return scores(keyed_vectors(words, vectors), restrict)


SCORES = (
    "analogy_acc", "analogy_coverage", "analogy_acc_covered", "ws353_spearman", "ws353_oov",
    "simlex_spearman", "simlex_oov",
)  # fmt: skip


def evaluate(args: argparse.Namespace) -> dict:
    """Every figure of the module docstring, as a dict."""
    kv = load_vectors(args.vectors)
    restrict = min(args.restrict, len(kv))
    result: dict = {
        "vectors": str(args.vectors),
        "vocabulary": len(kv),
        "analogy_vocabulary": restrict,
        **scores(kv, restrict),
    }
    note = word_vectors.corpus_missing()
    if note is None and args.no_baseline:
        note = "The baseline was not computed (--no-baseline)."
    if note is None:
        words = list(kv.index_to_key[:restrict])
        figures = baseline(words, kv.vector_size, args.window, restrict, args.seed)
    else:
        figures = dict.fromkeys(SCORES)
    result.update({f"baseline_{k}": figures[k] for k in SCORES})
    result["baseline_note"] = note
    result["anchor_analogy_mikolov_2013"] = ANCHOR_ANALOGY
    result["targets"] = TARGETS
    result["targets_met"] = {k: result[k] >= v for k, v in TARGETS.items()}
    measured = [k for k in TARGETS if result[f"baseline_{k}"] is not None]
    result["above_baseline"] = {k: result[k] > result[f"baseline_{k}"] for k in measured}
    return result


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown_table(result: dict) -> str:
    r = result
    lines = [
        f"{r['vectors']}: {r['vocabulary']:,} words; analogies over the "
        f"{r['analogy_vocabulary']:,} most frequent",
        "",
        "| vectors | analogy (missing = wrong) | analogy coverage | WordSim-353 | SimLex-999 |",
        "|---|---|---|---|---|",
    ]
    for name, p in (("skip-gram (these vectors)", ""), ("PPMI + SVD (same corpus)", "baseline_")):
        lines.append(
            f"| {name} | {_cell(r[p + 'analogy_acc'])} | {_cell(r[p + 'analogy_coverage'])} | "
            f"{_cell(r[p + 'ws353_spearman'])} | {_cell(r[p + 'simlex_spearman'])} |"
        )
    lines.append(f"| Mikolov et al. 2013 (783 M words, 300-d) | {ANCHOR_ANALOGY:.3f} | - | - | - |")
    lines += ["", "targets: " + ", ".join(f"{k} >= {v}" for k, v in TARGETS.items())]
    if r["baseline_note"]:
        lines.append(r["baseline_note"])
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    shipped = get_settings().checkpoints_dir / "words"
    parser.add_argument(
        "--vectors", type=Path, default=shipped,
        help="a checkpoint folder (default: the shipped vectors) or word2vec's binary format",
    )  # fmt: skip
    parser.add_argument("--restrict", type=int, default=30_000, help="analogy vocabulary")
    parser.add_argument("--window", type=int, default=5, help="the baseline's window (as W2V)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the baseline's SVD")
    parser.add_argument("--no-baseline", action="store_true", help="skip the count baseline")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")


def run(args: argparse.Namespace) -> dict:
    result = evaluate(args)
    print(markdown_table(result))
    return result
