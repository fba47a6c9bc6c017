"""The served app in a real browser: each tab used the way a person uses it.

Drives Debian's Chromium through Playwright (never a downloaded browser): every test opens the
page, uploads a file from ``examples/`` through the file input, presses the button and checks what
appears. Screenshots of each tab at desktop (1280 x 800) and phone width (390 x 844) go to the
git-ignored ``screenshots/`` folder for a person to look at; the README shows a few of them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from multimodal_core.registry import FAMILIES, grouped

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "screenshots"
EXAMPLES = REPO / "examples"
RESULT_TIMEOUT_MS = 120_000  # a tab's first request loads its model (librosa compiles, too)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"),
]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


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
    """Click a tab's group, then the tab (each named by the registry)."""
    family = next(f for f in FAMILIES if f.title == name)
    page.get_by_role("tab").first.wait_for(timeout=60_000)  # the tab bar has been drawn
    page.get_by_role("tab", name=family.group, exact=True).click()
    page.get_by_role("tab", name=name, exact=True).click()


def test_every_group_and_tab_is_labelled_on_screen(page) -> None:
    """The lecture's groups, then their tabs: all visible by name at both widths, none folded
    into an unlabelled "..." menu."""
    page.get_by_role("tab").first.wait_for(timeout=60_000)
    for group, families in grouped():
        group_tab = page.get_by_role("tab", name=group, exact=True)
        assert group_tab.is_visible(), group
        group_tab.click()
        for family in families:
            assert page.get_by_role("tab", name=family.title, exact=True).is_visible(), family
    assert page.get_by_label("More tabs").filter(visible=True).count() == 0


def upload(page, elem_id: str, path: Path) -> None:
    """Choose a file in a component's upload box, as the file picker does, and wait until the
    component shows it (a picture's preview, a recording's player)."""
    page.locator(f"#{elem_id} input[type=file]").first.set_input_files(str(path))
    preview = page.locator(f"#{elem_id} img, #{elem_id} audio").first
    preview.wait_for(state="attached", timeout=30_000)


def shoot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{page.viewport_name}.png"), full_page=True)


def test_sound_tab_draws_the_four_pictures(page, tmp_path: Path) -> None:
    rate = 16_000
    chirp = np.sin(2 * np.pi * np.cumsum(np.linspace(200, 3000, 2 * rate)) / rate)
    soundfile.write(tmp_path / "chirp.wav", 0.4 * chirp, rate)
    open_tab(page, "Sound")
    upload(page, "sound-input", tmp_path / "chirp.wav")
    page.locator("#sound-analyse").click()
    for name in ("waveform", "stft", "mel", "mfcc"):
        page.locator(f"#sound-{name} img").wait_for(timeout=RESULT_TIMEOUT_MS)
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


def caption_example_scene(page) -> str:
    """Caption an example scene in the Captioning tab; the caption, once its maps are shown."""
    open_tab(page, "Captioning")
    upload(page, "captioning-picture", EXAMPLES / "scene_20000001.png")
    page.locator("#captioning-run").click()
    page.locator("#captioning-attention img").wait_for(timeout=RESULT_TIMEOUT_MS)
    caption = page.locator("#captioning-caption").inner_text().strip()
    assert len(caption.split()) >= 3, caption
    return caption


def test_captioning_tab_shows_the_caption_the_beams_and_the_heat_maps(page) -> None:
    caption = caption_example_scene(page)
    rows = page.locator("#captioning-beams [role=row]")  # a header row, then one per beam
    assert rows.count() == 1 + 5  # the slider's default beam size
    assert caption in rows.nth(1).inner_text()  # the best beam is the caption
    shoot(page, "captioning")


