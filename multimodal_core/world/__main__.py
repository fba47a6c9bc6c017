"""Command line: ``python -m multimodal_core.world preview --out DIR`` writes contact sheets and
sounds to look at and listen to; ``python -m multimodal_core.world examples`` regenerates the
app's ``examples/`` folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from multimodal_core.world.preview import write_examples, write_preview

_REPO_ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m multimodal_core.world", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    preview = commands.add_parser("preview", help="contact sheets and sounds of the world")
    preview.add_argument("--out", type=Path, default=Path("preview"), help="folder to write")
    preview.add_argument("--scenes", type=int, default=10, help="scenes on the sheet")
    preview.add_argument("--people", type=int, default=12, help="people on the sheet")
    examples = commands.add_parser("examples", help="regenerate the app's example inputs")
    examples.add_argument("--out", type=Path, default=_REPO_ROOT / "examples")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "preview":
        files = write_preview(args.out, args.scenes, args.people)
    else:
        files = write_examples(args.out)
    total = sum(f.stat().st_size for f in files)
    logging.info("%d files, %.0f KB", len(files), total / 1024)


if __name__ == "__main__":
    main()
