"""The served app in a real browser: each tab used the way a person uses it.

Drives Debian's Chromium through Playwright (never a downloaded browser). Screenshots of each
tab at desktop and phone width go to the git-ignored ``screenshots/`` folder for a person to
look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"),
]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    import app

    demo = app.build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield instance
        instance.close()


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser, app_url: str) -> Iterator[object]:
    page = browser.new_page(viewport=VIEWPORTS[request.param])
    page.goto(app_url, wait_until="load")
    page.viewport_name = request.param
    yield page
    page.close()


def open_tab(page, name: str) -> None:
    """Click a tab, through the "More tabs" menu where a narrow screen folds it away."""
    page.get_by_role("tab").first.wait_for(timeout=60_000)  # the tab bar has been drawn
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.get_by_label("More tabs").click()
    page.locator(".overflow-dropdown").get_by_role("button", name=name, exact=True).click()


def shoot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{page.viewport_name}.png"), full_page=True)


def test_sound_tab_draws_the_four_pictures(page, tmp_path: Path) -> None:
    rate = 16_000
    chirp = np.sin(2 * np.pi * np.cumsum(np.linspace(200, 3000, 2 * rate)) / rate)
    soundfile.write(tmp_path / "chirp.wav", 0.4 * chirp, rate)
    open_tab(page, "Sound")
    page.locator("#sound-input input[type=file]").set_input_files(str(tmp_path / "chirp.wav"))
    page.locator("#sound-analyse").click()
    for name in ("waveform", "stft", "mel", "mfcc"):
        page.locator(f"#sound-{name} img").wait_for(timeout=60_000)
    assert "2.00 s" in page.locator("#sound-facts").inner_text()
    shoot(page, "sound")


def test_bad_upload_shows_the_sentence_in_the_page(page, tmp_path: Path) -> None:
    (tmp_path / "letter.wav").write_text("not a recording\n" * 50)
    open_tab(page, "Sound")
    page.locator("#sound-input input[type=file]").set_input_files(str(tmp_path / "letter.wav"))
    page.locator("#sound-analyse").click()
    toast = page.get_by_text("not a sound recording", exact=False)
    toast.first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()


def test_status_tab_lists_device_and_versions(page) -> None:
    open_tab(page, "Status")
    page.get_by_text("torch", exact=False).first.wait_for(timeout=30_000)
    assert "device" in page.locator("body").inner_text()
    shoot(page, "status")