def test_an_error_clears_the_previous_result(page, tmp_path: Path) -> None:
    """A caption, then a broken picture: the sentence appears and the old caption, beams and maps
    are gone, so nothing on screen belongs to another picture."""
    caption = caption_example_scene(page)
    broken = tmp_path / "broken.png"
    broken.write_bytes((EXAMPLES / "scene_20000001.png").read_bytes()[:200])
    page.locator("#captioning-picture button[aria-label='Remove Image']").first.click()
    page.locator("#captioning-picture input[type=file]").first.set_input_files(str(broken))
    page.locator("#captioning-run").click()
    page.get_by_text("damaged or incomplete", exact=False).first.wait_for(timeout=30_000)
    assert caption not in page.locator("#captioning-caption").inner_text()  # only an "Error" badge
    assert page.locator("#captioning-attention img").count() == 0
    assert page.locator("#captioning-beams [role=row]").count() <= 1  # the header at most


def test_vqa_tab_answers_a_typed_question(page) -> None:
    open_tab(page, "Visual QA")
    upload(page, "vqa-picture", EXAMPLES / "scene_20000001.png")
    page.locator("#vqa-question textarea").fill("how many pianos are there")
    page.locator("#vqa-run").click()
    page.locator("#vqa-attention img").wait_for(timeout=RESULT_TIMEOUT_MS)
    assert page.locator("#vqa-answer").inner_text().strip() == "three"  # examples.json's answer
    assert "three" in page.locator("#vqa-top").inner_text()
    shoot(page, "vqa")


def test_localization_tab_draws_the_heat_map(page) -> None:
    open_tab(page, "Sound localization")
    upload(page, "localization-picture", EXAMPLES / "localization" / "scene2.png")
    upload(page, "localization-recording", EXAMPLES / "localization" / "scene2_drum.wav")
    page.locator("#localization-run").click()
    page.locator("#localization-overlay img").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#localization-spectrogram img").wait_for(timeout=RESULT_TIMEOUT_MS)
    shoot(page, "localization")


def test_separation_tab_separates_the_thing_clicked_on(page) -> None:
    """Upload a picture and a mixture, click on one sounding thing in the shown picture: its
    point is filled in, and the map, both sounds and the three spectrograms arrive."""
    import json

    folder = EXAMPLES / "separation"
    entry = json.loads((folder / "examples.json").read_text())[0]
    x, y = entry["sources"][0]["point"]
    open_tab(page, "Separate sounds")
    upload(page, "separation-picture", folder / entry["image"])
    upload(page, "separation-recording", folder / entry["audio"])
    shown = page.locator("#separation-map img")
    shown.wait_for(state="attached", timeout=RESULT_TIMEOUT_MS)  # the picture to click on
    shown.scroll_into_view_if_needed()  # on a phone it lies below the controls, loaded lazily
    shown.wait_for(timeout=30_000)
    box = shown.bounding_box()
    side = 128  # the example scene's pixels
    shown.click(position={"x": (x + 0.5) * box["width"] / side,
                          "y": (y + 0.5) * box["height"] / side})  # fmt: skip
    for name in ("mixture", "mask", "spectrogram"):
        page.locator(f"#separation-{name} img").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#separation-separated audio").first.wait_for(state="attached", timeout=30_000)
    page.locator("#separation-rest audio").first.wait_for(state="attached", timeout=30_000)
    clicked = [int(page.locator(f"#separation-{axis} input").input_value()) for axis in "xy"]
    assert abs(clicked[0] - x) <= 1 and abs(clicked[1] - y) <= 1, clicked
    expect_text(page.locator("#separation-note"), f"x = {clicked[0]}, y = {clicked[1]}")
    assert "a sounding thing" in page.locator("#separation-note").inner_text()
    shoot(page, "separation")


def test_voice_to_face_tab_draws_a_face_and_the_traits(page) -> None:
    open_tab(page, "Voice to face")
    upload(page, "face-voice", EXAMPLES / "voice_20000000.wav")
    page.locator("#face-run").click()
    page.locator("#face-image img").wait_for(timeout=RESULT_TIMEOUT_MS)
    assert page.locator("#face-age").inner_text().strip() != ""
    assert page.locator("#face-gender").inner_text().strip() != ""
    shoot(page, "voice_to_face")


