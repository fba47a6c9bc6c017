"""Bad uploads over HTTP: every upload path and text box of every tab gets the media corpus and odd
text through gradio_client, as a visitor's browser or script would send them.

Each request gets a result or one clear sentence, never a traceback or a server path; after the
run the server still answers a good request correctly and its memory has stayed bounded. A
representative subset runs by default; the whole corpus into every path is marked slow.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from corpus import audio_corpus, image_corpus
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

REPO = Path(__file__).resolve().parent.parent
SCENE = REPO / "examples" / "captioning" / "scene_00.png"
LEAKS = ("Traceback", 'File "', str(REPO), "/tmp/", "site-packages")
"""Text that must never reach a visitor: a traceback, or a path on the server."""
UNEXPECTED = ("Something went wrong on our side", "raised an exception")
"""What the app says when a failure was not foreseen: a bad upload must never get there."""
MEMORY_GROWTH_MB = 400.0
"""Resident memory the server may gain over the whole run, once its models are loaded: a few
hundred requests that each leaked a decoded upload would pass it."""


@dataclass(frozen=True)
class Goods:
    """Uploaded files that every endpoint accepts, for the inputs a test is not about."""

    image: dict
    audio: dict


@dataclass(frozen=True)
class Slot:
    """One upload input of one endpoint: the kind of file it takes and the call around it."""

    kind: str  # "image" or "audio"
    call: Callable[[Any, Goods], tuple]
    needs_sound: bool = False  # the task refuses a silent recording


@dataclass(frozen=True)
class Sample:
    """A file to upload and what it really is, whatever its name says."""

    path: Path
    decodes_as: str | None  # "image", "audio", or None when it is neither
    silent: bool = False


UPLOAD_SLOTS: dict[str, Slot] = {
    "/captioning.path": Slot("image", lambda f, g: (f, 3, "builtin")),
    "/vqa.path": Slot("image", lambda f, g: (f, "what is on the left?", "builtin")),
    "/localization.image_path": Slot("image", lambda f, g: (f, g.audio, "builtin")),
    "/localization.audio_path": Slot("audio", lambda f, g: (g.image, f, "builtin"), True),
    "/separate.image_path": Slot("image", lambda f, g: (f, g.audio, 4, 4, "builtin")),
    "/separate.audio_path": Slot("audio", lambda f, g: (g.image, f, 4, 4, "builtin"), True),
    "/voice_to_face.path": Slot("audio", lambda f, g: (f, "builtin", 0), True),
    "/sound.path": Slot("audio", lambda f, g: (f,)),
    "/search.picture": Slot("image", lambda f, g: ("picture", "", f, "", "", "builtin")),
}
"""Every file input of every registered tab, as ``api.parameter``."""

TEXT_SLOTS: dict[str, Callable[[str, Goods], tuple]] = {
    "/vqa.question": lambda text, g: (g.image, text, "builtin"),
    "/text_to_image.prompt": lambda text, g: (text, 2, 0, "builtin"),
    "/words.query": lambda text, g: (text, "", "builtin"),
    "/words.map_words": lambda text, g: ("dog", text, "builtin"),  # optional: may be empty
    "/search.text": lambda text, g: ("words", text, None, "", "", "builtin"),
    "/search.minus": lambda text, g: ("picture", "", g.image, text, "cat", "builtin"),
    "/search.plus": lambda text, g: ("picture", "", g.image, "dog", text, "builtin"),
}
"""Every free-text input; the text-to-image tab is driven only when the app registers it."""

ODD_TEXTS: dict[str, str] = {
    "empty": "",
    "blank": " \n\t \r\n ",
    "100 KB": "what is on the left " * 5_120,
    "control characters": "what\x00 is\x07 on the\x1b[31m left\u202e?\r\n",
    "Chinese": "左边是什么动物？",
    "Arabic": "ما الذي على اليسار؟",
    "emoji": "🐶🐱 where is the 🐕?",
}
REFUSED_TEXTS: dict[str, set[str]] = {
    "/vqa.question": {"empty", "blank", "100 KB", "Chinese", "Arabic"},
    "/text_to_image.prompt": {"empty", "blank", "100 KB"},
    "/words.query": set(ODD_TEXTS),  # an empty query or one with no English word asks nothing
    "/words.map_words": {"100 KB"},
    "/search.text": {"empty", "blank", "100 KB", "Chinese", "Arabic"},  # no English word
    "/search.minus": {"100 KB", "Chinese", "Arabic"},  # optional, but words it cannot read
    "/search.plus": {"100 KB", "Chinese", "Arabic"},
}
"""Texts that must get a sentence rather than a result (the built-in VQA reads English only)."""


def _write_tone(path: Path, seconds: float, rate: int) -> None:
    """A quiet tone written in blocks, so that an hour-long file never sits in memory."""
    block = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32) * 0.3
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        for _ in range(int(seconds)):
            handle.write(block)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    """The shared media corpus, judged by content, plus a sample rate below what we accept."""
    folder = tmp_path_factory.mktemp("http-corpus")
    found: dict[str, Sample] = {}
    for kind, corpus in (("image", image_corpus), ("audio", audio_corpus)):
        for name, upload in corpus(folder / kind).items():
            found[name] = Sample(upload.path, kind if upload.ok else None, name == "silence.wav")
    found["sound_named.png"] = Sample(found["sound_named.png"].path, "audio")  # a WAV inside
    found["picture_named.mp3"] = Sample(found["picture_named.mp3"].path, "image")  # a PNG inside
    _write_tone(folder / "rate_2k.wav", 1, 2_000)
    found["rate_2k.wav"] = Sample(folder / "rate_2k.wav", None)
    return found


@pytest.fixture(scope="module")
def hour_long(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """55 MB: under the upload limit, far over the audio limit (only its start is decoded)."""
    path = tmp_path_factory.mktemp("hour") / "hour_8k.wav"
    _write_tone(path, 3_600, 8_000)
    return Sample(path, "audio")


@pytest.fixture(scope="module")
def goods(samples: dict[str, Sample]) -> Goods:
    return Goods(handle_file(str(SCENE)), handle_file(str(samples["speech.wav"].path)))


def rss_mb() -> float:
    """Resident memory of the server: this process (the app runs in-process) and its children,
    the worker processes that analyse recordings."""
    children = [
        pid
        for listing in Path("/proc/self/task").glob("*/children")
        for pid in listing.read_text().split()
    ]
    return sum(_process_rss_mb(pid) for pid in ["self", *children])


def _process_rss_mb(pid: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # a child that ended meanwhile holds no memory
        return 0.0
    kilobytes = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")]
    return sum(kilobytes) / 1024  # a zombie child has no VmRSS line


def endpoints(client: Client) -> dict[str, dict]:
    return client.view_api(print_info=False, return_format="dict")["named_endpoints"]


@pytest.fixture(scope="module")
def baseline_mb(app_client: Client, goods: Goods) -> float:
    """Resident memory after one good request to every path has loaded the models it needs
    (an unknown word loads the sentence encoder too)."""
    for slot_key, slot in UPLOAD_SLOTS.items():
        good = goods.image if slot.kind == "image" else goods.audio
        app_client.predict(*slot.call(good, goods), api_name=slot_key.split(".")[0])
    served = endpoints(app_client)
    for slot_key, call in TEXT_SLOTS.items():
        if slot_key.split(".")[0] in served:
            ask(app_client, slot_key.split(".")[0], call("where is the puppy?", goods))
    return rss_mb()


def ask(client: Client, api: str, args: tuple) -> tuple[tuple | None, str | None]:
    """(outputs, None) for a result, (None, the sentence) for a refusal."""
    try:
        result = client.predict(*args, api_name=api)
    except AppError as error:
        return None, str(error)
    return (result if isinstance(result, tuple) else (result,)), None


def texts(value: Any) -> Iterator[str]:
    """Every string in an endpoint's outputs, except the files Gradio serves (pictures)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)
    elif isinstance(value, str) and not os.path.isfile(value):  # never raises
        yield value


