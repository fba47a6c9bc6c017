"""Faults: a built-in checkpoint that is missing or corrupt, or a pretrained model that cannot be
downloaded, breaks only its own tab (and the tabs whose model reads it: separation reads the
localization model's regions), with one sentence there; the other tabs and the Status tab keep
working, and the status says what failed.

Driven over HTTP against the app served in this process, with the settings pointed at a damaged
copy of checkpoints/ in a temporary folder (settings are cached: ``get_settings.cache_clear()``;
loaded models are kept by the hub: unloaded so that the next request reads the damaged copy).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from multimodal_core import hub
from multimodal_core.backends import shared
from multimodal_core.registry import FAMILIES
from multimodal_core.settings import get_settings
from multimodal_core.tasks import (
    captioning,
    localization,
    matching,
    separation,
    text_to_image,
    voice_to_face,
    vqa,
    words,
)

REPO = Path(__file__).resolve().parent.parent
SCENE = REPO / "examples" / "captioning" / "scene_00.png"
LEAKS = ("Traceback", 'File "', str(REPO), "/tmp/", "site-packages")
OFFLINE_SECONDS = 30.0  # a pretrained model with no network must fail at once, never hang


@dataclass(frozen=True)
class Tab:
    """A tab with a built-in model: its checkpoint folder, hub name and a good request."""

    folder: str
    model: str
    word: str  # how its sentence names the model
    api: str
    args: Callable[[dict, dict], tuple]  # (picture, recording) -> the endpoint's arguments
    reads: tuple[str, ...] = ()  # the other tabs whose checkpoints its model also needs


TABS: dict[str, Tab] = {
    "words": Tab(
        "words", words.BUILTIN, "skip-gram", "/words",
        lambda i, a: ("king - man + woman", "", "builtin"),
    ),
    "matching": Tab(
        "matching", matching.BUILTIN, "joint image-text", "/search",
        lambda i, a: ("words", "a dog on a blue background", None, "", "", "builtin"),
        reads=("words",),
    ),
    "captioning": Tab(
        "captioning", captioning.BUILTIN, "captioning", "/captioning",
        lambda i, a: (i, 3, "builtin"),
    ),
    "vqa": Tab("vqa_world", vqa.BUILTIN, "VQA", "/vqa", lambda i, a: (i, "what is it?", "builtin")),
    "localization": Tab(
        "localization", localization.BUILTIN, "localization", "/localization",
        lambda i, a: (i, a, "builtin"),
    ),
    "separation": Tab(
        "separation", separation.BUILTIN, "separation", "/separate",
        lambda i, a: (i, a, 40, 60, "builtin"), reads=("localization",),
    ),
    "voice_to_face": Tab(
        "voice_to_face", voice_to_face.BUILTIN, "voice-to-face", "/voice_to_face",
        lambda i, a: (a, "builtin", 0),
    ),
    "text_to_image": Tab(
        "text_to_image", text_to_image.BUILTIN, "text-to-image", "/text_to_image",
        lambda i, a: ("a dog on a blue background", 1, 0, "builtin"),
    ),
}  # fmt: skip
"""Tabs with a built-in model; one that the app does not register (yet) is skipped."""


def test_every_family_with_a_built_in_model_has_its_fault_cases() -> None:
    measured = {family.name for family in FAMILIES if family.evaluated}
    assert set(TABS) == measured
    assert set(PRETRAINED) == measured
    assert {tab for tab, _ in FAST} == measured


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "missing weights": lambda folder: (folder / "model.safetensors").unlink(),
    "truncated weights": lambda folder: _truncate(folder / "model.safetensors"),
    "garbage weights": lambda folder: _garbage(folder / "model.safetensors"),
    "broken config": lambda folder: (folder / "config.json").write_text('{"vocab_size": 3'),
    "missing config": lambda folder: (folder / "config.json").unlink(),
}
FAST = [
    ("captioning", "truncated weights"),
    ("vqa", "missing weights"),
    ("localization", "broken config"),
    ("voice_to_face", "garbage weights"),
    ("captioning", "missing config"),
    ("text_to_image", "truncated weights"),
    ("words", "broken config"),
    ("separation", "garbage weights"),
    ("matching", "truncated weights"),
]
"""Every tab and every kind of damage once; the slow run tries every pair."""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """A world scene and a two-second tone, as uploads."""
    wav = tmp_path_factory.mktemp("faults") / "tone.wav"
    rate = 16_000
    soundfile.write(wav, 0.3 * np.sin(2 * np.pi * 220 * np.arange(2 * rate) / rate), rate)
    return handle_file(str(SCENE)), handle_file(str(wav))


@pytest.fixture(scope="module")
def live(app_client: Client) -> list[str]:
    """The tabs of :data:`TABS` that the app serves and whose checkpoint is in checkpoints/."""
    registered = app_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    folder = get_settings().checkpoints_dir
    return [
        name
        for name, tab in TABS.items()
        if tab.api in registered and (folder / tab.folder / "model.safetensors").is_file()
    ]


def unload(names: list[str]) -> None:
    default = hub.default_hub()
    for name in names:
        default.unload(name)


@pytest.fixture()
def damage(tmp_path: Path) -> Iterator[Callable[[str, str], None]]:
    """``damage(tab, kind)``: serve every built-in model from a copy of checkpoints/ in which
    that tab's checkpoint has that damage; afterwards the real folder again."""
    copy = tmp_path / "checkpoints"
    shutil.copytree(get_settings().checkpoints_dir, copy)
    builtins = [tab.model for tab in TABS.values()]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMC_CHECKPOINTS_DIR", str(copy))
        get_settings.cache_clear()
        unload(builtins)

        def apply(tab: str, kind: str) -> None:
            DAMAGES[kind](copy / TABS[tab].folder)

        yield apply
    get_settings.cache_clear()
    unload(builtins)