def test_text_to_image_tab_draws_a_gallery(page) -> None:
    open_tab(page, "Text to image")
    page.locator("#t2i-prompt textarea").fill("a dog on a blue background")
    page.locator("#t2i-run").click()
    images = page.locator("#t2i-gallery img")
    images.first.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert images.count() >= 4  # the slider's default number of images
    width = page.viewport_size["width"]
    for index in range(images.count()):  # none runs off a phone's screen
        box = images.nth(index).bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, (index, box)
    shoot(page, "text_to_image")


def test_status_tab_lists_device_and_versions(page) -> None:
    # Last, so that the models the other tests used are listed as loaded.
    open_tab(page, "Status")
    # First, in words, as the served hub (in this process) holds the built-in captioner.
    from multimodal_core import hub

    loaded = any(r.name == "captioning" and r.state == "loaded" for r in hub.status())
    words = page.locator("#status-in-words")
    expect_text(words, "Show, Attend and Tell")
    row = next(r for r in words.inner_text().splitlines() if "Show, Attend and Tell" in r)
    assert ("ready" if loaded else "loads on first use") in row, row
    page.get_by_text("Technical details", exact=False).filter(visible=True).first.click()
    table = page.locator("#status-models")
    table.get_by_role("gridcell", name="captioning", exact=True).first.wait_for(timeout=30_000)
    # the table is filled when the page loads: wait until that request has finished
    table.locator("[data-testid=status-tracker].hide").wait_for(state="attached", timeout=30_000)
    assert "device" in page.locator("body").inner_text()
    shoot(page, "status")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The served app (in this process) sees no Hub and an empty cache, and learns it anew.
    Request it before ``page``, so that the page loads after the probe was reset."""
    import huggingface_hub.constants

    from multimodal_core.tasks import availability

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    availability.reset()
    yield
    availability.reset()


def in_view(page, selector: str) -> bool:
    """Whether the element's top lies within the visible part of the page."""
    box = page.locator(selector).bounding_box()
    return box is not None and 0 <= box["y"] < page.viewport_size["height"]


def test_a_choice_that_cannot_load_says_so_before_anything_runs(offline, page) -> None:
    open_tab(page, "Captioning")
    blip = page.get_by_label("Pretrained: BLIP", exact=False).first
    label = page.locator("label", has=blip)
    expect_text(label, "needs internet")
    blip.check()
    page.get_by_text("cannot run here", exact=False).first.wait_for(timeout=10_000)
    open_tab(page, "Status")
    words = page.locator("#status-in-words")
    expect_text(words, "needs internet")
    assert "loads on first use" in words.inner_text() or "ready" in words.inner_text()
    # The technical table is folded below the words.
    assert not page.locator("#status-models").is_visible()
    shoot(page, "status")


def expect_text(locator, text: str, timeout_ms: int = 20_000) -> None:
    """Wait until ``locator`` shows ``text`` (labels and tables are filled after the page loads)."""
    from playwright.sync_api import expect

    expect(locator.first).to_contain_text(text, timeout=timeout_ms)


def test_compare_with_shows_both_answers_side_by_side_and_timed(offline, page) -> None:
    open_tab(page, "Captioning")
    upload(page, "captioning-picture", EXAMPLES / "scene_20000001.png")
    page.locator("#captioning-compare-with input").click()
    page.get_by_role("option", name="Pretrained: BLIP", exact=False).first.click()
    page.locator("#captioning-run").click()
    first, second = (
        page.locator("#captioning-compare-first"),
        page.locator("#captioning-compare-second"),
    )
    expect_text(second, "cannot be reached", RESULT_TIMEOUT_MS)
    caption = page.locator("#captioning-caption").inner_text().strip()
    assert caption and caption in first.inner_text()  # the same model, the same caption
    assert " s" in first.inner_text().split("\n")[0]  # its time, beside its name
    assert first.bounding_box()["y"] == pytest.approx(second.bounding_box()["y"], abs=2) or (
        page.viewport_name == "phone"  # a phone stacks the two columns
    )
    shoot(page, "captioning-compare")


