"""Search speed of the built-in joint space on this machine: ``python bench/matching.py [--json]``.

Measured in one run, repeats interleaved so that other load on the machine hits both alike:

- a text query end to end (the task's own path: the words' vectors, the GRU and projection,
  then the cosine against every gallery vector and the top 8) over ``--gallery`` (10,000) test
  scenes' embeddings: ``text_query_ms_10k`` (median);
- search alone over ``--vectors`` (100,000) random unit vectors of the space's size: the plain
  matrix product and top 8 (``search_ms_100k``), beside faiss-cpu's exact ``IndexFlatIP`` on the
  same vectors (``faiss_ms_100k``; null, with a note, where faiss is not installed);
- indexing: pictures embedded per second (``index_per_s``: 64 px scenes through the frozen
  classifier and the image projection, batches of 256), and a visitor's upload of the 200
  example PNGs read as a gallery (decode, check, squash, thumbnail: ``upload_per_s``).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from multimodal_core import hub
from multimodal_core.models.joint_embedding import search
from multimodal_core.tasks import matching
from multimodal_core.world.splits import scene_in_split

TOP_K = matching.TOP_K
QUERIES = ("a dog on a blue background", "two cats and a piano", "a car in front of a brick wall")


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _faiss_index(vectors: np.ndarray) -> object | None:
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


@hub.gpu
def _measure(args: argparse.Namespace) -> dict:
    model: matching.BuiltinMatching = hub.get(matching.BUILTIN)
    start = time.perf_counter()
    scenes = [
        scene_in_split("test", i, held_out_ok=True, size=model.side).image
        for i in range(args.gallery)
    ]
    render_s = time.perf_counter() - start
    squares = np.stack(scenes)  # (N, S, S, 3) uint8
    start = time.perf_counter()
    gallery = model.embed_pictures(squares)  # (N, E)
    index_s = time.perf_counter() - start

    texts = iter(QUERIES * (args.repeats * 4))

    def text_query() -> object:
        query = model.embed_texts([next(texts)])  # (1, E)
        return search(query, gallery, TOP_K)

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.vectors, gallery.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    big = torch.from_numpy(vectors)
    probe = big[:1].clone()
    index = _faiss_index(vectors)
    text_ms, search_ms, faiss_ms = [], [], []
    for _ in range(args.repeats):  # interleaved: other load hits each alike
        text_ms.append(_median_ms(text_query, 5))
        search_ms.append(_median_ms(lambda: search(probe, big, TOP_K), 5))
        if index is not None:
            faiss_ms.append(_median_ms(lambda: index.search(probe.numpy(), TOP_K), 5))

    files = sorted((REPO / "examples" / "matching").glob("scene_*.png"))
    start = time.perf_counter()
    uploads = matching.load_gallery(files[: matching.MAX_GALLERY])
    upload_s = time.perf_counter() - start
    notes = []
    if index is None:
        notes.append(
            "faiss-cpu is not installed here (requirements-dev.txt installs it): faiss_ms_100k "
            "is null, so the plain matrix product has nothing to be compared with"
        )
    search_100k = statistics.median(search_ms)
    faiss_100k = statistics.median(faiss_ms) if faiss_ms else None
    return {
        "gallery": args.gallery,
        "vectors": args.vectors,
        "embed_dim": int(gallery.shape[1]),
        "threads": torch.get_num_threads(),
        "text_query_ms_10k": round(statistics.median(text_ms), 3),
        "search_ms_100k": round(search_100k, 3),
        "faiss_ms_100k": None if faiss_100k is None else round(faiss_100k, 3),
        "matrix_over_faiss_speedup": None
        if faiss_100k is None
        else round(faiss_100k / search_100k, 2),
        "index_per_s": round(args.gallery / index_s, 1),
        "upload_per_s": round(len(uploads) / upload_s, 1),
        "render_per_s": round(args.gallery / render_s, 1),
        "target_text_query_ms_10k": 20.0,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--gallery", type=int, default=10_000, help="test scenes embedded")
    parser.add_argument("--vectors", type=int, default=100_000, help="random vectors searched")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", action="store_true", help="the JSON line is always last")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    result = _measure(args)
    faiss = "-" if result["faiss_ms_100k"] is None else f"{result['faiss_ms_100k']:.2f}"
    print(
        "| measure | value |\n|---|---|\n"
        f"| text query end to end, {result['gallery']:,} pictures (ms) | "
        f"{result['text_query_ms_10k']:.2f} |\n"
        f"| search alone, {result['vectors']:,} vectors, matrix product (ms) | "
        f"{result['search_ms_100k']:.2f} |\n"
        f"| search alone, {result['vectors']:,} vectors, faiss IndexFlatIP (ms) | {faiss} |\n"
        f"| pictures embedded per second | {result['index_per_s']:.0f} |\n"
        f"| uploaded pictures read per second (decode, squash, thumbnail) | "
        f"{result['upload_per_s']:.0f} |"
    )
    for note in result["notes"]:
        print(note)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
