"""The Search task on the shipped joint space and its world gallery: a caption finds a picture
with that content, "picture - X + Y" finds Y without X, tags name the objects; bad input gets
one sentence, and a broken file in an uploaded gallery is skipped with a note."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from corpus import image_corpus
from PIL import Image

from multimodal_core import hub
from multimodal_core.cli import main as cli_main
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.settings import get_settings
from multimodal_core.tasks import matching

REPO = Path(__file__).resolve().parent.parent
GALLERY = REPO / "examples" / "matching"
ENTRIES: list[dict] = json.loads((GALLERY / "examples.json").read_text())

pytestmark = pytest.mark.skipif(
    not (REPO / "checkpoints" / "matching" / "model.safetensors").is_file(),
    reason="the shipped joint space is not in checkpoints/",
)


def _content(entry: dict) -> tuple:
    return tuple(sorted(entry["classes"])), entry["background"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return image_corpus(tmp_path_factory.mktemp("matching-corpus"))


def test_a_world_caption_finds_a_picture_with_that_content() -> None:
    found = 0
    probes = ENTRIES[:20]
    for entry in probes:
        result = matching.search_text(entry["caption"], picture=False)
        best = ENTRIES[result.hits[0].index]
        found += _content(best) == _content(entry)
        assert [h.score for h in result.hits] == sorted(
            (h.score for h in result.hits), reverse=True
        )
        assert len(result.hits) == matching.TOP_K and result.in_world is None
    assert found >= 0.8 * len(probes), f"{found} of {len(probes)} captions found their content"


def test_the_result_has_pictures_a_map_and_json() -> None:
    result = matching.search_text(ENTRIES[3]["caption"], top_k=5)
    assert len(result.pictures) == 5 and result.map_picture is not None
    assert result.map_picture.dtype == np.uint8 and result.map_picture.shape[2] == 3
    payload = json.loads(json.dumps(result.to_dict()))
    assert [r["rank"] for r in payload["results"]] == [1, 2, 3, 4, 5]
    assert payload["results"][0]["caption"] == result.hits[0].caption


def _arithmetic_case() -> tuple[int, str, str]:
    """A gallery scene with X, and a Y it lacks, such that another scene has Y, lacks X and
    keeps the background: the first such in the gallery."""
    for i, entry in enumerate(ENTRIES):
        for minus in entry["classes"]:
            for other in ENTRIES:
                if other is entry or other["background"] != entry["background"]:
                    continue
                pluses = [c for c in other["classes"] if c not in entry["classes"]]
                if pluses and minus not in other["classes"]:
                    return i, minus, pluses[0]
    raise AssertionError("the gallery has no arithmetic question")


def test_picture_minus_x_plus_y_finds_y_without_x() -> None:
    index, minus, plus = _arithmetic_case()
    path = GALLERY / ENTRIES[index]["file"]
    result = matching.search_picture(path, minus, plus, picture=False)
    assert result.by == "arithmetic" and result.query == f"this picture - {minus} + {plus}"
    best = next(ENTRIES[h.index] for h in result.hits if h.index != index)
    assert plus in best["classes"] and minus not in best["classes"]
    alone = matching.search_picture(path, picture=False)
    assert alone.by == "picture" and alone.hits[0].index == index  # itself, at cosine 1
    assert alone.hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert alone.in_world is True and not alone.notes


def test_tags_name_the_objects() -> None:
    hits = 0
    for entry in ENTRIES[:20]:
        tags = matching.tag_picture(GALLERY / entry["file"])
        hits += {t for t, _ in tags.tags} == set(entry["classes"])
        assert tags.background is not None and tags.in_world is True
    assert hits >= 15


def test_an_uploaded_gallery_skips_a_broken_file_and_keeps_the_rest(
    tmp_path: Path, corpus: dict
) -> None:
    files = [GALLERY / e["file"] for e in ENTRIES[:4]] + [corpus["truncated.jpg"].path]
    files.append(corpus["text_named.jpg"].path)
    gallery = matching.load_gallery(files)
    assert len(gallery) == 4 and gallery.source == "uploads"
    assert len(gallery.notes) == 2 and "truncated.jpg" in gallery.notes[0]
    result = matching.search_text(ENTRIES[2]["caption"], gallery, picture=False)
    assert result.hits[0].name == ENTRIES[2]["file"] and len(result.hits) == 4
    assert any("truncated.jpg" in n for n in result.notes)
    assert result.gallery == "your 4 pictures"


def test_odd_pictures_are_searched_or_refused_with_one_sentence(corpus: dict) -> None:
    for name, upload in corpus.items():
        if upload.ok:
            result = matching.search_picture(upload.path, picture=False)
            assert len(result.hits) == matching.TOP_K, name
        else:
            with pytest.raises(InputError) as error:
                matching.search_picture(upload.path, picture=False)
            message = str(error.value)
            assert message.endswith(".") and "\n" not in message and "Traceback" not in message


def test_a_picture_from_outside_the_world_is_said_to_be(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    Image.fromarray((np.random.default_rng(0).random((80, 120, 3)) * 255).astype(np.uint8)).save(
        path
    )
    result = matching.search_picture(path, picture=False)
    assert result.in_world is False and 0.0 <= result.in_world_score < 1.0
    assert result.notes[0] == matching.out_of_world_note()
    assert matching.tag_picture(path).notes == [matching.out_of_world_note("tagging")]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Please type the query"),
        (" \n\t ", "Please type the query"),
        ("dog " * 10_000, "characters long"),
        ("左边是什么", "Please type the query"),
        ("xqzzyv blorptz", "Not among"),
        ("a dog " * 30, "at most"),
    ],
)
def test_bad_text_gets_one_sentence(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as error:
        matching.search_text(text)
    assert "\n" not in str(error.value)


def test_a_partly_unknown_query_is_searched_with_a_note() -> None:
    result = matching.search_text("a dog qqqzx on a blue background", picture=False)
    assert result.query == "a dog on a blue background"
    assert "“qqqzx”" in result.notes[0] and "Left out" in result.notes[0]


def test_bad_galleries_and_choices_get_one_sentence(tmp_path: Path, corpus: dict) -> None:
    with pytest.raises(InputError, match="at least one picture"):
        matching.load_gallery([])
    with pytest.raises(InputError, match="at most 100"):
        matching.load_gallery([GALLERY / ENTRIES[0]["file"]] * 300)
    broken = [corpus[n].path for n in ("truncated.jpg", "random_bytes.png", "empty.png")]
    with pytest.raises(InputError, match="None of the 3 files"):
        matching.load_gallery(broken)
    with pytest.raises(InputError, match="Unknown model"):
        matching.search_text("a dog", model="nope")
    with pytest.raises(InputError, match="between 1 and"):
        matching.search_text("a dog", top_k=0)
    with pytest.raises(InputError, match="Please upload a picture"):
        matching.search_picture(None)
    with pytest.raises(InputError, match="words to add"):
        matching.search_picture(GALLERY / ENTRIES[0]["file"], "", "qqqzx")
    with pytest.raises(InputError, match="no folder"):
        matching.gallery_from_folder(tmp_path / "missing")


@pytest.fixture()
def no_gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MMC_EXAMPLES_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("MMC_EXAMPLES_DIR")
    get_settings.cache_clear()


def test_a_missing_world_gallery_says_how_to_write_it(no_gallery: None) -> None:
    with pytest.raises(ModelUnavailableError, match="--write-examples"):
        matching.search_text("a dog")


def test_a_missing_checkpoint_says_how_to_retrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    hub.default_hub().unload(matching.BUILTIN)
    try:
        with pytest.raises(ModelUnavailableError, match=r"train\.matching"):
            matching.search_text("a dog")
    finally:
        monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
        get_settings.cache_clear()
        hub.default_hub().unload(matching.BUILTIN)


def test_the_command_prints_one_json_object_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "gallery"
    folder.mkdir()
    for entry in ENTRIES[:3]:
        Image.open(GALLERY / entry["file"]).save(folder / entry["file"])
    (folder / "notes.txt").write_text("not a picture")
    code = cli_main(["search", "--text", ENTRIES[1]["caption"], "--gallery", str(folder),
                     "--json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["results"][0]["name"] == ENTRIES[1]["file"]
    assert any("notes.txt" in n for n in payload["notes"])
    code = cli_main(["search", "--image", str(GALLERY / ENTRIES[0]["file"]), "--minus",
                     ENTRIES[0]["classes"][0], "--plus", "cat", "--json"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["by"] == "arithmetic"
    assert cli_main(["search", "--tags", str(GALLERY / ENTRIES[0]["file"]), "--json"]) == 0
    tags = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {t["tag"] for t in tags["tags"]} >= {ENTRIES[0]["classes"][0]}
    assert cli_main(["search", "--text", ""]) == 2
    assert "Please type" in capsys.readouterr().err


def test_a_strip_shows_the_results_side_by_side() -> None:
    result = matching.search_text(ENTRIES[0]["caption"], top_k=3)
    sheet = matching.strip(result.pictures, side=96, gap=4)
    assert sheet.shape == (96, 3 * 96 + 2 * 4, 3) and sheet.dtype == np.uint8
    first = Image.open(GALLERY / result.hits[0].name).convert("RGB")
    enlarged = np.asarray(first.resize((96, 96), Image.Resampling.NEAREST))
    assert np.array_equal(sheet[:, :96], enlarged)  # a 64 px scene fills its square, crisp
    assert (sheet[:, 96:100] == 255).all()  # the gap