def test_the_intro_is_one_line_and_the_result_comes_into_view(page) -> None:
    open_tab(page, "Captioning")
    details = page.get_by_text("Beam search", exact=False)
    assert details.filter(visible=True).count() == 0  # folded under "How it works"
    page.get_by_text("How it works").filter(visible=True).first.click()
    details.filter(visible=True).first.wait_for(timeout=5_000)
    page.get_by_text("How it works").filter(visible=True).first.click()
    upload(page, "captioning-picture", EXAMPLES / "scene_20000001.png")
    page.locator("#captioning-run").click()
    page.locator("#captioning-attention img").wait_for(timeout=RESULT_TIMEOUT_MS)
    page.wait_for_timeout(1_000)  # the scroll is animated
    assert in_view(page, "#captioning-caption")


@pytest.mark.parametrize(
    ("tab", "box", "wrong", "said"),
    [
        ("Sound", "sound-input", EXAMPLES / "scene_20000001.png", "is a picture, not a sound"),
        ("Captioning", "captioning-picture", EXAMPLES / "voice_20000000.wav", "not a picture"),
    ],
)
def test_a_file_of_the_wrong_kind_gets_a_sentence(page, tab, box, wrong, said) -> None:
    open_tab(page, tab)
    page.locator(f"#{box} input[type=file]").first.set_input_files(str(wrong))
    note = page.locator(".mmc-wrong-file").filter(visible=True)
    expect_text(note, said)
    assert wrong.name in note.first.inner_text()


def test_a_heat_map_stays_readable_on_a_red_scene(page) -> None:
    """The map once was red over the picture, and vanished on a red background: now the scene is
    dimmed to grey, the map is bright where it is strong and its strongest region outlined."""
    import io

    from PIL import Image

    open_tab(page, "Sound localization")
    upload(page, "localization-picture", EXAMPLES / "localization" / "scene4.png")
    upload(page, "localization-recording", EXAMPLES / "localization" / "scene4_helicopter.wav")
    page.locator("#localization-run").click()
    shown = page.locator("#localization-overlay img")
    shown.wait_for(timeout=RESULT_TIMEOUT_MS)
    picture = Image.open(io.BytesIO(page.request.get(shown.get_attribute("src")).body()))
    pixels = np.asarray(picture.convert("RGB")).astype(float)
    luma = pixels @ np.array([0.299, 0.587, 0.114])
    assert np.percentile(luma, 99) - np.percentile(luma, 5) > 100  # hot against cold, in light
    red = pixels[..., 0] - pixels[..., 1:].mean(-1)
    assert np.median(red) < 40, np.median(red)  # the red scene itself no longer fills the map
    assert (pixels.min(-1) > 235).mean() > 0.001  # the white outline around the strongest region
    shoot(page, "localization-red")


def test_show_and_tell_beside_show_attend_and_tell(page) -> None:
    """The no-attention model captions without a map, says why, and compares with the other."""
    open_tab(page, "Captioning")
    upload(page, "captioning-picture", EXAMPLES / "scene_20000001.png")
    page.get_by_label("Built-in: Show and Tell", exact=False).first.check()
    page.locator("#captioning-compare-with input").click()
    page.get_by_role("option", name="Built-in: Show, Attend and Tell", exact=False).first.click()
    page.locator("#captioning-run").click()
    second = page.locator("#captioning-compare-second")
    expect_text(second, "Show, Attend and Tell", RESULT_TIMEOUT_MS)
    expect_text(page.locator("#captioning-note"), "no attention")
    assert page.locator("#captioning-attention").is_hidden()
    first = page.locator("#captioning-compare-first").inner_text()
    assert first.startswith("Built-in: Show and Tell") and " s" in first.split("\n")[0]
    for column in (first, second.inner_text()):
        assert len(column.split("\n")[-1].split()) >= 3, column  # a caption under each name
    shoot(page, "captioning-show-and-tell")


