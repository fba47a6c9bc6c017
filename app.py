"""Multimodal Studio: one tab per classic multimodal task, all served by one shared core.

``python app.py`` serves on 127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it).
This file only assembles the tabs; each lives in ``multimodal_core/ui/``. Importing it loads no
model weights: models are loaded on first use by the shared core.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from multimodal_core import hub
from multimodal_core.registry import grouped
from multimodal_core.settings import Settings, get_settings
from multimodal_core.ui.common import WRONG_FILE_JS, learn_what_can_load

logger = logging.getLogger(__name__)

HEADER = """# Multimodal Studio
The classic systems of multimodal learning, live: models that **match**, **translate** and
**reason** across pictures, text and sound. Each tab's built-in model was trained here on a
synthetic world of emoji scenes, sounds and voices and works offline; pretrained models for real
photos and recordings can be chosen where the machine is online."""

ANALYTICS_EVERY_EVENTS = 10_000
"""How often Gradio's queue recomputes its analytics, in events. Its default is after every
event: a pandas table of all the events it keeps (up to 10,000) and their percentiles, in the
server process, for a monitoring page this app does not turn on. That cost 2.6 ms of CPU per
request with 200 events kept and 9.3 ms with 10,000, so it grew as a public server ran."""

THEME = gr.themes.Soft()  # built-in theme with system fonts: no web fonts to fetch

CSS = """
/* Gradio's gallery keeps each column at least 100 px wide, so four pictures in a row ran off a
   phone screen; narrow screens get two columns instead. */
/* The sentence under an upload box that was given the wrong kind of file (ui/wrong_file.js). */
.mmc-wrong-file { color: var(--error-text-color); font-weight: 600; margin: 4px 8px; }
@media (max-width: 600px) {
  #t2i-gallery .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
}
"""


def build_app() -> gr.Blocks:
    """The Blocks app with every registered tab; nothing is loaded until a request needs it."""
    settings = get_settings()
    # Set before any request thread runs a model: each thread takes the count at its first call.
    hub.limit_cpu_threads(settings.cpu_threads)
    learn_what_can_load()
    with gr.Blocks(title="Multimodal Studio", delete_cache=cache_lifetime(settings)) as demo:
        gr.Markdown(HEADER)
        # "wrap": on a phone a tab bar that does not fit goes on a second line, where every
        # name stays readable, instead of into an unlabelled "..." menu.
        with gr.Tabs(overflow_behavior="wrap"):
            for group, families in grouped():
                with gr.Tab(group, id=group.lower()), gr.Tabs(overflow_behavior="wrap"):
                    for family in families:
                        tab = importlib.import_module(f"multimodal_core.ui.{family.name}")
                        with gr.Tab(family.title, id=family.name):
                            tab.build_tab()
    # Read by the queue as it is made; an explicit setting in the environment wins.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY_EVENTS))
    demo.queue(default_concurrency_limit=settings.concurrency)
    return demo


def cache_lifetime(settings: Settings) -> tuple[int, int] | None:
    """Gradio's ``delete_cache`` for ``MMC_KEEP_FILES_MINUTES``: look that often (in seconds)
    for files that old, so each goes between one and two lifetimes after it was written."""
    if settings.keep_files_minutes <= 0:
        return None
    seconds = max(1, round(60 * settings.keep_files_minutes))
    return seconds, seconds


def launch_options() -> dict:
    """Keyword arguments of ``launch`` that come from the settings."""
    settings = get_settings()
    return {
        "max_file_size": f"{settings.max_upload_mb:g}mb",
        "allowed_paths": [str(settings.examples_dir)],
        "theme": THEME,
        "css": CSS,
        "js": WRONG_FILE_JS,
        "footer_links": ["api", "gradio", "settings"],
    }


@contextlib.contextmanager
def cache_folder() -> Iterator[Path]:
    """Gradio's cache folder for this server: ``GRADIO_TEMP_DIR`` when the person set it, else a
    new folder of the server's own, removed with what is left in it when the server stops.

    Gradio names a cached file by its content (``<folder>/<hash>/<name>``) and deletes the files
    it wrote when their lifetime ends and when it stops, so servers sharing its default folder
    (``/tmp/gradio``) would delete each other's uploads. Gradio takes the folder from the
    environment alone (no argument of ``Blocks`` or ``launch`` names it), reading it as each
    component is made and on each request, so it is set there before the app is built. (A few
    Gradio features that this app does not use read it once, as gradio is imported.)
    """
    chosen = os.environ.get("GRADIO_TEMP_DIR")
    if chosen:
        yield Path(chosen)
        return
    folder = Path(tempfile.mkdtemp(prefix="multimodal-studio-"))  # mode 700: people's photos
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop("GRADIO_TEMP_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM; the worker processes and the server's own cache
    folder end with it."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from multimodal_core import audio, workers

    # SIGTERM (``kill``, a container or a Space stopping) takes Ctrl-C's way out: by default it
    # would end the interpreter at once, skipping the clean-up below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with cache_folder() as folder, contextlib.suppress(KeyboardInterrupt):
        logger.info("uploads and result files are cached in %s", folder)
        audio.warm_up()  # librosa's first call compiles for ~15 s; pay it while nobody waits
        demo = build_app()
        try:
            demo.launch(prevent_thread_lock=True, **launch_options())
            # Once the page is served: started earlier, their imports slowed the start by 5 s.
            workers.start()
            demo.block_thread()  # returns on Ctrl-C or SIGTERM, the server closed
        finally:
            demo.close()  # as its server stops, Gradio deletes the files it cached
            workers.stop()


if __name__ == "__main__":
    main()