def assert_clean(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{where}: {leak!r} reached the client: {text[:300]}"


def assert_one_sentence(message: str, where: str) -> None:
    assert_clean(message, where)
    assert "\n" not in message and 10 < len(message) < 300, f"{where}: {message!r}"
    assert message.endswith("."), f"{where}: {message!r}"
    assert not any(u in message for u in UNEXPECTED), f"{where}: unforeseen failure: {message}"


def send_upload(client: Client, goods: Goods, slot_key: str, name: str, sample: Sample) -> None:
    """Upload ``sample`` into one slot and check that it gets the answer its content deserves."""
    slot = UPLOAD_SLOTS[slot_key]
    api = slot_key.split(".")[0]
    result, message = ask(client, api, slot.call(handle_file(str(sample.path)), goods))
    where = f"{name} into {slot_key}"
    for text in texts(result):
        assert_clean(text, where)
    if message is not None:
        assert_one_sentence(message, where)
    usable = sample.decodes_as == slot.kind and not (sample.silent and slot.needs_sound)
    if usable:
        assert message is None, f"{where} was refused: {message}"
        return
    assert message is not None, f"{where} got a result instead of a sentence"
    assert "please" in message.lower(), f"{where}: says nothing of what to do: {message}"
    if slot.kind == "image" and sample.decodes_as == "audio":
        assert "recording" in message, f"{where}: does not say it is a recording: {message}"
    if slot.kind == "audio" and sample.decodes_as == "image":
        assert "picture" in message, f"{where}: does not say it is a picture: {message}"
    if sample.silent and slot.kind == "audio":
        assert "silent" in message, f"{where}: does not say it is silent: {message}"


def send_text(client: Client, goods: Goods, slot_key: str, label: str) -> None:
    if slot_key.split(".")[0] not in endpoints(client):
        pytest.skip(f"{slot_key} is not registered in this app")
    call = TEXT_SLOTS[slot_key]
    result, message = ask(client, slot_key.split(".")[0], call(ODD_TEXTS[label], goods))
    where = f"{label} text into {slot_key}"
    for text in texts(result):
        assert_clean(text, where)
    if message is not None:
        assert_one_sentence(message, where)
    if label in REFUSED_TEXTS[slot_key]:
        assert message is not None, f"{where} got a result instead of a sentence"


def test_every_upload_path_and_text_box_is_exercised(app_client: Client) -> None:
    """A tab that gains an input must gain it here too, or this run would miss it."""
    uploads, boxes = set(), set()
    for api, endpoint in endpoints(app_client).items():
        for parameter in endpoint["parameters"]:
            key = f"{api}.{parameter['parameter_name']}"
            if parameter["component"] in ("Image", "Audio", "File", "Video"):
                uploads.add(key)
            elif parameter["component"] == "Textbox":
                boxes.add(key)
    assert uploads == set(UPLOAD_SLOTS)
    assert boxes <= set(TEXT_SLOTS) and "/vqa.question" in boxes


FAST_UPLOADS: list[tuple[str, str]] = [
    ("/captioning.path", "png_named.jpg"),  # mislabelled: judged by content
    ("/captioning.path", "bomb.png"),  # decompression bomb
    ("/vqa.path", "truncated.jpg"),  # broken
    ("/vqa.path", "song.mp3"),  # a recording into a picture slot
    ("/localization.image_path", "empty.png"),
    ("/localization.audio_path", "silence.wav"),
    ("/localization.audio_path", "picture.tiff"),  # a picture into a recording slot
    ("/separate.image_path", "sound_named.png"),  # a recording named as a picture
    ("/separate.audio_path", "six_channel_192k.wav"),  # one second, six channels: separated
    ("/separate.audio_path", "text_named.wav"),
    ("/voice_to_face.path", "random_bytes.ogg"),
    ("/voice_to_face.path", "telephone_8k.wav"),  # odd sample rate
    ("/sound.path", "ten_minutes.wav"),  # long: trimmed, said
    ("/sound.path", "rate_2k.wav"),  # sample rate too low to use
    ("/search.picture", "random_bytes.png"),  # broken
    ("/search.picture", "phone_rotated.jpg"),  # a photo: searched, and said to be no scene
]


@pytest.mark.parametrize(("slot_key", "name"), FAST_UPLOADS)
def test_representative_uploads_get_a_result_or_one_sentence(
    app_client: Client,
    goods: Goods,
    samples: dict[str, Sample],
    baseline_mb: float,
    slot_key: str,
    name: str,
) -> None:
    send_upload(app_client, goods, slot_key, name, samples[name])


@pytest.mark.parametrize("label", list(ODD_TEXTS))
@pytest.mark.parametrize("slot_key", list(TEXT_SLOTS))
def test_odd_text_gets_a_result_or_one_sentence(
    app_client: Client, goods: Goods, baseline_mb: float, slot_key: str, label: str
) -> None:
    send_text(app_client, goods, slot_key, label)


def test_long_recording_is_trimmed_and_says_so(
    app_client: Client, samples: dict[str, Sample]
) -> None:
    *_, facts = app_client.predict(
        handle_file(str(samples["ten_minutes.wav"].path)), api_name="/sound"
    )
    assert "600 s long" in facts and "first 30 s" in facts


@pytest.mark.slow
@pytest.mark.parametrize("slot_key", list(UPLOAD_SLOTS))
def test_whole_corpus_into_every_upload_path(
    app_client: Client,
    goods: Goods,
    samples: dict[str, Sample],
    baseline_mb: float,
    hour_long: Sample,
    slot_key: str,
) -> None:
    """Every corpus file, and an hour-long recording, into one slot (one test per slot)."""
    every = {**samples, "hour_8k.wav": hour_long}
    failures = []
    for name, sample in every.items():
        try:
            send_upload(app_client, goods, slot_key, name, sample)
        except AssertionError as failure:  # go on: one run lists every file that fails
            failures.append(str(failure).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_server_still_answers_correctly_and_memory_stayed_bounded(
    app_client: Client, goods: Goods, baseline_mb: float
) -> None:
    """Runs last in this module: after every bad request above, a good one gets the right answer."""
    from multimodal_core.tasks import captioning

    headline, *_ = app_client.predict(handle_file(str(SCENE)), 3, "builtin", api_name="/captioning")
    assert headline == f"## {captioning.caption_image(SCENE, 3).caption}"
    *_, facts = app_client.predict(goods.audio, api_name="/sound")
    assert "2.00 s" in facts and "16000 Hz" in facts
    grown = rss_mb() - baseline_mb
    assert grown < MEMORY_GROWTH_MB, f"the server grew by {grown:.0f} MB"