def test_vqa_says_how_it_read_the_question_and_what_it_can_answer(page) -> None:
    open_tab(page, "Visual QA")
    upload(page, "vqa-picture", EXAMPLES / "scene_20000001.png")
    page.locator("#vqa-question textarea").fill("how many pianos are there")
    page.locator("#vqa-run").click()
    expect_text(page.locator("#vqa-notes"), "Read as:", RESULT_TIMEOUT_MS)
    assert "how many pianos are there" in page.locator("#vqa-notes").inner_text()
    page.get_by_text("Questions this model can answer").filter(visible=True).first.click()
    kinds = page.locator("#vqa-question-kinds")
    expect_text(kinds, "how many")
    page.locator("#vqa-question textarea").fill("blorp zindle quux")
    page.locator("#vqa-run").click()
    page.get_by_text("knows none of the words", exact=False).first.wait_for(timeout=30_000)
    # No answer to a question it could not read (Gradio marks the emptied answer "Error").
    assert page.locator("#vqa-answer").inner_text().strip() in ("", "Error")


def test_text_to_image_says_which_words_it_used_and_refuses_nonsense(page) -> None:
    open_tab(page, "Text to image")
    page.locator("#t2i-prompt textarea").fill("a puppy on a blue background")
    page.locator("#t2i-run").click()
    page.locator("#t2i-gallery img").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    expect_text(page.locator("p").filter(has_text="Words it used"), "blue")
    page.locator("#t2i-prompt textarea").fill("blorp zindle quux")
    page.locator("#t2i-run").click()
    page.get_by_text("could only draw blobs", exact=False).first.wait_for(timeout=30_000)
    assert page.locator("#t2i-gallery img").count() == 0


def test_vqa_compares_the_world_model_with_the_easy_vqa_model(page) -> None:
    open_tab(page, "Visual QA")
    upload(page, "vqa-picture", EXAMPLES / "scene_20000001.png")
    page.locator("#vqa-question textarea").fill("how many pianos are there")
    page.locator("#vqa-compare-with input").click()
    page.get_by_role("option", name="Built-in (easy-vqa shapes)", exact=True).click()
    page.locator("#vqa-run").click()
    second = page.locator("#vqa-compare-second")
    expect_text(second, "Built-in (easy-vqa shapes)", RESULT_TIMEOUT_MS)
    first = page.locator("#vqa-compare-first").inner_text()
    assert first.startswith("Built-in (synthetic world)") and "three" in first
    assert "Read as:" in second.inner_text()  # each built-in model read it its own way
    assert page.locator("#vqa-compare-first-picture img").count() == 1  # where each looked
    shoot(page, "vqa-compare")


def test_a_real_photo_is_called_out_of_the_world(page, tmp_path: Path) -> None:
    """scikit-image's cat: the built-in captioner still captions it, and says plainly that the
    photo is not from its world and where to go instead."""
    from PIL import Image
    from skimage import data

    photo = tmp_path / "cat.jpg"
    Image.fromarray(data.chelsea()).save(photo, quality=90)
    open_tab(page, "Captioning")
    upload(page, "captioning-picture", photo)
    page.locator("#captioning-run").click()
    note = page.locator("#captioning-note")
    expect_text(note, "does not look like the synthetic world", RESULT_TIMEOUT_MS)
    assert page.locator("#captioning-caption").inner_text().strip() != ""  # what it sees


def test_technical_terms_are_explained_where_they_appear(page) -> None:
    open_tab(page, "Captioning")
    beams = page.locator("#captioning-beams")
    expect_text(beams, "log prob: how likely the model finds the whole caption")
    open_tab(page, "Sound")
    page.get_by_text("How it works").filter(visible=True).first.click()
    shown = page.get_by_text("short-time Fourier transform", exact=False).filter(visible=True)
    shown.first.wait_for(timeout=5_000)


