"""Shared test set-up: slow tests run with --slow, and always in CI (CI=true); the servers that
tests start in this process cache their files in a folder of the test run's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gradio_client import Client

_GRADIO_TEMP_DIR = pytest.StashKey[tuple[str, str | None]]()  # this run's, and the one before


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    """Point Gradio's cache at a new folder for this run, even where ``GRADIO_TEMP_DIR`` is set:
    Gradio names a cached file by its content and deletes the files a server wrote as it stops,
    so a test server sharing a folder with another server (a running app, another test run)
    would delete that server's uploads. Gradio reads the folder from the environment alone."""
    folder = tempfile.mkdtemp(prefix="multimodal-studio-tests-")
    config.stash[_GRADIO_TEMP_DIR] = folder, os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GRADIO_TEMP_DIR not in config.stash:
        return
    folder, previous = config.stash[_GRADIO_TEMP_DIR]
    shutil.rmtree(folder, ignore_errors=True)
    if previous is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = previous


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow") or os.environ.get("CI", "").lower() in ("1", "true"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (CI always runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The whole app served in this process on a free port, once for every test that needs it.

    In-process on purpose: tests can read the server's memory and swap its settings and models.
    """
    import app
    from multimodal_core import audio, workers

    audio.warm_up()  # as app.main() does: librosa compiles in the background
    demo = app.build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    workers.start()  # as app.main() does, so that memory measured later counts every worker
    try:
        yield url
    finally:
        demo.close()
        workers.stop()  # as app.main() does


@pytest.fixture(scope="session")
def app_client(app_url: str) -> Client:
    """A gradio_client for the served app."""
    from gradio_client import Client

    return Client(app_url, verbose=False)
