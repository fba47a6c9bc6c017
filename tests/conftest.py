"""Shared test set-up: slow tests run with --slow, and always in CI (CI=true)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gradio_client import Client


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


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


@pytest.fixture(scope="session")
def app_client(app_url: str) -> Client:
    """A gradio_client for the served app."""
    from gradio_client import Client

    return Client(app_url, verbose=False)