def test_words_tab_answers_an_analogy_and_maps_it(page) -> None:
    open_tab(page, "Words")
    page.locator("#words-query input, #words-query textarea").first.fill("king - man + woman")
    page.locator("#words-run").click()
    expect_text(page.locator("#words-heading"), "queen", RESULT_TIMEOUT_MS)
    page.locator("#words-map img").wait_for(timeout=RESULT_TIMEOUT_MS)
    shoot(page, "words")
    page.locator("#words-query input, #words-query textarea").first.fill("kingz")
    page.locator("#words-run").click()
    page.get_by_text("kingz", exact=False).filter(visible=True).first.wait_for(timeout=30_000)
    assert "queen" not in page.locator("#words-heading").inner_text()  # cleared, not stale


def test_search_tab_finds_pictures_by_words_and_by_picture_minus_plus(page) -> None:
    import json

    entries = json.loads((EXAMPLES / "matching" / "examples.json").read_text())
    open_tab(page, "Search")
    page.locator("#search-text textarea, #search-text input").first.fill(entries[0]["caption"])
    page.locator("#search-run").click()
    expect_text(page.locator("#search-heading"), entries[0]["caption"], RESULT_TIMEOUT_MS)
    page.locator("#search-results img").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("#search-map img").wait_for(timeout=RESULT_TIMEOUT_MS)
    expect_text(page.locator("#search-table"), entries[0]["file"])
    shoot(page, "search")
    page.get_by_label("picture", exact=True).check()
    upload(page, "search-picture", EXAMPLES / "matching" / entries[0]["file"])
    page.locator("#search-minus textarea, #search-minus input").first.fill(entries[0]["classes"][0])
    page.locator("#search-plus textarea, #search-plus input").first.fill("cat")
    page.locator("#search-run").click()
    expect_text(page.locator("#search-heading"), "+ cat", RESULT_TIMEOUT_MS)
    expect_text(page.locator("#search-notes"), "tags")
    page.locator("#search-tag").click()
    expect_text(page.locator("#search-tags"), entries[0]["classes"][0], RESULT_TIMEOUT_MS)
    page.get_by_text("Classify the picture among your labels").click()
    labels = page.locator("#search-labels textarea, #search-labels input").first
    labels.fill(f"a {entries[0]['classes'][0]}, a rocket")
    page.locator("#search-classify").click()
    expect_text(page.locator("#search-probabilities"), entries[0]["classes"][0], RESULT_TIMEOUT_MS)


def test_search_tab_searches_the_visitors_own_pictures_and_names_a_broken_one(
    page, tmp_path: Path
) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    scenes = sorted((EXAMPLES / "matching").glob("scene_*.png"))[:3]
    open_tab(page, "Search")
    page.get_by_text("Search your own pictures").click()
    files = [str(p) for p in scenes] + [str(tmp_path / "broken.png")]
    page.locator("#search-files input[type=file]").first.set_input_files(files)
    expect_text(page.locator("#search-files"), "broken", 30_000)  # shown as "broken .png"
    page.locator("#search-use-uploads").click()
    expect_text(page.locator("#search-gallery-source"), "your 3 pictures", RESULT_TIMEOUT_MS)
    expect_text(page.locator("#search-gallery-source"), "Skipped broken.png")
    page.locator("#search-text textarea, #search-text input").first.fill("a dog")
    page.locator("#search-run").click()
    expect_text(page.locator("#search-heading"), "in your 3 pictures", RESULT_TIMEOUT_MS)


def test_search_compares_the_built_in_space_with_clip_offline(offline, page) -> None:
    open_tab(page, "Search")
    page.locator("#search-text textarea, #search-text input").first.fill("two cats")
    page.locator("#search-compare-with input").click()
    page.get_by_role("option", name="CLIP", exact=False).first.click()
    page.locator("#search-run").click()
    first, second = page.locator("#search-compare-first"), page.locator("#search-compare-second")
    expect_text(second, "cannot be reached", RESULT_TIMEOUT_MS)
    best = page.locator("#search-table tbody tr").first.inner_text().split("\t")[-1].strip()
    expect_text(first, best)  # the same model, the same best picture
    page.locator("#search-compare-first-picture img").wait_for(timeout=RESULT_TIMEOUT_MS)
    assert " s" in first.inner_text().split("\n")[0]  # its time, beside its name
    shoot(page, "search-compare")