def ask(client: Client, api: str, args: tuple) -> str | None:
    """None for a result, the sentence for a refusal."""
    try:
        client.predict(*args, api_name=api)
    except AppError as error:
        return str(error)
    return None


def assert_one_sentence(message: str) -> None:
    for leak in LEAKS:
        assert leak not in message, f"{leak!r} reached the client: {message}"
    assert "\n" not in message and message.endswith("."), message
    assert len(message) < 300, message


def status_rows(client: Client) -> dict[str, dict]:
    """The Status tab's table over HTTP, one dict per model."""
    _, table, _ = client.predict(api_name="/status")  # the words, the table, the facts
    return {row[0]: dict(zip(table["headers"], row, strict=True)) for row in table["data"]}


def readers(broken: str) -> list[str]:
    """The tabs whose model reads the ``broken`` tab's checkpoint too: they fail with it."""
    return [name for name, tab in TABS.items() if broken in tab.reads]


def check_fault(client: Client, files: tuple[dict, dict], broken: str, others: list[str]) -> None:
    tab = TABS[broken]
    for attempt in range(2):  # a failed load is tried again on the next request, and fails again
        message = ask(client, tab.api, tab.args(*files))
        assert message is not None, f"{broken} answered from a damaged checkpoint ({attempt})"
        assert_one_sentence(message)
        assert "built-in" in message and tab.word in message, message
    for reader in readers(broken):
        message = ask(client, TABS[reader].api, TABS[reader].args(*files))
        assert message is not None, f"{reader} answered without the {broken} checkpoint"
        assert_one_sentence(message)
    for other in others:
        assert ask(client, TABS[other].api, TABS[other].args(*files)) is None, other
    *_, facts = client.predict(files[1], api_name="/sound")  # a tab without a model
    assert "2.00 s" in facts
    rows = status_rows(client)
    assert rows[tab.model]["state"] == "failed"
    assert tab.word in rows[tab.model]["error"] and str(REPO) not in rows[tab.model]["error"]
    assert all(rows[TABS[other].model]["state"] == "loaded" for other in others)


def serving(live: list[str], broken: str) -> None:
    if broken not in live:
        pytest.skip(f"the app does not serve the {broken} tab with a checkpoint")


