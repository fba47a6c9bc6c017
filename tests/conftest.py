"""Shared test set-up: slow tests run with --slow, and always in CI (CI=true)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow") or os.environ.get("CI", "").lower() in ("1", "true"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (CI always runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