@pytest.mark.parametrize(("broken", "kind"), FAST)
def test_damaged_checkpoint_breaks_only_its_own_tab(
    app_client: Client, files: tuple[dict, dict], live: list[str], damage, broken: str, kind: str
) -> None:
    serving(live, broken)
    damage(broken, kind)
    after = live[live.index(broken) + 1 :] + live[: live.index(broken)]
    following = next(other for other in after if other not in readers(broken))
    check_fault(app_client, files, broken, [following])


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(DAMAGES))
@pytest.mark.parametrize("broken", list(TABS))
def test_every_damage_of_every_checkpoint_leaves_every_other_tab_working(
    app_client: Client, files: tuple[dict, dict], live: list[str], damage, broken: str, kind: str
) -> None:
    serving(live, broken)
    damage(broken, kind)
    others = [other for other in live if other != broken and other not in readers(broken)]
    check_fault(app_client, files, broken, others)


def test_whole_checkpoints_folder_missing_leaves_status_and_sound_working(
    app_client: Client, files: tuple[dict, dict], live: list[str], tmp_path: Path
) -> None:
    builtins = [TABS[name].model for name in live]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path / "nowhere"))
        get_settings.cache_clear()
        unload(builtins)
        try:
            for tab in (TABS[name] for name in live):
                message = ask(app_client, tab.api, tab.args(*files))
                assert message is not None and tab.word in message, message
                assert_one_sentence(message)
            assert ask(app_client, "/sound", (files[1],)) is None
            rows = status_rows(app_client)
            assert all(rows[model]["state"] == "failed" for model in builtins)
        finally:
            get_settings.cache_clear()
            unload(builtins)


PRETRAINED: dict[str, tuple[str, Callable[[dict, dict], tuple], str] | None] = {
    "words": None,  # its other choice, MiniLM, is shipped by a pip package: nothing downloads
    "matching": ("/search", lambda i, a: ("words", "a dog", None, "", "", "clip"), matching.CLIP),
    "captioning": ("/captioning", lambda i, a: (i, 3, "blip"), captioning.BLIP),
    "vqa": ("/vqa", lambda i, a: (i, "what is it?", "vilt"), vqa.VILT),
    "localization": ("/localization", lambda i, a: (i, a, "zero-shot"), shared.CLAP.name),
    "separation": None,  # no standard pretrained separator exists: the built-in one only
    "voice_to_face": ("/voice_to_face", lambda i, a: (a, "pretrained", 0), shared.CLAP.name),
    "text_to_image": ("/text_to_image", lambda i, a: ("a dog", 1, 0, "diffusion"), "diffusion"),
}
"""Per tab: its pretrained choice, and the model whose download fails first; None for a tab
whose every choice works offline."""


def test_pretrained_models_offline_fail_fast_with_a_sentence_and_builtins_keep_working(
    app_client: Client, files: tuple[dict, dict], live: list[str], tmp_path: Path
) -> None:
    registered = app_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    offline = {tab: entry for tab, entry in PRETRAINED.items() if entry and entry[0] in registered}
    models = sorted({model for _, _, model in offline.values()})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
        unload(models)
        for tab, (api, args, _) in offline.items():
            start = time.perf_counter()
            message = ask(app_client, api, args(*files))
            assert time.perf_counter() - start < OFFLINE_SECONDS, tab
            assert message is not None, f"{tab} answered with no network"
            assert_one_sentence(message)
            assert "built-in" in message, f"{tab}: does not point to the built-in model: {message}"
        for tab in (TABS[name] for name in live):
            assert ask(app_client, tab.api, tab.args(*files)) is None, tab.api
        rows = status_rows(app_client)
    assert all(rows[model]["state"] == "failed" and rows[model]["error"] for model in models)


def test_shared_sentence_encoder_missing_degrades_vqa_to_a_note(
    app_client: Client, files: tuple[dict, dict], tmp_path: Path
) -> None:
    """VQA still answers when the encoder that maps unknown words cannot load; the note says
    the word was left out, and never where the server looked for the encoder."""
    models = [vqa.BUILTIN, shared.SENTENCE_ENCODER.name]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMC_SENTENCE_ENCODER", str(tmp_path / "no-encoder"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        get_settings.cache_clear()
        unload(models)
        try:
            answer, _, _, notes = app_client.predict(
                files[0], "where is the puppy?", "builtin", api_name="/vqa"
            )
            rows = status_rows(app_client)
        finally:
            get_settings.cache_clear()
            unload(models)
    assert answer.startswith("## ") and "left out (puppy)" in notes
    for leak in LEAKS:
        assert leak not in notes, notes
    assert rows[shared.SENTENCE_ENCODER.name]["state"] == "failed"
